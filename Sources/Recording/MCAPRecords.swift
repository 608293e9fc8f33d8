// Parsed MCAP records, as the reader hands them out.

public struct MCAPHeader: Sendable, Equatable {
    public init(profile: String, library: String) {
        self.profile = profile
        self.library = library
    }

    public var profile: String
    public var library: String
}

public struct MCAPSchema: Sendable, Equatable {
    public init(id: UInt16, name: String, encoding: String, data: [UInt8]) {
        self.id = id
        self.name = name
        self.encoding = encoding
        self.data = data
    }

    public var id: UInt16
    public var name: String
    public var encoding: String
    public var data: [UInt8]
}

public struct MCAPChannel: Sendable, Equatable {
    public init(id: UInt16, schemaID: UInt16, topic: String, messageEncoding: String, metadata: [String: String]) {
        self.id = id
        self.schemaID = schemaID
        self.topic = topic
        self.messageEncoding = messageEncoding
        self.metadata = metadata
    }

    public var id: UInt16
    public var schemaID: UInt16
    public var topic: String
    public var messageEncoding: String
    public var metadata: [String: String]
}

public struct MCAPMessage: Sendable, Equatable {
    public init(channelID: UInt16, sequence: UInt32, logTime: UInt64, publishTime: UInt64, data: [UInt8]) {
        self.channelID = channelID
        self.sequence = sequence
        self.logTime = logTime
        self.publishTime = publishTime
        self.data = data
    }

    public var channelID: UInt16
    public var sequence: UInt32
    public var logTime: UInt64
    public var publishTime: UInt64
    public var data: [UInt8]
}

public struct MCAPMetadata: Sendable, Equatable {
    public init(name: String, metadata: [String: String]) {
        self.name = name
        self.metadata = metadata
    }

    public var name: String
    public var metadata: [String: String]
}

public struct MCAPAttachment: Sendable, Equatable {
    public init(logTime: UInt64, createTime: UInt64, name: String, mediaType: String, data: [UInt8]) {
        self.logTime = logTime
        self.createTime = createTime
        self.name = name
        self.mediaType = mediaType
        self.data = data
    }

    public var logTime: UInt64
    public var createTime: UInt64
    public var name: String
    public var mediaType: String
    public var data: [UInt8]
}

public struct MCAPStatistics: Sendable, Equatable {
    public var messageCount: UInt64
    public var schemaCount: UInt16
    public var channelCount: UInt32
    public var attachmentCount: UInt32
    public var metadataCount: UInt32
    public var chunkCount: UInt32
    public var messageStartTime: UInt64
    public var messageEndTime: UInt64
    public var channelMessageCounts: [UInt16: UInt64]
}

public struct MCAPChunkIndex: Sendable, Equatable {
    public var messageStartTime: UInt64
    public var messageEndTime: UInt64
    public var chunkStartOffset: UInt64
    public var chunkLength: UInt64
    public var messageIndexOffsets: [UInt16: UInt64]
    public var messageIndexLength: UInt64
    public var compression: String
    public var compressedSize: UInt64
    public var uncompressedSize: UInt64
}

public struct MCAPAttachmentIndex: Sendable, Equatable {
    public var offset: UInt64
    public var length: UInt64
    public var logTime: UInt64
    public var createTime: UInt64
    public var dataSize: UInt64
    public var name: String
    public var mediaType: String
}

public struct MCAPMetadataIndex: Sendable, Equatable {
    public var offset: UInt64
    public var length: UInt64
    public var name: String
}

/// The summary section of an indexed file.
public struct MCAPSummary: Sendable {
    public var schemas: [UInt16: MCAPSchema] = [:]
    public var channels: [UInt16: MCAPChannel] = [:]
    public var statistics: MCAPStatistics?
    public var chunkIndexes: [MCAPChunkIndex] = []
    public var attachmentIndexes: [MCAPAttachmentIndex] = []
    public var metadataIndexes: [MCAPMetadataIndex] = []
    /// (group opcode, start, length) of every SummaryOffset record.
    public var summaryOffsets: [(opcode: UInt8, start: UInt64, length: UInt64)] = []
}

/// A record met by a linear scan. Schemas, channels and messages inside chunks
/// are handed out one by one (after their chunk's CRC was checked); summary
/// records after DataEnd are not.
public enum MCAPRecord: Sendable {
    case header(MCAPHeader)
    case schema(MCAPSchema)
    case channel(MCAPChannel)
    case message(MCAPMessage)
    case metadata(MCAPMetadata)
    case attachment(MCAPAttachment)
    /// A whole chunk was read (after its messages): offset, message count.
    case chunkEnd(offset: UInt64, messages: Int)
    case dataEnd(dataSectionCRC: UInt32)
}

/// How a linear scan ended.
public struct MCAPScanResult: Sendable {
    /// The file ends with DataEnd, a Footer and the closing magic.
    public var complete: Bool
    /// Bytes from the start of the file through the last complete record read.
    public var validBytes: UInt64
    public var fileSize: UInt64
    /// Why the scan stopped early (only when scanning `tolerant`ly).
    public var stoppedBy: MCAPError?
    public var chunks = 0
    public var messages = 0
    /// Corrupt chunks passed over (`skipCorruptChunks`), in file order.
    public var skippedChunks: [MCAPSkippedChunk] = []
}

/// A chunk whose framing was intact but whose content was not (CRC,
/// compression, records): its messages are lost.
public struct MCAPSkippedChunk: Sendable, CustomStringConvertible {
    public var offset: UInt64
    public var length: UInt64
    /// The log times the chunk says its messages span (nil when those bytes
    /// are unreadable too).
    public var messageStartTime: UInt64?
    public var messageEndTime: UInt64?
    public var reason: MCAPError

    public var description: String {
        let span = messageStartTime.flatMap { a in messageEndTime.map { b in
            "log time \(Double(a) / 1e9)–\(Double(b) / 1e9) s (\(Double(b &- a) / 1e9) s) lost" } } ?? "its time range is unreadable"
        return "chunk at byte \(offset) (\(length) bytes): \(span): \(reason)"
    }
}
