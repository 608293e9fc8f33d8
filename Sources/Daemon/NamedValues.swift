import SwiftProtobuf

/// Values by name, for tools that plot fields by path (Foxglove:
/// `/sensors/named.pole.angle`): a protobuf message type built at start from
/// the names it carries (robot channels, populations, probed neurons), where
/// each dot opens a nested message. The wire messages carry values in the
/// robot's order only; these name them without a lookup in the robot file.
///
/// Names become field names: characters other than letters, digits and `_`
/// become `_`, a leading digit gets a `_` before it, and a name that clashes
/// with another after that gets `_2`, `_3`, … (``fieldPaths`` says which).
public struct NamedValues: Sendable {
    /// `float` values, or counts (`fixed32`).
    public enum Kind: Sendable { case float, count }

    /// The full name of the top message, e.g. `spikeloop.robot.cartpole.Sensors`.
    public let messageName: String
    /// A FileDescriptorSet holding the message (the Schema record's data).
    public let descriptorSet: [UInt8]
    /// Per value, in the order given: its field path (`pole.angle`).
    public let fieldPaths: [String]
    private let template: [UInt8]
    /// Per value: where its 4 bytes sit in `template`.
    private let offsets: [Int]

    /// A message of nested groups; leaves are the values' indices.
    private final class Group: @unchecked Sendable {
        var typeName: String
        var fields: [(name: String, number: Int, child: Child)] = []
        init(typeName: String) { self.typeName = typeName }
    }

    private enum Child { case value(Int), group(Group) }

    /// `package`: protobuf package (`spikeloop.robot.cartpole`); `message`:
    /// the top message's name (`Sensors`); `names`: dotted names, unique.
    public init(package: String, message: String, names: [String], kind: Kind) {
        let root = Group(typeName: message)
        var paths: [String] = []
        for (index, name) in names.enumerated() {
            var group = root
            var path: [String] = []
            let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            for (depth, part) in parts.enumerated() {
                let last = depth == parts.count - 1
                let wanted = Self.identifier(part)
                if !last, let existing = group.fields.first(where: { $0.name == wanted }), case .group(let g) = existing.child {
                    path.append(wanted)
                    group = g
                    continue
                }
                var field = wanted
                var n = 2
                while group.fields.contains(where: { $0.name == field }) { field = "\(wanted)_\(n)"; n += 1 }
                path.append(field)
                if last {
                    group.fields.append((field, group.fields.count + 1, .value(index)))
                } else {
                    let g = Group(typeName: Self.typeName(field))
                    group.fields.append((field, group.fields.count + 1, .group(g)))
                    group = g
                }
            }
            paths.append(path.joined(separator: "."))
        }
        let (template, placed) = Self.template(root)
        self.template = template
        var offsets = Array(repeating: 0, count: names.count)
        for p in placed { offsets[p.index] = p.at }
        self.offsets = offsets
        fieldPaths = paths
        messageName = "\(package).\(message)"

        var file = Google_Protobuf_FileDescriptorProto()
        file.name = "\(package.replacingOccurrences(of: ".", with: "/"))/\(message).proto"
        file.package = package
        file.syntax = "proto3"
        file.messageType = [Self.describe(root, scope: ".\(package)", kind: kind)]
        var set = Google_Protobuf_FileDescriptorSet()
        set.file = [file]
        descriptorSet = (try? set.serializedBytes()) ?? []
    }

    private static func describe(_ group: Group, scope: String, kind: Kind) -> Google_Protobuf_DescriptorProto {
        var m = Google_Protobuf_DescriptorProto()
        m.name = group.typeName
        let here = "\(scope).\(group.typeName)"
        for (name, number, child) in group.fields {
            var f = Google_Protobuf_FieldDescriptorProto()
            f.name = name
            f.jsonName = name
            f.number = Int32(number)
            f.label = .optional
            switch child {
            case .value: f.type = kind == .float ? .float : .fixed32
            case .group(let g):
                f.type = .message
                f.typeName = "\(here).\(g.typeName)"
                m.nestedType.append(describe(g, scope: here, kind: kind))
            }
            m.field.append(f)
        }
        return m
    }

    /// A protobuf identifier for `name` (see the type's documentation).
    static func identifier(_ name: String) -> String {
        var out = String(name.unicodeScalars.map { s -> Character in
            s.isASCII && (s.properties.isAlphabetic || ("0"..."9").contains(s) || s == "_") ? Character(s) : "_"
        })
        if out.isEmpty || out.first!.isNumber { out = "_" + out }
        return out
    }

    /// Nested types are named after their field (`pole` → `Pole`); with one
    /// parent per type, names cannot clash.
    private static func typeName(_ field: String) -> String {
        let f = field.drop { $0 == "_" }
        return f.isEmpty ? "Group" + field : f.prefix(1).uppercased() + f.dropFirst()
    }

    /// One message with `values` (in the names' order; a short buffer leaves
    /// the rest at zero). Every field is written, zeros included, so that a
    /// plot has a point for each.
    public func encode(_ values: UnsafeBufferPointer<Float>) -> [UInt8] {
        filled(count: values.count) { values[$0].bitPattern }
    }

    /// Counts (``Kind/count``) in the names' order.
    public func encode(counts: [UInt32]) -> [UInt8] {
        filled(count: counts.count) { counts[$0] }
    }

    /// The template with the first `count` values' 4 bytes written in.
    private func filled(count: Int, _ bits: (Int) -> UInt32) -> [UInt8] {
        var out = template
        out.withUnsafeMutableBytes { b in
            for (i, at) in offsets.enumerated() where i < count {
                b.storeBytes(of: bits(i).littleEndian, toByteOffset: at, as: UInt32.self)
            }
        }
        return out
    }

    /// Every field is fixed32 (`float` or `fixed32`), so a message is always
    /// the same bytes but for its values: the all-zero message, and where
    /// each value's 4 bytes sit in it.
    private static func template(_ group: Group) -> (bytes: [UInt8], offsets: [(index: Int, at: Int)]) {
        var out: [UInt8] = []
        var offsets: [(index: Int, at: Int)] = []
        for (_, number, child) in group.fields {
            switch child {
            case .value(let i):
                varint(UInt64(number << 3 | 5), &out)
                offsets.append((i, out.count))
                out += [0, 0, 0, 0]
            case .group(let g):
                let inner = template(g)
                varint(UInt64(number << 3 | 2), &out)
                varint(UInt64(inner.bytes.count), &out)
                offsets += inner.offsets.map { ($0.index, $0.at + out.count) }
                out += inner.bytes
            }
        }
        return (out, offsets)
    }

    private static func varint(_ value: UInt64, _ out: inout [UInt8]) {
        var v = value
        while v >= 0x80 { out.append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }
}
