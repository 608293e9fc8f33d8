/// The weights of a network's projections, as saved by the daemon (`.slw`
/// files, and MCAP attachments of recordings). Plain values, no dependency on
/// Neural: the layout is written down byte by byte in docs/weights.md so that
/// other tools (Python) can read and edit it.
///
/// Each projection carries its name, its sizes and a hash of its wiring, so a
/// snapshot is never applied to a network wired differently; a CRC-32 trailer
/// over everything before it catches any corruption.
public struct WeightSnapshot: Sendable {
    public struct Projection: Sendable, Equatable {
        public var name: String
        public var preCount: Int
        public var postCount: Int
        /// `ConnectivityHash` of the (pre, post) pairs in CSR order.
        public var connectivityHash: UInt64
        /// CSR order: by presynaptic neuron, then connection order.
        public var weights: [Float]
        public var synapseCount: Int { weights.count }

        public init(name: String, preCount: Int, postCount: Int, connectivityHash: UInt64, weights: [Float]) {
            self.name = name
            self.preCount = preCount
            self.postCount = postCount
            self.connectivityHash = connectivityHash
            self.weights = weights
        }
    }

    public static let magic: [UInt8] = Array("SLWEIGHT".utf8)
    public static let formatVersion: UInt32 = 1
    /// magic, version, projection count.
    static let headerSize = 16
    /// name length, pre, post, synapse count, hash (before the name and weights).
    static let recordFixedSize = 4 + 8 * 4

    public var projections: [Projection]
    /// The CRC-32 trailer of the bytes this snapshot was decoded from; nil
    /// for a snapshot built in memory (`encode()` computes it).
    public private(set) var crc: UInt32?

    public init(projections: [Projection]) {
        self.projections = projections
        crc = nil
    }

    public var synapseCount: Int { projections.reduce(0) { $0 + $1.synapseCount } }

    /// `0x` and eight hex digits, as CRCs appear in logs and errors.
    public static func describe(crc: UInt32) -> String { hex(crc) }

    /// The file's bytes (docs/weights.md); its last 4 bytes are the CRC-32.
    public func encode() -> [UInt8] {
        var size = Self.headerSize + 4
        for p in projections { size += Self.recordFixedSize + p.name.utf8.count + 4 * p.synapseCount }
        var out: [UInt8] = []
        out.reserveCapacity(size)
        out += Self.magic
        out.appendLittleEndian(Self.formatVersion)
        out.appendLittleEndian(UInt32(projections.count))
        for p in projections {
            out.appendLittleEndian(UInt32(p.name.utf8.count))
            out += p.name.utf8
            out.appendLittleEndian(UInt64(p.preCount))
            out.appendLittleEndian(UInt64(p.postCount))
            out.appendLittleEndian(UInt64(p.synapseCount))
            out.appendLittleEndian(p.connectivityHash)
            #if _endian(little)
            p.weights.withUnsafeBytes { out.append(contentsOf: $0) }
            #else
            for w in p.weights { out.appendLittleEndian(w.bitPattern) }
            #endif
        }
        out.appendLittleEndian(CRC32.checksum(out))
        return out
    }

