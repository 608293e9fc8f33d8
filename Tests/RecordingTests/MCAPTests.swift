import CAllocationCounter
import Foundation
import Recording
import SwiftProtobuf
import Testing
import Wire

#if DEBUG
let optimised = false
#else
let optimised = true
#endif

/// A fresh path in a per-test directory.
func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recording-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent("\(UUID().uuidString.prefix(8))-\(name)").path
}

/// Deterministic pseudo-random numbers (SplitMix64).
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Writes `count` messages spread over four channels (sizes 0 … 400 bytes),
/// with metadata and an attachment; returns the messages as written.
@discardableResult
func writeSession(_ path: String, count: Int, compression: MCAPCompression = .zstd, chunkSize: Int = 16 << 10,
                  seed: UInt64 = 1) throws -> [MCAPMessage] {
    var options = MCAPWriterOptions()
    options.compression = compression
    options.chunkSize = chunkSize
    options.syncToDisk = false
    options.library = "spikeloop test"
    let writer = try MCAPWriter(path: path, options: options)
    let ids = try SessionSchema.addChannels(to: writer, topics: Array(SessionSchema.topics.prefix(4)))
    let channelIDs = ids.values.sorted()
    try writer.addMetadata(name: "session", ["seed": "42", "version": "test"])
    try writer.addAttachment(name: "weights.bin", mediaType: "application/octet-stream", logTime: 5, createTime: 6,
                             data: (0..<1000).map { UInt8($0 % 251) })
    var rng = SplitMix(state: seed)
    var written: [MCAPMessage] = []
    var sequences = [UInt16: UInt32]()
    for i in 0..<count {
        let channel = channelIDs[Int(rng.next() % UInt64(channelIDs.count))]
        let size = Int(rng.next() % 401)
        let data = (0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next() % 16) }  // compressible
        let t = 1_000_000_000 + UInt64(i) * 250_000
        let seq = sequences[channel, default: 0]
        sequences[channel] = seq + 1
        let m = MCAPMessage(channelID: channel, sequence: seq, logTime: t, publishTime: t + 7, data: data)
        try writer.write(channel: m.channelID, sequence: m.sequence, logTime: m.logTime, publishTime: m.publishTime, data: m.data)
        written.append(m)
    }
    try writer.close()
    return written
}

@Suite struct MCAPRoundTripTests {
    @Test(arguments: [MCAPCompression.zstd, .none])
    func writtenMessagesReadBackIdentical(compression: MCAPCompression) throws {
        let path = temporaryPath("roundtrip.mcap")
        let written = try writeSession(path, count: 20_000, compression: compression)
        let reader = try MCAPReader(path: path)
        #expect(try reader.header() == MCAPHeader(profile: "", library: "spikeloop test"))

        let all = try reader.readAll()
        #expect(all.scan?.complete == true)
        #expect(all.messages == written)
        #expect(all.channels.count == 4)
        #expect(Set(all.channels.values.map(\.topic)) == ["/sensors", "/motors/decoded", "/motors/sent", "/spikes"])
        #expect(all.schemas.count == 3)  // SensorFrame, MotorCommand (shared), SpikeBatch
        #expect(all.schemas.values.allSatisfy { $0.data == SessionSchema.descriptorSet && $0.encoding == "protobuf" })
        #expect(all.metadata == [MCAPMetadata(name: "session", metadata: ["seed": "42", "version": "test"])])
        #expect(all.attachments.count == 1)
        #expect(all.attachments.first?.data == (0..<1000).map { UInt8($0 % 251) })

        var indexed: [MCAPMessage] = []
        try reader.forEachMessage { indexed.append($0) }
        #expect(indexed == written)

        let summary = try #require(try reader.summary())
        let stats = try #require(summary.statistics)
        #expect(stats.messageCount == 20_000)
        #expect(stats.channelCount == 4 && stats.schemaCount == 3 && stats.attachmentCount == 1 && stats.metadataCount == 1)
        #expect(Int(stats.chunkCount) == summary.chunkIndexes.count)
        #expect(stats.chunkCount > 100)  // 20,000 × ~210 B in 16 KiB chunks
        #expect(stats.messageStartTime == 1_000_000_000)
        #expect(stats.messageEndTime == 1_000_000_000 + 19_999 * 250_000)
        #expect(stats.channelMessageCounts.values.reduce(0, +) == 20_000)
        #expect(summary.chunkIndexes.allSatisfy { $0.compression == compression.rawValue })
        #expect(summary.attachmentIndexes.map(\.name) == ["weights.bin"])
        #expect(summary.metadataIndexes.map(\.name) == ["session"])
        // One SummaryOffset per group: schema, channel, statistics, chunk index, attachment index, metadata index.
        #expect(summary.summaryOffsets.map(\.opcode) == [0x03, 0x04, 0x0B, 0x08, 0x0A, 0x0D])
        if compression == .zstd {
            let compressed = summary.chunkIndexes.reduce(0) { $0 + $1.compressedSize }
            let raw = summary.chunkIndexes.reduce(0) { $0 + $1.uncompressedSize }
            #expect(compressed * 10 < raw * 7)  // 4-bit payloads compress to well under 70 %
        }
    }

