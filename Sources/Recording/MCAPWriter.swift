import Wire
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif


public struct MCAPWriterOptions: Sendable {
    /// Header profile ("" = none; MCAP's well-known profiles are "ros1", "ros2").
    public var profile: String = ""
    /// Header library, e.g. "spikeloop 0.3.0".
    public var library: String = "spikeloop"
    public var compression: MCAPCompression = .zstd
    /// zstd level (1 fastest … 19); 3 is zstd's default.
    public var zstdLevel: Int32 = 3
    /// A chunk closes once its uncompressed records reach this many bytes.
    public var chunkSize: Int = 1 << 20
    /// Whether `write` closes a full chunk itself; when false the caller
    /// does, with `closeChunkIfFull()`, where a chunk may end (a recording
    /// closes chunks only between ticks).
    public var closesFullChunks: Bool = true
    /// `flush(now:)` closes a chunk that has been open at least this long (ns).
    public var chunkInterval: UInt64 = 1_000_000_000
    /// fsync(2) the file after each closed chunk, attachment and metadata record
    /// (survives power loss, not only a killed process; costs a disk flush).
    public var syncToDisk: Bool = true
    /// Refuse to replace an existing file (EEXIST) instead of truncating it.
    public var exclusive: Bool = false
    /// The clock `flush(now:)`'s `now` comes from; it stamps when a chunk opens.
    public var clock: @Sendable () -> UInt64 = MCAPWriterOptions.monotonicNanoseconds

    public init() {}

    /// Nanoseconds on CLOCK_MONOTONIC: the default clock.
    public static func monotonicNanoseconds() -> UInt64 { UInt64(Wire.monotonicNanoseconds()) }
}

/// Writes an indexed, chunked MCAP file (https://mcap.dev/spec).
///
/// Layout: magic, Header, then Schema / Channel / Metadata / Attachment records
/// as they are added (outside chunks, so a truncated file still names every
/// channel), Chunks each followed by one MessageIndex per channel in the chunk;
/// `close()` appends DataEnd (data section CRC), the summary (Schemas,
/// Channels, Statistics, ChunkIndexes, AttachmentIndexes, MetadataIndexes),
/// SummaryOffsets, the Footer and the closing magic.
///
/// Each closed chunk is written with write(2) at once (and fsync'd when
/// `syncToDisk`), so a killed process loses at most the open chunk; chunks
/// close at `chunkSize` bytes and, through `flush(now:)`, after `chunkInterval`.
/// After warm-up (each channel's index arrays and the buffers at their largest),
/// `write` does not allocate. Not thread-safe: one thread owns a writer.
public final class MCAPWriter {
    public let path: String
    public let options: MCAPWriterOptions

    private struct ChannelState {
        var id: UInt16
        var schemaID: UInt16
        var topic: String
        var messageEncoding: String
        var metadata: [String: String]
        var messageCount: UInt64 = 0
        /// (log_time, offset in the uncompressed chunk) pairs of the open chunk.
        var index: [UInt64] = []
        var indexSorted = true
        var lastLogTime: UInt64 = 0
    }

    private struct SchemaInfo {
        var id: UInt16
        var name: String
        var encoding: String
        var data: [UInt8]
    }

    private struct ChunkIndexInfo {
        var start: UInt64, end: UInt64, offset: UInt64, length: UInt64
        var messageIndexOffsets: [(UInt16, UInt64)]
        var messageIndexLength: UInt64
        var compressedSize: UInt64, uncompressedSize: UInt64
    }

    private struct AttachmentIndexInfo {
        var offset: UInt64, length: UInt64, logTime: UInt64, createTime: UInt64, dataSize: UInt64
        var name: String, mediaType: String
    }

    private var fd: Int32
    private let out = ByteBuffer(capacity: 1 << 16)
    private let chunk: ByteBuffer
    private var compressor: ZstdCompressor?
    private var filePosition: UInt64 = 0
    private var dataCRC = CRC32()
    private var summaryCRC = CRC32()
    private enum CRCTarget { case data, summary, none }
    private var crcTarget = CRCTarget.data

