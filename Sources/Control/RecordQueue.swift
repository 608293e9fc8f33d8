import Synchronization

/// A single-producer, single-consumer queue of variable-size byte records in
/// one preallocated ring: the loop writes what happened in a tick, the
/// recorder thread reads it. Neither side waits for the other; a record that
/// does not fit is refused (the producer counts the drop).
///
/// A record is an 8-byte header (payload length, kind) and its payload,
/// padded to 8 bytes, and never wraps: at the end of the ring a padding
/// record (kind 0) skips to the start.
public final class RecordQueue: @unchecked Sendable {
    let capacity: Int
    private let storage: UnsafeMutableRawPointer
    /// Bytes ever written (producer) and consumed (consumer).
    private let head = Atomic<Int>(0)
    private let tail = Atomic<Int>(0)
    private var pendingHead = 0

    static let headerSize = 8

    /// `capacity` is rounded up to a power of two (at least 4 KiB).
    init(capacity: Int) {
        var c = 4096
        while c < capacity { c <<= 1 }
        self.capacity = c
        storage = .allocate(byteCount: c, alignment: 64)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: c)  // touch every page now, not in a tick
    }

    deinit { storage.deallocate() }

    /// Ring bytes a record of `payload` bytes takes.
    static func total(_ payload: Int) -> Int { (headerSize + payload + 7) & ~7 }

    // MARK: - Producer (the loop)

    /// Space for a payload of `size` bytes, or nil when the ring is too full.
    /// Publish it with `commit()`.
    @inline(__always)
    func reserve(_ size: Int, kind: UInt32) -> UnsafeMutableRawPointer? {
        let need = Self.total(size)
        var h = head.load(ordering: .relaxed)
        let t = tail.load(ordering: .acquiring)
        let offset = h & (capacity - 1)
        let contiguous = capacity - offset
        if need > contiguous {
            guard (h - t) + contiguous + need <= capacity else { return nil }
            storage.storeBytes(of: UInt32(contiguous - Self.headerSize), toByteOffset: offset, as: UInt32.self)
            storage.storeBytes(of: UInt32(0), toByteOffset: offset + 4, as: UInt32.self)
            h += contiguous
        } else if (h - t) + need > capacity {
            return nil
        }
        let at = h & (capacity - 1)
        storage.storeBytes(of: UInt32(size), toByteOffset: at, as: UInt32.self)
        storage.storeBytes(of: kind, toByteOffset: at + 4, as: UInt32.self)
        pendingHead = h + need
        return storage + at + Self.headerSize
    }

    @inline(__always)
    func commit() { head.store(pendingHead, ordering: .releasing) }

    // MARK: - Consumer (the recorder)

    /// Hands every record published so far to `body` (kind, payload), then
    /// frees their space. Returns how many it handed over.
    @discardableResult
    public func drain(_ body: (UInt32, UnsafeRawBufferPointer) throws -> Void) rethrows -> Int {
        var t = tail.load(ordering: .relaxed)
        let h = head.load(ordering: .acquiring)
        var count = 0
        defer { tail.store(t, ordering: .releasing) }
        while t < h {
            let at = t & (capacity - 1)
            let size = Int(storage.load(fromByteOffset: at, as: UInt32.self))
            let kind = storage.load(fromByteOffset: at + 4, as: UInt32.self)
            if kind != 0 {
                try body(kind, UnsafeRawBufferPointer(start: storage + at + Self.headerSize, count: size))
                count += 1
            }
            t += Self.total(size)
        }
        return count
    }

    /// Bytes waiting to be read.
    public var backlog: Int { head.load(ordering: .acquiring) - tail.load(ordering: .acquiring) }
}

/// Writes a record's payload field by field (the loop side) and reads it back
/// in the same order (the recorder side). Values are stored unaligned, native
/// endianness: both ends are the same process.
struct RecordWriter {
    private(set) var at: UnsafeMutableRawPointer

    init(_ start: UnsafeMutableRawPointer) { at = start }

    @inline(__always)
    mutating func put<T: BitwiseCopyable>(_ value: T) {
        at.storeBytes(of: value, as: T.self)
        at += MemoryLayout<T>.size
    }

    @inline(__always)
    mutating func put<T: BitwiseCopyable>(_ values: UnsafePointer<T>, count: Int) {
        let bytes = count * MemoryLayout<T>.stride
        at.copyMemory(from: values, byteCount: bytes)
        at += bytes
    }
}

public struct RecordReader {
    private var bytes: UnsafeRawBufferPointer
    private var at = 0

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    public mutating func get<T: BitwiseCopyable>(_: T.Type = T.self) -> T {
        let v = bytes.loadUnaligned(fromByteOffset: at, as: T.self)
        at += MemoryLayout<T>.size
        return v
    }

    public mutating func array<T: BitwiseCopyable>(_: T.Type, count: Int) -> [T] {
        (0..<count).map { _ in get(T.self) }
    }

    public mutating func bytes(count: Int) -> [UInt8] {
        let out = Array(bytes[at..<(at + count)])
        at += count
        return out
    }
}