    @Test func emptyFileIsValid() throws {
        let path = temporaryPath("empty.mcap")
        try MCAPWriter(path: path).close()
        let reader = try MCAPReader(path: path)
        let all = try reader.readAll()
        #expect(all.scan?.complete == true && all.messages.isEmpty)
        #expect(try reader.summary()?.statistics?.messageCount == 0)
    }

    @Test func descriptorSetIsTheCommittedOne() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var committed = try Google_Protobuf_FileDescriptorSet(serializedBytes: [UInt8](Data(contentsOf: root.appendingPathComponent("Proto/spikeloop.v1.pb"))))
        for i in committed.file.indices { committed.file[i].clearSourceCodeInfo() }
        #expect(SessionSchema.descriptorSet == (try committed.serializedBytes()), "regenerate Sources/Recording/Generated/DescriptorSet.swift with mcap-tool embed-descriptor")
        // Without the .proto's comments: a few kB per Schema record, not 24.
        #expect(SessionSchema.descriptorSet.count < 8000)
        let foxglove = try [UInt8](Data(contentsOf: root.appendingPathComponent("Proto/foxglove.Log.pb")))
        #expect(SessionSchema.foxgloveLogDescriptorSet == foxglove)
        #expect(SessionSchema.sensors.messageName == Spikeloop_V1_SensorFrame.protoMessageName)
        #expect(SessionSchema.motorsSent.messageName == Spikeloop_V1_MotorCommand.protoMessageName)
        #expect(SessionSchema.spikes.messageName == Spikeloop_V1_SpikeBatch.protoMessageName)
        #expect(SessionSchema.loopStats.messageName == Spikeloop_V1_LoopStats.protoMessageName)
        #expect(SessionSchema.events.messageName == Spikeloop_V1_Event.protoMessageName)
    }

    @Test func crc32MatchesKnownValues() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
        var split = CRC32()
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        split.update(Array(bytes[..<333]))
        split.update(Array(bytes[333...]))
        #expect(split.value == CRC32.checksum(bytes))
    }
}

@Suite struct MCAPCorruptionTests {
    @Test func flippedByteInAChunkIsACRCMismatch() throws {
        let path = temporaryPath("corrupt.mcap")
        try writeSession(path, count: 2000, compression: .none)
        let summary = try #require(try MCAPReader(path: path).summary())
        let chunk = summary.chunkIndexes[3]
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[Int(chunk.chunkStartOffset + chunk.chunkLength) - 5] ^= 0x40  // inside a message's data
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let reader = try MCAPReader(path: path)
        #expect(throws: MCAPError.self) { try reader.readAll() }
        do {
            _ = try reader.readAll()
        } catch let e as MCAPError {
            guard case .crcMismatch(_, let offset, let record, let stored, let computed) = e else {
                Issue.record("expected a CRC mismatch, got \(e)")
                return
            }
            #expect(offset == chunk.chunkStartOffset && record == "Chunk" && stored != computed)
            #expect("\(e)".contains("CRC mismatch in Chunk at byte \(chunk.chunkStartOffset)"))
        }
        // The indexed path checks it too.
        #expect(throws: MCAPError.self) { try reader.forEachMessage { _ in } }
    }

