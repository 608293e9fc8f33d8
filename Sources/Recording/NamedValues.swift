/// Channel values by name, for viewers that plot a field by its path:
/// `pole.angle` becomes `{"pole": {"angle": 0.01}}`, so that Foxglove plots
/// `/sensors/named.pole.angle`. JSON messages with a JSON Schema derived
/// from the robot description (MCAP's `json` / `jsonschema` encodings).
public struct NamedValues: Sendable {
    /// A name's path of keys (`pole.angle` → ["pole", "angle"]), or the
    /// whole name as one key where paths would collide (`pole` beside `pole.angle`).
    public let paths: [[String]]
    public let units: [String]

    public init(names: [String], units: [String]) {
        let split = names.map { $0.split(separator: ".", omittingEmptySubsequences: false).map(String.init) }
        // A path is a prefix of another, or repeats one: keep every name flat.
        let collides = split.enumerated().contains { i, a in
            split.enumerated().contains { j, b in i != j && b.count >= a.count && Array(b.prefix(a.count)) == a }
        } || split.contains { $0.contains("") }
        paths = collides ? names.map { [$0] } : split
        self.units = units
    }

    /// The JSON Schema of the messages (every value a number, its unit as the description).
    public var jsonSchema: String {
        var root = Node()
        for (path, unit) in zip(paths, units) { root.insert(path, unit) }
        return root.schema(title: nil)
    }

    /// One message: `values[i]` under `paths[i]` (finite; a non-finite one is `null`).
    public func json(_ values: [Float]) -> String {
        var root = Node()
        for (i, path) in paths.enumerated() where i < values.count {
            root.insert(path, values[i].isFinite ? "\(values[i])" : "null")
        }
        return root.object()
    }

    /// Keys in insertion order: leaves hold a unit (schema) or a value (message).
    private struct Node {
        var keys: [String] = []
        var leaves: [String: String] = [:]
        var children: [String: Node] = [:]

        mutating func insert(_ path: [String], _ leaf: String) {
            guard let first = path.first else { return }
            if path.count == 1 {
                if leaves[first] == nil && children[first] == nil { keys.append(first) }
                leaves[first] = leaf
            } else {
                if children[first] == nil && leaves[first] == nil { keys.append(first) }
                children[first, default: Node()].insert(Array(path.dropFirst()), leaf)
            }
        }

        func object() -> String {
            "{" + keys.map { k in "\(quoted(k)):" + (leaves[k] ?? children[k]!.object()) }.joined(separator: ",") + "}"
        }

        func schema(title: String?) -> String {
            let properties = keys.map { k -> String in
                if let unit = leaves[k] {
                    return "\(quoted(k)):{\"type\":\"number\",\"description\":\(quoted(unit))}"
                }
                return "\(quoted(k)):" + children[k]!.schema(title: nil)
            }
            return "{\"type\":\"object\",\"properties\":{" + properties.joined(separator: ",") + "}}"
        }
    }
}

/// `s` as a JSON string literal.
func quoted(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where u.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16)
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}
