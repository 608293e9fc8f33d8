/// What `MCAPRecovery.recover` salvaged.
public struct MCAPRecoveryReport: Sendable, CustomStringConvertible {
    public var inputBytes: UInt64
    /// Bytes of the input through its last complete record.
    public var validBytes: UInt64
    public var inputWasComplete: Bool
    /// Why reading the input stopped, when it was not complete.
    public var stoppedBy: MCAPError?
    public var schemas = 0
    public var channels = 0
    public var messages = 0
    public var chunksRead = 0
    public var metadata = 0
    public var attachments = 0
    public var messageStartTime: UInt64 = 0
    public var messageEndTime: UInt64 = 0
    /// Corrupt chunks left out; the messages after them are kept.
    public var skippedChunks: [MCAPSkippedChunk] = []

    public var description: String {
        var s = "recovered \(messages) messages from \(chunksRead) chunks on \(channels) channels, "
            + "\(metadata) metadata and \(attachments) attachments; "
            + "\(validBytes) of \(inputBytes) bytes were complete records"
        if messages > 0 {
            s += "; messages span \(Double(messageEndTime - messageStartTime) / 1e9) s of log time"
        }
        for skipped in skippedChunks { s += "\n  left out a corrupt \(skipped)" }
        if let stoppedBy { s += "\n  the input ended early: \(stoppedBy)" }
        return s
    }
}

public enum MCAPRecovery {
    /// Rewrites `input` (typically a recording cut short by SIGKILL or power
    /// loss) into a valid, indexed file at `output`: every schema, channel,
    /// metadata record, attachment and message up to the last complete
    /// record, with their ids, and the original Header. A corrupt chunk in
    /// between (a flipped bit) is left out and reported; the rest is kept.
    @discardableResult
    public static func recover(input: String, output: String,
                               options: MCAPWriterOptions = MCAPWriterOptions()) throws -> MCAPRecoveryReport {
        guard input != output else { throw MCAPError.usage("recover: the output must be another file than the input \(input)") }
        let reader = try MCAPReader(path: input)
        var options = options
        let header = try reader.header()
        options.profile = header.profile
        options.library = header.library
        options.syncToDisk = false
        let writer = try MCAPWriter(path: output, options: options)
        var report = MCAPRecoveryReport(inputBytes: UInt64(reader.size), validBytes: 0, inputWasComplete: false)
        var schemas = Set<UInt16>()
        var channels = Set<UInt16>()
        var start = UInt64.max, end: UInt64 = 0
        let scan = try reader.scan(tolerant: true, skipCorruptChunks: true) { record in
            switch record {
            case .schema(let s):
                if schemas.insert(s.id).inserted {
                    try writer.addSchema(id: s.id, name: s.name, encoding: s.encoding, data: s.data)
                }
            case .channel(let c):
                if channels.insert(c.id).inserted {
                    try writer.addChannel(id: c.id, topic: c.topic, messageEncoding: c.messageEncoding,
                                          schemaID: c.schemaID, metadata: c.metadata)
                }
            case .message(let m):
                try writer.write(channel: m.channelID, sequence: m.sequence, logTime: m.logTime,
                                 publishTime: m.publishTime, data: m.data)
                start = min(start, m.logTime)
                end = max(end, m.logTime)
                report.messages += 1
            case .metadata(let m):
                try writer.addMetadata(name: m.name, m.metadata)
                report.metadata += 1
            case .attachment(let a):
                try writer.addAttachment(name: a.name, mediaType: a.mediaType, logTime: a.logTime,
                                         createTime: a.createTime, data: a.data)
                report.attachments += 1
            case .header, .chunkEnd, .dataEnd:
                break
            }
        }
        try writer.close()
        report.validBytes = scan.validBytes
        report.inputWasComplete = scan.complete
        report.stoppedBy = scan.stoppedBy
        report.schemas = schemas.count
        report.channels = channels.count
        report.chunksRead = scan.chunks
        report.skippedChunks = scan.skippedChunks
        if report.messages > 0 {
            report.messageStartTime = start
            report.messageEndTime = end
        }
        return report
    }
}
