#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads an MCAP file (mapped into memory): through its summary when it has
/// one, or by a linear scan that also reads a truncated file up to its last
/// complete record. CRCs (chunks, attachments, data section, summary) are
/// checked when they are not zero.
public final class MCAPReader {
    public let path: String
    public let size: Int
    private let base: UnsafeMutableRawPointer?
    private let decompressor = ZstdDecompressor()
    private var scratch = ByteBuffer(capacity: 1 << 16)

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw MCAPError.io(path: path, operation: "open", errno: errno) }
        defer { _ = close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 { throw MCAPError.io(path: path, operation: "stat", errno: errno) }
        size = Int(st.st_size)
        if size > 0 {
            let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
            if p == MAP_FAILED { throw MCAPError.io(path: path, operation: "mmap", errno: errno) }
            base = p
        } else {
            base = nil
        }
        guard size >= mcapMagic.count, bytes.starts(with: mcapMagic) else {
            throw MCAPError.notMCAP(path: path, reason: size < 8 ? "\(size) bytes, shorter than the magic" : "it does not start with the MCAP magic")
        }
    }

    deinit { if let base { munmap(base, size) } }

    private var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }

    // MARK: - Header and summary

    public func header() throws -> MCAPHeader {
        var result: MCAPHeader?
        try readRecord(at: 8) { op, c in
            guard op == MCAPOpcode.header.rawValue else { throw c.fail("the first record is not a Header (opcode \(op))") }
            result = MCAPHeader(profile: try c.readString("profile"), library: try c.readString("library"))
        }
        return result!
    }

    /// Whether the file ends with a Footer and the closing magic.
    public var hasFooter: Bool {
        size >= 8 + 9 + 37 && bytes[(size - 8)...].elementsEqual(mcapMagic)
            && bytes[size - 8 - 29] == MCAPOpcode.footer.rawValue
    }

    /// The summary section, or nil when the file has no footer (e.g. truncated)
    /// or its footer points at no summary. Checks the summary CRC.
    public func summary() throws -> MCAPSummary? {
        guard hasFooter else { return nil }
        let footerOffset = size - 8 - 29
        var c = cursor(footerOffset + 9, footerOffset + 29, record: "Footer", at: footerOffset)
        let summaryStart = try c.read("summary_start", as: UInt64.self)
        let summaryOffsetStart = try c.read("summary_offset_start", as: UInt64.self)
        let storedCRC = try c.read("summary_crc", as: UInt32.self)
        if summaryStart == 0 { return nil }
        guard summaryStart <= UInt64(footerOffset), summaryOffsetStart <= UInt64(footerOffset),
              summaryOffsetStart == 0 || summaryOffsetStart >= summaryStart else {
            throw MCAPError.malformed(path: path, offset: UInt64(footerOffset), record: "Footer",
                                      reason: "summary_start \(summaryStart) / summary_offset_start \(summaryOffsetStart) lie outside the file")
        }
        if storedCRC != 0 {
            let computed = CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[Int(summaryStart)..<(footerOffset + 25)]))
            if computed != storedCRC {
                throw MCAPError.crcMismatch(path: path, offset: summaryStart, record: "summary section",
                                            stored: storedCRC, computed: computed)
            }
        }
        var s = MCAPSummary()
        var offset = Int(summaryStart)
        while offset < footerOffset {
            offset = try readRecord(at: offset) { op, c in
                switch MCAPOpcode(rawValue: op) {
                case .schema: let v = try parseSchema(&c); s.schemas[v.id] = v
                case .channel: let v = try parseChannel(&c); s.channels[v.id] = v
                case .statistics: s.statistics = try parseStatistics(&c)
                case .chunkIndex: s.chunkIndexes.append(try parseChunkIndex(&c))
                case .attachmentIndex:
                    s.attachmentIndexes.append(MCAPAttachmentIndex(
                        offset: try c.read("offset"), length: try c.read("length"), logTime: try c.read("log_time"),
                        createTime: try c.read("create_time"), dataSize: try c.read("data_size"),
                        name: try c.readString("name"), mediaType: try c.readString("media_type")))
                case .metadataIndex:
                    s.metadataIndexes.append(MCAPMetadataIndex(
                        offset: try c.read("offset"), length: try c.read("length"), name: try c.readString("name")))
                case .summaryOffset:
                    s.summaryOffsets.append((try c.read("group_opcode"), try c.read("group_start"), try c.read("group_length")))
                default: break  // unknown or other records: skipped, as the spec asks
                }
            }
        }
        return s
    }

    // MARK: - Whole-file reads

    /// Every message: through the chunk indexes when there is a summary (in
    /// file order), otherwise by a linear scan that stops, without error, at a
    /// truncated end.
    public func forEachMessage(_ body: (MCAPMessage) throws -> Void) throws {
        if let summary = try summary(), !summary.chunkIndexes.isEmpty || summary.statistics?.messageCount == 0 {
            for ci in summary.chunkIndexes.sorted(by: { $0.chunkStartOffset < $1.chunkStartOffset }) {
                let offset = Int(ci.chunkStartOffset)
                guard offset + Int(ci.chunkLength) <= size else {
                    throw MCAPError.malformed(path: path, offset: ci.chunkStartOffset, record: "ChunkIndex",
                                              reason: "the chunk it points at (\(ci.chunkLength) bytes) runs past the end of the file")
                }
                _ = try readRecord(at: offset) { op, c in
                    guard op == MCAPOpcode.chunk.rawValue else { throw c.fail("a ChunkIndex points at opcode \(op), not a Chunk") }
                    for r in try readChunk(&c, validateCRC: true) {
                        if case .message(let m) = r { try body(m) }
                    }
                }
            }
        } else {
            _ = try scan(tolerant: true) { r in if case .message(let m) = r { try body(m) } }
        }
    }

    /// Everything in the file, from a tolerant linear scan.
    public struct Contents: Sendable {
        public var header: MCAPHeader?
        public var schemas: [UInt16: MCAPSchema] = [:]
        public var channels: [UInt16: MCAPChannel] = [:]
        public var messages: [MCAPMessage] = []
        public var metadata: [MCAPMetadata] = []
        public var attachments: [MCAPAttachment] = []
        public var scan: MCAPScanResult?
    }

    public func readAll(tolerant: Bool = false) throws -> Contents {
        var all = Contents()
        all.scan = try scan(tolerant: tolerant) { r in
            switch r {
            case .header(let h): all.header = h
            case .schema(let s): all.schemas[s.id] = s
            case .channel(let c): all.channels[c.id] = c
            case .message(let m): all.messages.append(m)
            case .metadata(let m): all.metadata.append(m)
            case .attachment(let a): all.attachments.append(a)
            case .chunkEnd, .dataEnd: break
            }
        }
        return all
    }

    // MARK: - Linear scan

    /// Reads the data section record by record. `tolerant`: a file that ends
    /// inside a record, or a corrupt record, ends the scan (the reason is in
    /// the result) instead of throwing; a chunk's messages are handed out only
    /// once the whole chunk was read and its CRC matched. `skipCorruptChunks`:
    /// a chunk whose record framing is intact but whose content is not is
    /// passed over (listed in the result) and the scan goes on; the data
    /// section's CRC then cannot match and is not checked.
    @discardableResult
    public func scan(tolerant: Bool = false, skipCorruptChunks: Bool = false,
                     _ visit: (MCAPRecord) throws -> Void) throws -> MCAPScanResult {
        var result = MCAPScanResult(complete: false, validBytes: 8, fileSize: UInt64(size))
        var offset = 8
        var sawDataEnd = false
        while offset < size {
            if sawDataEnd, size - offset == 8, bytes[offset...].elementsEqual(mcapMagic) {
                result.complete = true
                result.validBytes = UInt64(size)
                break
            }
            do {
                var pending: [MCAPRecord] = []
                var isFooter = false
                let next = try readRecord(at: offset) { op, c in
                    let opcode = MCAPOpcode(rawValue: op)
                    if sawDataEnd {  // summary, summary offsets, footer: not handed out
                        if opcode == .footer { isFooter = true }
                        return
                    }
                    switch opcode {
                    case .header:
                        pending.append(.header(MCAPHeader(profile: try c.readString("profile"), library: try c.readString("library"))))
                    case .schema: pending.append(.schema(try parseSchema(&c)))
                    case .channel: pending.append(.channel(try parseChannel(&c)))
                    case .message: pending.append(.message(try parseMessage(&c)))
                    case .chunk:
                        pending = try readChunk(&c, validateCRC: true)
                        pending.append(.chunkEnd(offset: UInt64(offset), messages: pending.count(where: { if case .message = $0 { true } else { false } })))
                    case .metadata:
                        pending.append(.metadata(MCAPMetadata(name: try c.readString("name"), metadata: try c.readStringMap("metadata"))))
                    case .attachment: pending.append(.attachment(try parseAttachment(&c, recordOffset: offset)))
                    case .dataEnd:
                        let stored = try c.read("data_section_crc", as: UInt32.self)
                        if stored != 0 && result.skippedChunks.isEmpty {
                            let computed = CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<offset]))
                            if computed != stored {
                                throw MCAPError.crcMismatch(path: path, offset: UInt64(offset), record: "data section (DataEnd)",
                                                            stored: stored, computed: computed)
                            }
                        }
                        pending.append(.dataEnd(dataSectionCRC: stored))
                    case .footer:
                        isFooter = true
                    default: break  // MessageIndex, unknown opcodes: skipped
                    }
                }
                for r in pending {
                    switch r {
                    case .message: result.messages += 1
                    case .chunkEnd: result.chunks += 1
                    case .dataEnd: sawDataEnd = true
                    default: break
                    }
                    try visit(r)
                }
                offset = next
                result.validBytes = UInt64(offset)
                if isFooter {
                    guard size - offset == 8, bytes[offset...].elementsEqual(mcapMagic) else {
                        throw MCAPError.malformed(path: path, offset: UInt64(offset), record: "closing magic",
                                                  reason: "the Footer is not followed by the MCAP magic and the end of the file")
                    }
                    result.complete = true
                    result.validBytes = UInt64(size)
                    break
                }
            } catch let error as MCAPError {
                if skipCorruptChunks, let skipped = corruptChunk(at: offset, error) {
                    result.skippedChunks.append(skipped)
                    offset += 9 + Int(skipped.length)
                    result.validBytes = UInt64(offset)
                    continue
                }
                if !tolerant { throw error }
                result.stoppedBy = error
                break
            }
        }
        if !result.complete, result.stoppedBy == nil, offset >= size {
            let e = MCAPError.truncated(path: path, offset: UInt64(offset), record: "file (no Footer and closing magic)")
            if !tolerant { throw e }
            result.stoppedBy = e
        }
        return result
    }

    /// The chunk at `offset` that failed with `error`, when its framing
    /// (opcode, length within the file) is intact and the failure is inside it.
    private func corruptChunk(at offset: Int, _ error: MCAPError) -> MCAPSkippedChunk? {
        guard size - offset >= 9, bytes[offset] == MCAPOpcode.chunk.rawValue else { return nil }
        let length = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 1, as: UInt64.self))
        guard length <= UInt64(size - offset - 9) else { return nil }  // cut short: the end, not a bad chunk
        var skipped = MCAPSkippedChunk(offset: UInt64(offset), length: length, reason: error)
        if length >= 16 {
            let start = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 9, as: UInt64.self))
            let end = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 17, as: UInt64.self))
            if start <= end { (skipped.messageStartTime, skipped.messageEndTime) = (start, end) }
        }
        return skipped
    }

    // MARK: - Records

    private func cursor(_ from: Int, _ to: Int, record: String, at: Int) -> ByteCursor {
        ByteCursor(bytes, from: from, to: to, path: path, fileOffset: UInt64(at), record: record)
    }

    private static func name(_ op: UInt8) -> String {
        if let o = MCAPOpcode(rawValue: op) { return "\(o)".prefix(1).uppercased() + "\(o)".dropFirst() + " record" }
        return "record (opcode 0x\(String(op, radix: 16)))"
    }

    /// Parses the record at `offset` with `body`; returns the offset of the next record.
    @discardableResult
    private func readRecord(at offset: Int, _ body: (UInt8, inout ByteCursor) throws -> Void) throws -> Int {
        guard size - offset >= 9 else {
            throw MCAPError.truncated(path: path, offset: UInt64(offset), record: "record header")
        }
        let op = bytes[offset]
        let length = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 1, as: UInt64.self))
        let name = Self.name(op)
        guard length <= UInt64(size - offset - 9) else {
            throw MCAPError.truncated(path: path, offset: UInt64(offset), record: "\(name) of \(length) bytes")
        }
        let end = offset + 9 + Int(length)
        var c = cursor(offset + 9, end, record: name, at: offset)
        try body(op, &c)
        return end
    }

    private func parseSchema(_ c: inout ByteCursor) throws -> MCAPSchema {
        let id: UInt16 = try c.read("id")
        let name = try c.readString("name")
        let encoding = try c.readString("encoding")
        let n: UInt32 = try c.read("data length")
        return MCAPSchema(id: id, name: name, encoding: encoding, data: try c.readBytes(count: Int(n), "data"))
    }

    private func parseChannel(_ c: inout ByteCursor) throws -> MCAPChannel {
        MCAPChannel(id: try c.read("id"), schemaID: try c.read("schema_id"), topic: try c.readString("topic"),
                    messageEncoding: try c.readString("message_encoding"), metadata: try c.readStringMap("metadata"))
    }

    private func parseMessage(_ c: inout ByteCursor) throws -> MCAPMessage {
        MCAPMessage(channelID: try c.read("channel_id"), sequence: try c.read("sequence"), logTime: try c.read("log_time"),
                    publishTime: try c.read("publish_time"), data: try c.readBytes(count: c.remaining, "data"))
    }

    private func parseAttachment(_ c: inout ByteCursor, recordOffset: Int) throws -> MCAPAttachment {
        let start = c.position
        let logTime: UInt64 = try c.read("log_time")
        let createTime: UInt64 = try c.read("create_time")
        let name = try c.readString("name")
        let mediaType = try c.readString("media_type")
        let n: UInt64 = try c.read("data length")
        guard n <= UInt64(c.remaining) else { throw c.fail("data (\(n) bytes) runs past the end of the record") }
        let data = try c.readBytes(count: Int(n), "data")
        let crcEnd = c.position
        let stored: UInt32 = try c.read("crc")
        if stored != 0 {
            let computed = CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[start..<crcEnd]))
            if computed != stored {
                throw MCAPError.crcMismatch(path: path, offset: UInt64(recordOffset), record: "Attachment \"\(name)\"",
                                            stored: stored, computed: computed)
            }
        }
        return MCAPAttachment(logTime: logTime, createTime: createTime, name: name, mediaType: mediaType, data: data)
    }

    private func parseStatistics(_ c: inout ByteCursor) throws -> MCAPStatistics {
        var s = MCAPStatistics(
            messageCount: try c.read("message_count"), schemaCount: try c.read("schema_count"),
            channelCount: try c.read("channel_count"), attachmentCount: try c.read("attachment_count"),
            metadataCount: try c.read("metadata_count"), chunkCount: try c.read("chunk_count"),
            messageStartTime: try c.read("message_start_time"), messageEndTime: try c.read("message_end_time"),
            channelMessageCounts: [:])
        let n: UInt32 = try c.read("channel_message_counts length")
        let r = try c.readSlice(count: Int(n), "channel_message_counts")
        var m = ByteCursor(bytes, from: r.lowerBound, to: r.upperBound, path: path, fileOffset: c.fileOffset, record: c.record)
        while m.remaining > 0 {
            let id: UInt16 = try m.read("channel id")
            s.channelMessageCounts[id] = try m.read("message count")
        }
        return s
    }

    private func parseChunkIndex(_ c: inout ByteCursor) throws -> MCAPChunkIndex {
        let start: UInt64 = try c.read("message_start_time")
        let end: UInt64 = try c.read("message_end_time")
        let offset: UInt64 = try c.read("chunk_start_offset")
        let length: UInt64 = try c.read("chunk_length")
        let n: UInt32 = try c.read("message_index_offsets length")
        let r = try c.readSlice(count: Int(n), "message_index_offsets")
        var m = ByteCursor(bytes, from: r.lowerBound, to: r.upperBound, path: path, fileOffset: c.fileOffset, record: c.record)
        var offsets: [UInt16: UInt64] = [:]
        while m.remaining > 0 {
            let id: UInt16 = try m.read("channel id")
            offsets[id] = try m.read("offset")
        }
        return MCAPChunkIndex(
            messageStartTime: start, messageEndTime: end, chunkStartOffset: offset, chunkLength: length,
            messageIndexOffsets: offsets, messageIndexLength: try c.read("message_index_length"),
            compression: try c.readString("compression"), compressedSize: try c.read("compressed_size"),
            uncompressedSize: try c.read("uncompressed_size"))
    }

    /// Decompresses a chunk, checks its CRC and parses the records inside.
    /// Bounds on a zstd chunk's uncompressed size: any up to 64 MiB, beyond
    /// that at most 200 times its compressed size (recordings compress 5 to
    /// 20 times), never more than 4 GiB.
    static let chunkFloor = 64 << 20
    static let compressionRatioLimit = 200
    static let chunkCeiling = 4 << 30

    private func readChunk(_ c: inout ByteCursor, validateCRC: Bool) throws -> [MCAPRecord] {
        _ = try c.read("message_start_time", as: UInt64.self)
        _ = try c.read("message_end_time", as: UInt64.self)
        let uncompressedSize: UInt64 = try c.read("uncompressed_size")
        let storedCRC: UInt32 = try c.read("uncompressed_crc")
        let compression = try c.readString("compression")
        let n: UInt64 = try c.read("records length")
        guard n <= UInt64(c.remaining) else { throw c.fail("records (\(n) bytes) run past the end of the record") }
        let records = try c.readSlice(count: Int(n), "records")
        let source = UnsafeRawBufferPointer(rebasing: bytes[records])
        let data: UnsafeRawBufferPointer
        switch compression {
        case "":
            guard uncompressedSize == n else { throw c.fail("uncompressed chunk of \(n) bytes says uncompressed_size \(uncompressedSize)") }
            data = source
        case "zstd":
            // The size is the file's word, read before anything is decompressed:
            // a damaged or hostile one must not make the reader ask for a terabyte.
            let limit = max(UInt64(Self.chunkFloor), UInt64(Self.compressionRatioLimit) * n)
            guard uncompressedSize <= min(limit, UInt64(Self.chunkCeiling)) else {
                throw c.fail("uncompressed_size \(uncompressedSize) is implausible for \(n) compressed bytes (at most \(min(limit, UInt64(Self.chunkCeiling))))")
            }
            scratch.removeAll()
            guard scratch.tryReserve(Int(uncompressedSize)) else { throw c.fail("no memory for a chunk of \(uncompressedSize) bytes") }
            do {
                try decompressor.decompress(source, into: scratch.base, expected: Int(uncompressedSize))
            } catch let e as MCAPError {
                throw c.fail("\(e)")
            }
            scratch.count = Int(uncompressedSize)
            data = scratch.bytes
        default:
            throw MCAPError.unsupportedCompression(path: path, offset: c.fileOffset, compression: compression)
        }
        if validateCRC, storedCRC != 0 {
            let computed = CRC32.checksum(data)
            if computed != storedCRC {
                throw MCAPError.crcMismatch(path: path, offset: c.fileOffset, record: "Chunk", stored: storedCRC, computed: computed)
            }
        }
        var out: [MCAPRecord] = []
        var p = 0
        while p < data.count {
            guard data.count - p >= 9 else { throw c.fail("a record inside the chunk is cut off at chunk byte \(p)") }
            let op = data[p]
            let length = UInt64(littleEndian: data.loadUnaligned(fromByteOffset: p + 1, as: UInt64.self))
            guard length <= UInt64(data.count - p - 9) else { throw c.fail("a record inside the chunk (\(length) bytes at chunk byte \(p)) runs past its end") }
            let end = p + 9 + Int(length)
            var inner = ByteCursor(data, from: p + 9, to: end, path: path, fileOffset: c.fileOffset, record: "Chunk")
            switch MCAPOpcode(rawValue: op) {
            case .schema: out.append(.schema(try parseSchema(&inner)))
            case .channel: out.append(.channel(try parseChannel(&inner)))
            case .message: out.append(.message(try parseMessage(&inner)))
            default: break
            }
            p = end
        }
        return out
    }
}