    /// Decodes and checks a whole file; `file` names it in errors.
    public init(decoding bytes: [UInt8], file: String) throws(WeightSnapshotError) {
        func fail(_ message: String) -> WeightSnapshotError { WeightSnapshotError(file: file, message: message) }
        let n = bytes.count
        guard n >= Self.magic.count, Array(bytes[0..<Self.magic.count]) == Self.magic else {
            let start = bytes.prefix(Self.magic.count)
            let shown = start.map { (0x20..<0x7F).contains($0) ? String(UnicodeScalar($0)) : "." }.joined()
            throw fail("not a spikeloop weights file: it starts with '\(shown)' (\(n) bytes), expected the magic 'SLWEIGHT'")
        }
        guard n >= Self.headerSize else {
            throw fail("truncated: \(n) bytes, shorter than the \(Self.headerSize)-byte header")
        }
        let version: UInt32 = bytes.readLittleEndian(at: 8)
        guard version == Self.formatVersion else {
            throw fail("format version \(version) is not supported; this spikeloop reads version \(Self.formatVersion)")
        }
        let count = Int(bytes.readLittleEndian(at: 12) as UInt32)

        // A sealed file with inconsistent sizes was written wrong; an unsealed
        // one was cut short or damaged: the message says which.
        func inconsistent(_ detail: String) -> WeightSnapshotError {
            let sealed = n >= Self.headerSize + 4
                && bytes.readLittleEndian(at: n - 4) == bytes.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(n - 4)])) }
            return fail(sealed ? "inconsistent sizes: \(detail)"
                        : "truncated or corrupt: \(detail); its last 4 bytes are not the CRC-32 of the rest")
        }
        var projections: [Projection] = []
        var offset = Self.headerSize
        for index in 0..<count {
            guard offset + 4 <= n else {
                throw inconsistent("the name length of projection \(index) needs bytes up to \(offset + 4), the file has \(n)")
            }
            let nameLength = Int(bytes.readLittleEndian(at: offset) as UInt32)
            let fixedEnd = offset + Self.recordFixedSize + nameLength
            guard fixedEnd <= n else {
                throw inconsistent("the header of projection \(index) needs bytes up to \(fixedEnd), the file has \(n)")
            }
            guard let name = String(validating: bytes[(offset + 4)..<(offset + 4 + nameLength)], as: UTF8.self) else {
                throw inconsistent("the name of projection \(index) is not valid UTF-8")
            }
            var field = offset + 4 + nameLength
            func next() -> UInt64 {
                defer { field += 8 }
                return bytes.readLittleEndian(at: field)
            }
            let pre = next(), post = next(), synapses = next(), hash = next()
            let (weightBytes, overflow) = synapses.multipliedReportingOverflow(by: 4)
            guard !overflow, weightBytes <= UInt64(n - field), pre <= UInt64(Int32.max), post <= UInt64(Int32.max) else {
                throw inconsistent("projection \(index) ('\(name)') claims \(synapses) synapses (\(pre) × \(post) neurons) after byte \(field), the file has \(n)")
            }
            let synapseCount = Int(synapses)
            var weights = [Float](repeating: 0, count: synapseCount)
            #if _endian(little)
            weights.withUnsafeMutableBytes { w in
                bytes.withUnsafeBytes { w.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[field..<(field + 4 * synapseCount)])) }
            }
            #else
            for s in 0..<synapseCount { weights[s] = Float(bitPattern: bytes.readLittleEndian(at: field + 4 * s)) }
            #endif
            offset = field + 4 * synapseCount
            projections.append(Projection(name: name, preCount: Int(pre), postCount: Int(post), connectivityHash: hash, weights: weights))
        }
        guard n - offset >= 4 else {
            throw inconsistent("the last projection ends at byte \(offset), leaving no room for the 4-byte CRC-32 trailer in \(n) bytes")
        }
        guard n - offset == 4 else {
            throw inconsistent("\(n - offset - 4) unexpected bytes between the last projection (ends at byte \(offset)) and the 4-byte CRC-32 trailer")
        }
        let stored: UInt32 = bytes.readLittleEndian(at: offset)
        let computed = bytes.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<offset])) }
        guard stored == computed else {
            throw fail("CRC mismatch: the trailer says \(hex(stored)), bytes 0..<\(offset) give \(hex(computed)); the file is corrupt")
        }
        for p in projections {
            if let bad = p.weights.firstIndex(where: { !$0.isFinite }) {
                throw fail("projection '\(p.name)': weight \(bad) is \(p.weights[bad]); weights must be finite")
            }
        }
        self.projections = projections
        crc = stored
    }
}

extension WeightSnapshot: Equatable {
    /// Equal weights and wiring, whatever bytes they came from.
    public static func == (a: WeightSnapshot, b: WeightSnapshot) -> Bool { a.projections == b.projections }
}

/// A weights file that cannot be used: which file and what is wrong with it.
public struct WeightSnapshotError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let message: String
    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}

/// 64-bit FNV-1a over the synapses' (pre, post) indices, each a little-endian
/// UInt32, in CSR order: equal wiring gives an equal hash.
public struct ConnectivityHash: Sendable {
    public private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    public init() {}

    @inline(__always)
    public mutating func add(pre: UInt32, post: UInt32) {
        let prime: UInt64 = 0x0000_0100_0000_01B3
        var h = value
        h = (h ^ UInt64(pre & 0xFF)) &* prime
        h = (h ^ UInt64((pre >> 8) & 0xFF)) &* prime
        h = (h ^ UInt64((pre >> 16) & 0xFF)) &* prime
        h = (h ^ UInt64(pre >> 24)) &* prime
        h = (h ^ UInt64(post & 0xFF)) &* prime
        h = (h ^ UInt64((post >> 8) & 0xFF)) &* prime
        h = (h ^ UInt64((post >> 16) & 0xFF)) &* prime
        h = (h ^ UInt64(post >> 24)) &* prime
        value = h
    }
}

extension [UInt8] {  // WeightSnapshot's fields
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    func readLittleEndian<T: FixedWidthInteger>(at offset: Int) -> T {
        withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
}
