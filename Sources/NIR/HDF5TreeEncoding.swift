/// The byte form of an ``HDF5Tree``, in which a child process hands the tree
/// it read with libhdf5 to the process that runs the network: libhdf5 corrupts
/// memory on some malformed files without crashing at once, so the running
/// process never calls it (`spikeloop nir-probe`), and what it receives is
/// checked here like any outside input (`Fuzz/`, fuzz-nir, decodes with this).
///
///     node    := tag, body                      (integers: LEB128 varints)
///     group   := 0, count, count × (name, node) (name: length, UTF-8 bytes)
///     numbers := 1, rank, rank × dim, one float64 (little-endian) per element
///     strings := 2, rank, rank × dim, one (length, UTF-8 bytes) per element
///     other   := 3
extension HDF5Tree {
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        append(to: &out)
        return out
    }

    private func append(to out: inout [UInt8]) {
        func varint(_ n: Int) {
            var v = UInt64(n)
            repeat {
                out.append(UInt8(v & 0x7f) | (v > 0x7f ? 0x80 : 0))
                v >>= 7
            } while v != 0
        }
        func text(_ s: String) {
            varint(s.utf8.count)
            out += s.utf8
        }
        switch self {
        case .group(let members):
            out.append(0)
            varint(members.count)
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                text(name)
                member.append(to: &out)
            }
        case .numbers(let shape, let values):
            out.append(1)
            varint(shape.count)
            shape.forEach(varint)
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
        case .strings(let shape, let values):
            out.append(2)
            varint(shape.count)
            shape.forEach(varint)
            values.forEach(text)
        case .unsupported:
            out.append(3)
        }
    }

    /// The tree `bytes` encode, with the limits of reading a file: nesting,
    /// rank and elements per dataset (``maximumDepth``, ``maximumElements``).
    /// Every count is checked against the bytes left before anything is
    /// allocated; errors name `path`, the file the tree was read from.
    public init(encoded bytes: [UInt8], path: String) throws(NIRError) {
        var reader = Reader(bytes: bytes, path: path)
        self = try reader.node(at: "", depth: 0)
        guard reader.left == 0 else { throw reader.error("", "\(reader.left) bytes after the root") }
    }

    private struct Reader {
        let bytes: [UInt8]
        let path: String
        var at = 0

        func error(_ place: String, _ message: String) -> NIRError {
            NIRError(file: path, "\(place.isEmpty ? "/" : place): the tree read from the file is malformed: \(message)")
        }

        mutating func byte(_ place: String) throws(NIRError) -> UInt8 {
            guard at < bytes.count else { throw error(place, "it ends early") }
            defer { at += 1 }
            return bytes[at]
        }

        var left: Int { bytes.count - at }

        /// A count (a varint) of at most `limit`.
        mutating func count(_ place: String, atMost limit: Int) throws(NIRError) -> Int {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let b = try byte(place)
                guard shift < 63 else { throw error(place, "a count longer than 64 bits") }
                value |= UInt64(b & 0x7f) << shift
                shift += 7
                if b & 0x80 == 0 { break }
            }
            guard value <= UInt64(limit) else { throw error(place, "a count of \(value) where at most \(limit) fit") }
            return Int(value)
        }

        mutating func text(_ place: String) throws(NIRError) -> String {
            let n = try count(place, atMost: Int.max)
            guard n <= left else { throw error(place, "a string of \(n) bytes where \(left) are left") }
            defer { at += n }
            return String(decoding: bytes[at..<at + n], as: UTF8.self)
        }

        mutating func shape(_ place: String, itemBytes size: Int) throws(NIRError) -> (shape: [Int], elements: Int) {
            let rank = try count(place, atMost: 32)
            var shape: [Int] = []
            for _ in 0..<rank { shape.append(try count(place, atMost: HDF5Tree.maximumElements)) }
            guard let elements = elementCount(shape), elements <= HDF5Tree.maximumElements else {
                throw error(place, "\(shape) is more than \(HDF5Tree.maximumElements) elements")
            }
            guard elements <= left / size else { throw error(place, "\(elements) elements where \(left) bytes are left") }
            return (shape, elements)
        }

        mutating func node(at place: String, depth: Int) throws(NIRError) -> HDF5Tree {
            switch try byte(place) {
            case 0:
                guard depth < HDF5Tree.maximumDepth else { throw error(place, "groups nested deeper than \(HDF5Tree.maximumDepth)") }
                let n = try count(place, atMost: left / 2)
                var members: [String: HDF5Tree] = [:]
                for _ in 0..<n {
                    let name = try text(place)
                    guard members[name] == nil else { throw error(place, "member '\(name)' twice") }
                    members[name] = try node(at: place + "/" + name, depth: depth + 1)
                }
                return .group(members)
            case 1:
                let (shape, elements) = try self.shape(place, itemBytes: 8)
                var values: [Double] = []
                values.reserveCapacity(elements)
                for _ in 0..<elements {
                    var bits: UInt64 = 0
                    for k in 0..<8 { bits |= UInt64(bytes[at + k]) << (8 * UInt64(k)) }
                    at += 8
                    values.append(Double(bitPattern: bits))
                }
                return .numbers(shape: shape, values: values)
            case 2:
                let (shape, elements) = try self.shape(place, itemBytes: 1)
                var values: [String] = []
                for _ in 0..<elements { values.append(try text(place)) }
                return .strings(shape: shape, values: values)
            case 3:
                return .unsupported
            case let tag:
                throw error(place, "tag \(tag); valid: 0 (group), 1 (numbers), 2 (strings), 3 (other)")
            }
        }
    }
}
