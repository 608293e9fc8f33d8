import CZstd

/// A zstd compression context, reused for every chunk (no allocation per chunk
/// once libzstd has sized its tables for the first one).
final class ZstdCompressor {
    private let context: OpaquePointer
    let level: Int32

    init(level: Int32) {
        context = ZSTD_createCCtx()!
        self.level = level
    }

    deinit { ZSTD_freeCCtx(context) }

    static func bound(_ size: Int) -> Int { ZSTD_compressBound(size) }

    /// Compresses `source` into `destination` (at least `bound(source.count)`
    /// bytes); returns the compressed size.
    func compress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawPointer, capacity: Int) throws -> Int {
        let n = ZSTD_compressCCtx(context, destination, capacity, source.baseAddress, source.count, level)
        if ZSTD_isError(n) != 0 { throw MCAPError.compression(reason: String(cString: ZSTD_getErrorName(n))) }
        return n
    }
}

/// A zstd decompression context.
final class ZstdDecompressor {
    private let context: OpaquePointer

    init() { context = ZSTD_createDCtx()! }

    deinit { ZSTD_freeDCtx(context) }

    /// Decompresses one chunk whose uncompressed size is known from the chunk
    /// record; fails unless exactly that many bytes come out.
    func decompress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawPointer, expected: Int) throws {
        let n = ZSTD_decompressDCtx(context, destination, expected, source.baseAddress, source.count)
        if ZSTD_isError(n) != 0 { throw MCAPError.compression(reason: String(cString: ZSTD_getErrorName(n))) }
        if n != expected {
            throw MCAPError.compression(reason: "chunk decompressed to \(n) bytes, its record says \(expected)")
        }
    }
}