    private var schemas: [SchemaInfo] = []
    private var channels: [ChannelState] = []
    private var slotOfChannel: [Int32] = []
    private var touched: [Int] = []
    private var chunkIndexes: [ChunkIndexInfo] = []
    private var attachmentIndexes: [AttachmentIndexInfo] = []
    private var metadataIndexes: [(offset: UInt64, length: UInt64, name: String)] = []

    private var chunkMessages = 0
    private var chunkOpenedAt: UInt64 = 0
    private var chunkStartTime = UInt64.max
    private var chunkEndTime: UInt64 = 0

    public private(set) var messageCount: UInt64 = 0
    public private(set) var chunkCount = 0
    public private(set) var messageStartTime = UInt64.max
    public private(set) var messageEndTime: UInt64 = 0
    public private(set) var isClosed = false
    /// Bytes in the file so far (written, not counting the open chunk).
    public var bytesWritten: UInt64 { filePosition }

    /// Creates (truncates, or refuses to replace when `exclusive`) `path` and
    /// writes the magic and the Header.
    public init(path: String, options: MCAPWriterOptions = MCAPWriterOptions()) throws {
        self.path = path
        self.options = options
        precondition(options.chunkSize > 0, "chunkSize must be positive")
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (options.exclusive ? O_EXCL : O_TRUNC), 0o644)
        if fd < 0 { throw MCAPError.io(path: path, operation: "open for writing", errno: errno) }
        chunk = ByteBuffer(capacity: options.chunkSize + 4096)
        if options.compression == .zstd {
            compressor = ZstdCompressor(level: options.zstdLevel)
            out.reserve(ZstdCompressor.bound(options.chunkSize + 4096) + 4096)
        }
        touched.reserveCapacity(64)
        out.append(mcapMagic)
        let at = out.beginRecord(.header)
        out.appendString(options.profile)
        out.appendString(options.library)
        out.endRecord(at)
        try writeOut()
    }

    deinit {
        // Not closed: leave what was written (recoverable), release the descriptor.
        if fd >= 0 { _ = Glibc.close(fd) }
    }

    // MARK: - Schemas, channels, metadata, attachments

    /// Adds a schema (for protobuf: `encoding` "protobuf", `name` the full
    /// message name, `data` a binary FileDescriptorSet); returns its id (1, 2, …).
    public func addSchema(name: String, encoding: String, data: [UInt8]) throws -> UInt16 {
        let id = UInt16((schemas.map(\.id).max() ?? 0) + 1)
        try addSchema(id: id, name: name, encoding: encoding, data: data)
        return id
    }

    /// Adds a schema with a given id (not 0); used to keep ids when rewriting a file.
    public func addSchema(id: UInt16, name: String, encoding: String, data: [UInt8]) throws {
        try checkOpen()
        guard id != 0 else { throw MCAPError.usage("\(path): schema id 0 is reserved for \"no schema\"") }
        guard !schemas.contains(where: { $0.id == id }) else {
            throw MCAPError.usage("\(path): schema id \(id) is already used")
        }
        let s = SchemaInfo(id: id, name: name, encoding: encoding, data: data)
        schemas.append(s)
        appendSchema(s)
    }

    /// Adds a channel (topic) whose messages use schema `schemaID` (0 = none);
    /// returns its id (1, 2, …).
    public func addChannel(topic: String, messageEncoding: String, schemaID: UInt16,
                           metadata: [String: String] = [:]) throws -> UInt16 {
        let id = UInt16((channels.map(\.id).max() ?? 0) + 1)
        try addChannel(id: id, topic: topic, messageEncoding: messageEncoding, schemaID: schemaID, metadata: metadata)
        return id
    }

    /// Adds a channel with a given id; used to keep ids when rewriting a file.
    public func addChannel(id: UInt16, topic: String, messageEncoding: String, schemaID: UInt16,
                           metadata: [String: String] = [:]) throws {
        try checkOpen()
        guard schemaID == 0 || schemas.contains(where: { $0.id == schemaID }) else {
            throw MCAPError.usage("\(path): channel \(topic) refers to schema \(schemaID), which was not added")
        }
        if Int(id) < slotOfChannel.count, slotOfChannel[Int(id)] >= 0 {
            throw MCAPError.usage("\(path): channel id \(id) is already used")
        }
        var c = ChannelState(id: id, schemaID: schemaID, topic: topic, messageEncoding: messageEncoding, metadata: metadata)
        c.index.reserveCapacity(1024)
        if slotOfChannel.count <= Int(id) {
            slotOfChannel.append(contentsOf: repeatElement(-1, count: Int(id) + 1 - slotOfChannel.count))
        }
        slotOfChannel[Int(id)] = Int32(channels.count)
        channels.append(c)
        appendChannel(c)
    }

    /// Writes a Metadata record (a named string map) to the file at once.
    public func addMetadata(name: String, _ metadata: [String: String]) throws {
        try checkOpen()
        let offset = position
        let at = out.beginRecord(.metadata)
        out.appendString(name)
        out.appendStringMap(metadata)
        out.endRecord(at)
        metadataIndexes.append((offset, position - offset, name))
        try writeOut()
        try sync()
    }

    /// Writes an Attachment record (a named file with its media type, e.g.
    /// "application/yaml") to the file at once, with its CRC.
    public func addAttachment(name: String, mediaType: String, logTime: UInt64, createTime: UInt64,
                              data: [UInt8]) throws {
        try checkOpen()
        let offset = position
        let at = out.beginRecord(.attachment)
        let fieldsStart = out.count
        out.append(logTime)
        out.append(createTime)
        out.appendString(name)
        out.appendString(mediaType)
        out.append(UInt64(data.count))
        out.append(data)
        let crc = CRC32.checksum(UnsafeRawBufferPointer(start: out.base + fieldsStart, count: out.count - fieldsStart))
        out.append(crc)
        out.endRecord(at)
        attachmentIndexes.append(AttachmentIndexInfo(
            offset: offset, length: position - offset, logTime: logTime, createTime: createTime,
            dataSize: UInt64(data.count), name: name, mediaType: mediaType))
        try writeOut()
        try sync()
    }

    // MARK: - Messages

    /// Appends a message to the open chunk (opening one if needed); closes the
    /// chunk when it reaches `chunkSize`.
    public func write(channel: UInt16, sequence: UInt32, logTime: UInt64, publishTime: UInt64,
                      data: UnsafeRawBufferPointer) throws {
        try checkOpen()
        let cid = Int(channel)
        guard cid < slotOfChannel.count, slotOfChannel[cid] >= 0 else {
            throw MCAPError.usage("\(path): message on channel \(channel), which was not added")
        }
        let slot = Int(slotOfChannel[cid])
        if chunkMessages == 0 { chunkOpenedAt = options.clock() }
        let offset = UInt64(chunk.count)
        let at = chunk.beginRecord(.message)
        chunk.append(channel)
        chunk.append(sequence)
        chunk.append(logTime)
        chunk.append(publishTime)
        chunk.append(data)
        chunk.endRecord(at)
        chunkMessages += 1
        if logTime < chunkStartTime { chunkStartTime = logTime }
        if logTime > chunkEndTime { chunkEndTime = logTime }
        channels.withUnsafeMutableBufferPointer { cs in
            if cs[slot].index.isEmpty { touched.append(slot) }
            else if logTime < cs[slot].lastLogTime { cs[slot].indexSorted = false }
            cs[slot].lastLogTime = logTime
            cs[slot].index.append(logTime)
            cs[slot].index.append(offset)
            cs[slot].messageCount += 1
        }
        messageCount += 1
        if options.closesFullChunks && chunk.count >= options.chunkSize { try closeChunk() }
    }

    /// Closes the open chunk if it reached `chunkSize`; returns whether it did.
    @discardableResult
    public func closeChunkIfFull() throws -> Bool {
        guard chunk.count >= options.chunkSize else { return false }
        try closeChunk()
        return true
    }

    public func write(channel: UInt16, sequence: UInt32, logTime: UInt64, publishTime: UInt64, data: [UInt8]) throws {
        try data.withUnsafeBytes {
            try write(channel: channel, sequence: sequence, logTime: logTime, publishTime: publishTime, data: $0)
        }
    }

    /// Closes the open chunk if it has been open for `chunkInterval` or longer
    /// (by `options.clock`); returns whether it did. Call at least once a second.
    @discardableResult
    public func flush(now: UInt64) throws -> Bool {
        try checkOpen()
        guard chunkMessages > 0, now &- chunkOpenedAt >= options.chunkInterval,
              now >= chunkOpenedAt else { return false }
        try closeChunk()
        return true
    }

    /// Writes the open chunk (if it holds messages) and its message indexes to the file.
    public func closeChunk() throws {
        try checkOpen()
        guard chunkMessages > 0 else { return }
        let chunkOffset = position
        let uncompressedSize = chunk.count
        let crc = CRC32.checksum(chunk.bytes)
        let at = out.beginRecord(.chunk)
        out.append(chunkStartTime)
        out.append(chunkEndTime)
        out.append(UInt64(uncompressedSize))
        out.append(crc)
        out.appendString(options.compression.rawValue)
        let sizeAt = out.count
        out.append(UInt64(0))
        let recordsStart = out.count
        if let compressor {
            let bound = ZstdCompressor.bound(uncompressedSize)
            out.reserve(bound)
            let n = try compressor.compress(chunk.bytes, into: out.base + out.count, capacity: bound)
            out.count += n
        } else {
            out.append(chunk.bytes)
        }
        let compressedSize = out.count - recordsStart
        out.patch(UInt64(compressedSize), at: sizeAt)
        out.endRecord(at)
        let chunkLength = position - chunkOffset

        let indexStart = position
        var offsets: [(UInt16, UInt64)] = []
        offsets.reserveCapacity(touched.count)
        for slot in touched {
            if !channels[slot].indexSorted { channels[slot].index.sortPairsByFirst() }
            offsets.append((channels[slot].id, position))
            let mat = out.beginRecord(.messageIndex)
            out.append(channels[slot].id)
            out.append(UInt32(channels[slot].index.count * 8))
            channels[slot].index.withUnsafeBytes { out.append($0) }
            out.endRecord(mat)
            channels[slot].index.removeAll(keepingCapacity: true)
            channels[slot].indexSorted = true
            channels[slot].lastLogTime = 0
        }
        touched.removeAll(keepingCapacity: true)
        chunkIndexes.append(ChunkIndexInfo(
            start: chunkStartTime, end: chunkEndTime, offset: chunkOffset, length: chunkLength,
            messageIndexOffsets: offsets, messageIndexLength: position - indexStart,
            compressedSize: UInt64(compressedSize), uncompressedSize: UInt64(uncompressedSize)))
        messageStartTime = min(messageStartTime, chunkStartTime)
        messageEndTime = max(messageEndTime, chunkEndTime)
        chunkCount += 1
        chunk.removeAll()
        chunkMessages = 0
        chunkStartTime = .max
        chunkEndTime = 0
        try writeOut()
        try sync()
    }

    // MARK: - Finishing

    /// Closes the open chunk and writes DataEnd, the summary, SummaryOffsets,
    /// the Footer and the closing magic; then closes the file.
    public func close() throws {
        try checkOpen()
        try closeChunk()
        try writeOut()  // everything before DataEnd is in dataCRC now
        crcTarget = .none
        let de = out.beginRecord(.dataEnd)
        out.append(dataCRC.value)
        out.endRecord(de)
        try writeOut()

        crcTarget = .summary
        let summaryStart = position
        var groups: [(MCAPOpcode, UInt64, UInt64)] = []
        func group(_ op: MCAPOpcode, _ body: () -> Void) {
            let start = position
            body()
            if position > start { groups.append((op, start, position - start)) }
        }
        group(.schema) { for s in schemas { appendSchema(s) } }
        group(.channel) { for c in channels { appendChannel(c) } }
        group(.statistics) {
            let at = out.beginRecord(.statistics)
            out.append(messageCount)
            out.append(UInt16(schemas.count))
            out.append(UInt32(channels.count))
            out.append(UInt32(attachmentIndexes.count))
            out.append(UInt32(metadataIndexes.count))
            out.append(UInt32(chunkCount))
            out.append(messageCount == 0 ? 0 : messageStartTime)
            out.append(messageEndTime)
            let mapAt = out.count
            out.append(UInt32(0))
            for c in channels.sorted(by: { $0.id < $1.id }) {
                out.append(c.id)
                out.append(c.messageCount)
            }
            out.patch(UInt32(out.count - mapAt - 4), at: mapAt)
            out.endRecord(at)
        }
        group(.chunkIndex) {
            for ci in chunkIndexes {
                let at = out.beginRecord(.chunkIndex)
                out.append(ci.start)
                out.append(ci.end)
                out.append(ci.offset)
                out.append(ci.length)
                out.append(UInt32(ci.messageIndexOffsets.count * 10))
                for (id, offset) in ci.messageIndexOffsets {
                    out.append(id)
                    out.append(offset)
                }
                out.append(ci.messageIndexLength)
                out.appendString(options.compression.rawValue)
                out.append(ci.compressedSize)
                out.append(ci.uncompressedSize)
                out.endRecord(at)
            }
        }
        group(.attachmentIndex) {
            for a in attachmentIndexes {
                let at = out.beginRecord(.attachmentIndex)
                out.append(a.offset)
                out.append(a.length)
                out.append(a.logTime)
                out.append(a.createTime)
                out.append(a.dataSize)
                out.appendString(a.name)
                out.appendString(a.mediaType)
                out.endRecord(at)
            }
        }
        group(.metadataIndex) {
            for m in metadataIndexes {
                let at = out.beginRecord(.metadataIndex)
                out.append(m.offset)
                out.append(m.length)
                out.appendString(m.name)
                out.endRecord(at)
            }
        }
        let summaryOffsetStart = position
        for (op, start, length) in groups {
            let at = out.beginRecord(.summaryOffset)
            out.append(op.rawValue)
            out.append(start)
            out.append(length)
            out.endRecord(at)
        }
        out.append(MCAPOpcode.footer.rawValue)
        out.append(UInt64(20))
        out.append(summaryStart)
        out.append(summaryOffsetStart)
        try writeOut()  // the summary CRC covers the footer up to summary_offset_start
        crcTarget = .none
        out.append(summaryCRC.value)
        out.append(mcapMagic)
        try writeOut()
        if fsync(fd) != 0 { throw MCAPError.io(path: path, operation: "fsync", errno: errno) }
        isClosed = true
        let rc = Glibc.close(fd)
        fd = -1
        if rc != 0 { throw MCAPError.io(path: path, operation: "close", errno: errno) }
    }

    // MARK: - Internals

    private var position: UInt64 { filePosition + UInt64(out.count) }

    private func checkOpen() throws {
        if isClosed { throw MCAPError.usage("\(path): the MCAP writer is closed") }
    }

    private func appendSchema(_ s: SchemaInfo) {
        let at = out.beginRecord(.schema)
        out.append(s.id)
        out.appendString(s.name)
        out.appendString(s.encoding)
        out.append(UInt32(s.data.count))
        out.append(s.data)
        out.endRecord(at)
    }

    private func appendChannel(_ c: ChannelState) {
        let at = out.beginRecord(.channel)
        out.append(c.id)
        out.append(c.schemaID)
        out.appendString(c.topic)
        out.appendString(c.messageEncoding)
        out.appendStringMap(c.metadata)
        out.endRecord(at)
    }

    /// Writes the staged bytes to the file, folding them into the current CRC.
    private func writeOut() throws {
        guard out.count > 0 else { return }
        switch crcTarget {
        case .data: dataCRC.update(out.bytes)
        case .summary: summaryCRC.update(out.bytes)
        case .none: break
        }
        var p = UnsafeRawPointer(out.base)
        var left = out.count
        while left > 0 {
            let n = Glibc.write(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw MCAPError.io(path: path, operation: "write", errno: errno)
            }
            p += n
            left -= n
        }
        filePosition += UInt64(out.count)
        out.removeAll()
    }

    private func sync() throws {
        if options.syncToDisk, fsync(fd) != 0 {
            throw MCAPError.io(path: path, operation: "fsync", errno: errno)
        }
    }
}

extension Array where Element == UInt64 {
    /// Sorts (key, value) pairs stored flat by key, stably (insertion sort: the
    /// pairs are nearly in order and this must not allocate).
    mutating func sortPairsByFirst() {
        let n = count / 2
        guard n > 1 else { return }
        withUnsafeMutableBufferPointer { a in
            for i in 1..<n {
                let k = a[2 * i], v = a[2 * i + 1]
                var j = i - 1
                while j >= 0 && a[2 * j] > k {
                    a[2 * j + 2] = a[2 * j]
                    a[2 * j + 3] = a[2 * j + 1]
                    j -= 1
                }
                a[2 * j + 2] = k
                a[2 * j + 3] = v
            }
        }
    }
}
