// mcap-tool: the MCAP side of the Recording tests and a small file tool.
//   mcap-tool write-sample OUT [--messages N] [--chunk-size BYTES] [--compression zstd|none]
//       writes a deterministic session-like file (all spikeloop topics, metadata,
//       attachments) and prints its message counts per topic as JSON
//   mcap-tool recover IN OUT     rewrites a truncated file into a valid indexed one (JSON report)
//   mcap-tool dump IN            reads a file with the Swift reader; JSON counts and checksums
//   mcap-tool embed-descriptor PB SWIFT CONSTANT   regenerates Sources/Recording/Generated/*DescriptorSet.swift
import Recording
import SwiftProtobuf
import Wire

#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String) -> Never {
    let line = Array("mcap-tool: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(2)
}

func option(_ args: [String], _ name: String, default value: String) -> String {
    if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
    return value
}

func json(_ pairs: [(String, String)]) -> String {
    "{" + pairs.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default: out.unicodeScalars.append(c)
        }
    }
    return out + "\""
}

/// A deterministic session: 1 kHz ticks for `messages / 4` ticks.
func writeSample(path: String, messages: Int, chunkSize: Int, compression: MCAPCompression) throws {
    var options = MCAPWriterOptions()
    options.library = "spikeloop mcap-tool"
    options.chunkSize = chunkSize
    options.compression = compression
    options.syncToDisk = false
    let writer = try MCAPWriter(path: path, options: options)
    let ids = try SessionSchema.addChannels(to: writer)
    try writer.addMetadata(name: "session", ["version": "spikeloop test", "seed": "42", "tick_hz": "1000"])
    try writer.addAttachment(name: "configuration.yaml", mediaType: "application/yaml", logTime: 0, createTime: 0,
                             data: Array("tick_hz: 1000\nseed: 42\n".utf8))
    var counts: [String: Int] = [:]
    var sequence: [String: UInt32] = [:]
    func put(_ topic: String, _ time: UInt64, _ message: some SwiftProtobuf.Message) throws {
        try put(topic, time, bytes: try message.serializedBytes())
    }
    func put(_ topic: String, _ time: UInt64, bytes: [UInt8]) throws {
        let seq = sequence[topic, default: 0]
        sequence[topic] = seq + 1
        try writer.write(channel: ids[topic]!, sequence: seq, logTime: time, publishTime: time, data: bytes)
        counts[topic, default: 0] += 1
    }
    var total = 0
    var tick: UInt64 = 0
    while total < messages {
        let t = 1_000_000_000 + tick * 1_000_000
        var frame = Spikeloop_V1_SensorFrame()
        frame.protocolVersion = 1
        frame.sequence = tick
        frame.simTimeNs = Int64(tick * 1_000_000)
        frame.values = [Float(tick) * 0.5, -Float(tick), 1.0 / Float(tick + 1)]
        try put("/sensors", t, frame)
        var command = Spikeloop_V1_MotorCommand()
        command.protocolVersion = 1
        command.sequence = tick
        command.sensorSequence = tick
        command.values = [Float(tick % 7) - 3]
        try put("/motors/decoded", t + 1000, command)
        command.safeStop = tick % 100 == 99
        try put("/motors/sent", t + 2000, command)
        var spikes = Spikeloop_V1_SpikeBatch()
        spikes.population = "hidden"
        spikes.firstStep = tick * 10
        spikes.stepCount = 10
        spikes.neuron = (0..<UInt32(tick % 5)).map { $0 * 3 }
        spikes.stepOffset = (0..<UInt32(tick % 5)).map { $0 * 2 }
        spikes.dtNs = 100_000
        try put("/spikes", t + 3000, spikes)
        total += 4
        if tick % 1000 == 999 {
            var stats = Spikeloop_V1_LoopStats()
            stats.ticks = tick + 1
            stats.tickHz = 1000
            stats.tickNsP50 = 12_000
            try put("/loop_stats", t + 4000, stats)
            var event = Spikeloop_V1_Event()
            event.timeNs = Int64(t)
            event.kind = "overrun"
            event.message = "tick \(tick) overran"
            try put("/events", t + 5000, event)
            try put("/log", t + 5000, bytes: SessionSchema.foxgloveLog(timestamp: t, level: .warning, message: event.message, name: event.kind))
            total += 3
        }
        tick += 1
    }
    try writer.close()
    print(json(counts.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") }
        + [("messages", "\(total)"), ("chunks", "\(writer.chunkCount)"), ("bytes", "\(writer.bytesWritten)")]))
}

func readFile(_ path: String) throws -> [UInt8] {
    guard let f = fopen(path, "rb") else { throw MCAPError.io(path: path, operation: "open", errno: errno) }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&buffer, 1, buffer.count, f)
        if n == 0 { break }
        bytes.append(contentsOf: buffer[..<n])
    }
    return bytes
}

