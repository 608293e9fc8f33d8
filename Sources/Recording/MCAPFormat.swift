// The MCAP container format (https://mcap.dev/spec), major version 0: magic,
// record opcodes, and the little-endian primitives records are built from.

/// `0x89 M C A P 0 \r \n`, at the start and at the end of every MCAP file.
public let mcapMagic: [UInt8] = [0x89, 0x4D, 0x43, 0x41, 0x50, 0x30, 0x0D, 0x0A]

/// Record opcodes of MCAP version 0.
public enum MCAPOpcode: UInt8, Sendable, CaseIterable {
    case header = 0x01
    case footer = 0x02
    case schema = 0x03
    case channel = 0x04
    case message = 0x05
    case chunk = 0x06
    case messageIndex = 0x07
    case chunkIndex = 0x08
    case attachment = 0x09
    case attachmentIndex = 0x0A
    case statistics = 0x0B
    case metadata = 0x0C
    case metadataIndex = 0x0D
    case summaryOffset = 0x0E
    case dataEnd = 0x0F
}

/// Chunk compression. The names are the strings MCAP stores.
public enum MCAPCompression: String, Sendable {
    case none = ""
    case zstd = "zstd"
}

/// What went wrong reading or writing an MCAP file. The description names the
/// file, the byte offset and the record.
public enum MCAPError: Error, CustomStringConvertible, Equatable {
    case io(path: String, operation: String, errno: Int32)
    case notMCAP(path: String, reason: String)
    case truncated(path: String, offset: UInt64, record: String)
    case malformed(path: String, offset: UInt64, record: String, reason: String)
    case crcMismatch(path: String, offset: UInt64, record: String, stored: UInt32, computed: UInt32)
    case unsupportedCompression(path: String, offset: UInt64, compression: String)
    case compression(reason: String)
    case usage(String)

    public var description: String {
        switch self {
        case let .io(path, operation, code):
            return "\(path): \(operation) failed: \(String(cString: strerror(code))) (errno \(code))"
        case let .notMCAP(path, reason):
            return "\(path): not an MCAP file (\(reason))"
        case let .truncated(path, offset, record):
            return "\(path): truncated \(record) at byte \(offset): the file ends inside it"
        case let .malformed(path, offset, record, reason):
            return "\(path): malformed \(record) at byte \(offset): \(reason)"
        case let .crcMismatch(path, offset, record, stored, computed):
            return "\(path): CRC mismatch in \(record) at byte \(offset): stored \(hex(stored)), computed \(hex(computed)); the file is corrupt"
        case let .unsupportedCompression(path, offset, compression):
            return "\(path): chunk at byte \(offset) uses compression \"\(compression)\"; supported: \"zstd\" and \"\" (none)"
        case let .compression(reason):
            return "zstd: \(reason)"
        case let .usage(reason):
            return reason
        }
    }
}

func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A growable byte buffer on malloc'd memory: appends never allocate once the
/// capacity suffices, and callers can write straight into the spare capacity.
final class ByteBuffer {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 64)
        base = malloc(self.capacity)!
    }

    deinit { free(base) }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    func reserve(_ extra: Int) {
        precondition(tryReserve(extra), "out of memory for \(count + extra) bytes")
    }

    /// Grows to hold `extra` more bytes; false (nothing changed) when the
    /// memory is not there.
    func tryReserve(_ extra: Int) -> Bool {
        let needed = count + extra
        if needed <= capacity { return true }
        var c = capacity
        while c < needed { c *= 2 }
        guard let grown = realloc(base, c) else { return false }
        base = grown
        capacity = c
        return true
    }

    func removeAll() { count = 0 }

    @inline(__always) func append<T: FixedWidthInteger>(_ v: T) {
        reserve(MemoryLayout<T>.size)
        (base + count).storeBytes(of: v.littleEndian, as: T.self)
        count += MemoryLayout<T>.size
    }

    func append(_ raw: UnsafeRawBufferPointer) {
        guard raw.count > 0 else { return }
        reserve(raw.count)
        (base + count).copyMemory(from: raw.baseAddress!, byteCount: raw.count)
        count += raw.count
    }

    func append(_ array: [UInt8]) { array.withUnsafeBytes { append($0) } }

    /// MCAP string: uint32 byte length, then UTF-8.
    func appendString(_ s: String) {
        var s = s
        s.withUTF8 { u in
            append(UInt32(u.count))
            append(UnsafeRawBufferPointer(u))
        }
    }

    /// MCAP Map<string, string>: uint32 byte length, then key/value strings, sorted by key.
    func appendStringMap(_ map: [String: String]) {
        let sizeAt = count
        append(UInt32(0))
        for key in map.keys.sorted() {
            appendString(key)
            appendString(map[key]!)
        }
        patch(UInt32(count - sizeAt - 4), at: sizeAt)
    }

    func patch<T: FixedWidthInteger>(_ v: T, at offset: Int) {
        (base + offset).storeBytes(of: v.littleEndian, as: T.self)
    }

    /// Starts a record: opcode and a placeholder length; returns the place of the length.
    func beginRecord(_ op: MCAPOpcode) -> Int {
        append(op.rawValue)
        let at = count
        append(UInt64(0))
        return at
    }

    func endRecord(_ lengthAt: Int) {
        patch(UInt64(count - lengthAt - 8), at: lengthAt)
    }
}

/// Reads MCAP primitives from a byte range, throwing `malformed` past its end.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let end: Int
    let path: String
    let fileOffset: UInt64  // offset of the record in the file, for messages
    let record: String

    init(_ bytes: UnsafeRawBufferPointer, from: Int, to: Int, path: String, fileOffset: UInt64, record: String) {
        self.bytes = bytes
        position = from
        end = to
        self.path = path
        self.fileOffset = fileOffset
        self.record = record
    }

    var remaining: Int { end - position }

    func fail(_ reason: String) -> MCAPError {
        .malformed(path: path, offset: fileOffset, record: record, reason: reason)
    }

    mutating func read<T: FixedWidthInteger>(_ field: String, as _: T.Type = T.self) throws -> T {
        let n = MemoryLayout<T>.size
        guard remaining >= n else { throw fail("\(field) runs past the end of the record") }
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        position += n
        return v
    }

    mutating func readSlice(count: Int, _ field: String) throws -> Range<Int> {
        guard count >= 0, remaining >= count else {
            throw fail("\(field) (\(count) bytes) runs past the end of the record")
        }
        let r = position..<(position + count)
        position += count
        return r
    }

    mutating func readBytes(count: Int, _ field: String) throws -> [UInt8] {
        let r = try readSlice(count: count, field)
        return Array(UnsafeRawBufferPointer(rebasing: bytes[r]))
    }

    mutating func readString(_ field: String) throws -> String {
        let n = try read(field, as: UInt32.self)
        let r = try readSlice(count: Int(n), field)
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[r]), as: UTF8.self)
    }

    mutating func readStringMap(_ field: String) throws -> [String: String] {
        let n = try read(field, as: UInt32.self)
        let r = try readSlice(count: Int(n), field)
        var inner = ByteCursor(bytes, from: r.lowerBound, to: r.upperBound, path: path, fileOffset: fileOffset, record: record)
        var map: [String: String] = [:]
        while inner.remaining > 0 {
            let k = try inner.readString(field + " key")
            map[k] = try inner.readString(field + " value")
        }
        return map
    }
}