    @Test func flippedByteInAnAttachmentOrTheSummaryIsACRCMismatch() throws {
        let path = temporaryPath("corrupt-attachment.mcap")
        try writeSession(path, count: 100)
        let summary = try #require(try MCAPReader(path: path).summary())
        let attachment = try #require(summary.attachmentIndexes.first)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[Int(attachment.offset + attachment.length) - 100] ^= 1
        let statsGroup = try #require(summary.summaryOffsets.first { $0.opcode == 0x0B })
        bytes[Int(statsGroup.start) + 9] ^= 1  // message_count in Statistics
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let reader = try MCAPReader(path: path)
        #expect { try reader.readAll() } throws: { e in
            "\(e)".contains("CRC mismatch in Attachment \"weights.bin\" at byte \(attachment.offset)")
        }
        #expect { try reader.summary() } throws: { e in
            "\(e)".contains("CRC mismatch in summary section at byte \(statsGroup.start - 0)") || "\(e)".contains("CRC mismatch in summary section")
        }
    }

    @Test func notAnMCAPFile() throws {
        let path = temporaryPath("not.mcap")
        try Data("hello world, not mcap".utf8).write(to: URL(fileURLWithPath: path))
        #expect { _ = try MCAPReader(path: path) } throws: { "\($0)".contains("not an MCAP file") }
    }
}

@Suite struct MCAPTruncationTests {
    /// Messages of the chunks that lie wholly before `cut`.
    func expectedBefore(_ cut: UInt64, written: [MCAPMessage], summary: MCAPSummary) -> [MCAPMessage] {
        let complete = summary.chunkIndexes.filter { $0.chunkStartOffset + $0.chunkLength <= cut }
        let last = complete.map(\.messageEndTime).max() ?? 0
        return complete.isEmpty ? [] : written.filter { $0.logTime <= last }
    }

    @Test func linearScanOfATruncatedFileReadsEveryCompleteChunk() throws {
        let path = temporaryPath("full.mcap")
        let written = try writeSession(path, count: 5000)
        let summary = try #require(try MCAPReader(path: path).summary())
        let full = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        var rng = SplitMix(state: 9)
        var cuts: [UInt64] = [summary.chunkIndexes[5].chunkStartOffset,           // at a chunk's start
                              summary.chunkIndexes[5].chunkStartOffset + 20,      // inside its header
                              summary.chunkIndexes[5].chunkStartOffset + summary.chunkIndexes[5].chunkLength]  // just after it
        let firstChunk = summary.chunkIndexes[0].chunkStartOffset  // schemas, channels, metadata, attachment before it
        for _ in 0..<20 { cuts.append(firstChunk + rng.next() % (UInt64(full.count) - firstChunk)) }
        for cut in cuts {
            let truncated = temporaryPath("cut-\(cut).mcap")
            try Data(full[..<Int(cut)]).write(to: URL(fileURLWithPath: truncated))
            let reader = try MCAPReader(path: truncated)
            #expect(try reader.summary() == nil)
            #expect(throws: MCAPError.self) { try reader.readAll() }
            let all = try reader.readAll(tolerant: true)
            let expected = cut >= summary.chunkIndexes.last!.chunkStartOffset + summary.chunkIndexes.last!.chunkLength
                ? written : expectedBefore(cut, written: written, summary: summary)
            #expect(all.messages == expected, "cut at \(cut)")
            #expect(all.scan?.complete == false)
            #expect(all.channels.count == 4)

            let recovered = temporaryPath("recovered-\(cut).mcap")
            let report = try MCAPRecovery.recover(input: truncated, output: recovered)
            #expect(report.messages == expected.count)
            let back = try MCAPReader(path: recovered)
            let stats = try #require(try back.summary()?.statistics)
            #expect(stats.messageCount == UInt64(expected.count))
            var indexed: [MCAPMessage] = []
            try back.forEachMessage { indexed.append($0) }
            #expect(indexed == expected)
            let again = try back.readAll()
            #expect(again.scan?.complete == true)
            #expect(again.channels == all.channels)
            #expect(again.metadata.count == 1 && again.attachments.count == 1)
        }
    }
}