/// The FileDescriptorSet without its source info (the .proto's comments and
/// positions): every Schema record of a recording carries it, and it is read
/// to decode, not to document (the .proto is the documentation).
func strippedDescriptorSet(_ bytes: [UInt8]) throws -> [UInt8] {
    var set = try Google_Protobuf_FileDescriptorSet(serializedBytes: bytes)
    for i in set.file.indices { set.file[i].clearSourceCodeInfo() }
    return try set.serializedBytes()
}

/// Writes the Swift source that embeds a FileDescriptorSet (stripped) as
/// wrapped base64, in the constant `name`.
func embedDescriptor(from input: String, to output: String, name: String) throws {
    let data = try strippedDescriptorSet(readFile(input))
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var b64: [UInt8] = []
    var i = 0
    while i < data.count {
        let n = min(3, data.count - i)
        var v = UInt32(data[i]) << 16
        if n > 1 { v |= UInt32(data[i + 1]) << 8 }
        if n > 2 { v |= UInt32(data[i + 2]) }
        for k in 0..<4 { b64.append(k <= n ? alphabet[Int((v >> UInt32(18 - 6 * k)) & 63)] : UInt8(ascii: "=")) }
        i += 3
    }
    var lines: [String] = []
    var j = 0
    while j < b64.count {
        lines.append(String(decoding: b64[j..<min(j + 100, b64.count)], as: UTF8.self))
        j += 100
    }
    let text = """
        // Generated from \(input) (a binary FileDescriptorSet, without source
        // info: \(data.count) bytes) — do not edit. Regenerate with
        //   swift run mcap-tool embed-descriptor \(input) \(output) \(name)
        // RecordingTests fails when this copy differs from \(input).

        let \(name) = \"\"\"
        \(lines.joined(separator: "\n"))
        \"\"\"

        """
    guard let f = fopen(output, "wb") else { throw MCAPError.io(path: output, operation: "open for writing", errno: errno) }
    defer { fclose(f) }
    let bytes = Array(text.utf8)
    guard fwrite(bytes, 1, bytes.count, f) == bytes.count else { throw MCAPError.io(path: output, operation: "write", errno: errno) }
}

let args = Array(CommandLine.arguments.dropFirst())
guard let command = args.first else { fail("usage: mcap-tool write-sample|recover|dump|embed-descriptor …") }
do {
    switch command {
    case "write-sample":
        guard args.count >= 2 else { fail("usage: mcap-tool write-sample OUT [--messages N] [--chunk-size BYTES] [--compression zstd|none]") }
        let n = Int(option(args, "--messages", default: "10000")) ?? 10000
        let chunk = Int(option(args, "--chunk-size", default: "65536")) ?? 65536
        guard let compression = MCAPCompression(rawValue: option(args, "--compression", default: "zstd") == "none" ? "" : "zstd") else { fail("bad --compression") }
        try writeSample(path: args[1], messages: n, chunkSize: chunk, compression: compression)
    case "recover":
        guard args.count == 3 else { fail("usage: mcap-tool recover IN OUT") }
        let r = try MCAPRecovery.recover(input: args[1], output: args[2])
        print(json([("messages", "\(r.messages)"), ("chunks_read", "\(r.chunksRead)"), ("channels", "\(r.channels)"),
                    ("metadata", "\(r.metadata)"), ("attachments", "\(r.attachments)"),
                    ("valid_bytes", "\(r.validBytes)"), ("input_bytes", "\(r.inputBytes)"),
                    ("complete", "\(r.inputWasComplete)"),
                    ("stopped_by", r.stoppedBy.map { jsonString("\($0)") } ?? "null")]))
    case "dump":
        guard args.count == 2 else { fail("usage: mcap-tool dump IN") }
        let reader = try MCAPReader(path: args[1])
        let all = try reader.readAll()
        var counts: [String: Int] = [:]
        var checksum: UInt64 = 0
        for m in all.messages {
            counts[all.channels[m.channelID]?.topic ?? "?", default: 0] += 1
            checksum = checksum &* 31 &+ UInt64(CRC32.checksum(m.data)) &+ m.logTime
        }
        var indexed = 0
        try reader.forEachMessage { _ in indexed += 1 }
        print(json([("topics", json(counts.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") })),
                    ("messages", "\(all.messages.count)"), ("indexed_messages", "\(indexed)"),
                    ("checksum", "\(checksum)"), ("metadata", "\(all.metadata.count)"),
                    ("attachments", "\(all.attachments.count)"),
                    ("library", jsonString(all.header?.library ?? ""))]))
    case "embed-descriptor":
        guard args.count == 4 else { fail("usage: mcap-tool embed-descriptor PB SWIFT CONSTANT") }
        try embedDescriptor(from: args[1], to: args[2], name: args[3])
    default:
        fail("unknown command \(command)")
    }
} catch {
    fail("\(error)")
}