@Suite struct MCAPFlushTests {
    final class ManualClock: @unchecked Sendable {
        var now: UInt64 = 0
    }

    @Test func chunkClosesAfterOneSecondAndIsInTheFile() throws {
        let clock = ManualClock()
        var options = MCAPWriterOptions()
        options.clock = { clock.now }
        options.syncToDisk = false
        let path = temporaryPath("flush.mcap")
        let writer = try MCAPWriter(path: path, options: options)
        let sensors = try SessionSchema.addChannels(to: writer)["/sensors"]!
        clock.now = 5_000_000_000
        for i in 0..<100 {
            try writer.write(channel: sensors, sequence: UInt32(i), logTime: UInt64(i), publishTime: UInt64(i), data: [1, 2, 3])
        }
        let before = writer.bytesWritten
        #expect(try writer.flush(now: 5_999_999_999) == false)
        #expect(writer.bytesWritten == before && writer.chunkCount == 0)
        #expect(try writer.flush(now: 6_000_000_000) == true)
        #expect(writer.chunkCount == 1 && writer.bytesWritten > before)
        #expect(try writer.flush(now: 9_000_000_000) == false)  // nothing open

        // What a crash right now would leave: the closed chunk, readable.
        let snapshot = try MCAPReader(path: path).readAll(tolerant: true)
        #expect(snapshot.messages.count == 100)
        #expect(snapshot.scan?.complete == false)
        try writer.close()
        #expect(try MCAPReader(path: path).readAll().messages.count == 100)
    }

    @Test(.enabled(if: optimised, "allocation counts are meaningful in optimised builds: swift test -c release"))
    func writingAMessageDoesNotAllocateAfterWarmUp() throws {
        var options = MCAPWriterOptions()
        options.syncToDisk = false
        options.chunkSize = 256 << 10
        let writer = try MCAPWriter(path: temporaryPath("alloc.mcap"), options: options)
        let ids = try SessionSchema.addChannels(to: writer)
        let payload = [UInt8](repeating: 7, count: 100)
        let channels = Array(ids.values)
        func burst(_ n: Int, from: Int) throws {
            try payload.withUnsafeBytes { p in
                for i in from..<(from + n) {
                    try writer.write(channel: channels[i % channels.count], sequence: UInt32(i), logTime: UInt64(i),
                                     publishTime: UInt64(i), data: p)
                }
            }
        }
        try burst(20_000, from: 0)   // warm-up: several chunks, index arrays at their size
        try writer.closeChunk()
        sl_alloc_counting_begin()
        try burst(1_500, from: 20_000)  // one chunk's worth, no close (~190 KB < 256 KiB)
        let allocations = sl_alloc_counting_end()
        #expect(allocations == 0)
        try writer.close()
    }

    @Test func writeThroughput() throws {
        var options = MCAPWriterOptions()
        options.syncToDisk = false
        let path = temporaryPath("speed.mcap")
        let writer = try MCAPWriter(path: path, options: options)
        let ids = try SessionSchema.addChannels(to: writer)
        let spikes = ids["/spikes"]!
        var rng = SplitMix(state: 3)
        let payload = (0..<200).map { _ in UInt8(truncatingIfNeeded: rng.next() % 64) }
        let n = 200_000
        let start = MCAPWriterOptions.monotonicNanoseconds()
        try payload.withUnsafeBytes { p in
            for i in 0..<n {
                try writer.write(channel: spikes, sequence: UInt32(i), logTime: UInt64(i) * 1000, publishTime: 0, data: p)
            }
        }
        try writer.close()
        let seconds = Double(MCAPWriterOptions.monotonicNanoseconds() - start) / 1e9
        let megabytes = Double(n * (200 + 31)) / 1e6
        print("MCAP write (zstd 3, 1 MiB chunks): \(n) messages of 200 B, \(Int(megabytes / seconds)) MB/s of records, "
            + "\(Int(Double(n) / seconds)) messages/s, file \(writer.bytesWritten) B")
        #expect(megabytes / seconds > (optimised ? 50 : 2))
        var count = 0
        try MCAPReader(path: path).forEachMessage { _ in count += 1 }
        #expect(count == n)
    }
}
