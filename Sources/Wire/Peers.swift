// Small protocol peers used by the interop tests, the bad-input flood test
// and the latency benchmark. They are functions so that the `spikeloop`
// executable can expose them as subcommands; `wire-peer` calls them for now.
//
// Every peer prints one summary line of `key=value` pairs at the end, which
// the Python tests parse.

#if canImport(Glibc)
import Glibc
#endif

/// The layout of the test peers: robot "wire-test", sensors s0…s(n-1) and
/// motors m0…m(n-1), unit "1", each in [-range, range] (range 0: unbounded).
/// `spikeloop_client.testing.test_layout` builds the same one.
public func testLayout(channels: Int, range: Float = 0) -> Spikeloop_V1_RobotLayout {
    let sensors = (0..<channels).map { (name: "s\($0)", unit: "1", min: -range, max: range) }
    let motors = (0..<channels).map { (name: "m\($0)", unit: "1", min: -range, max: range) }
    return .make(robot: "wire-test", sensors: sensors, motors: motors)
}

/// SplitMix64: the deterministic generator of the test pattern.
@inline(__always)
public func splitMix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// The value of channel `index` in frame `sequence` of the test pattern: an
/// arbitrary finite float (any sign, exponent, subnormals, ±0), the same in
/// Python (`spikeloop_client.testing.pattern_value`).
@inline(__always)
public func patternValue(sequence: UInt64, index: Int) -> Float {
    var bits = UInt32(truncatingIfNeeded: splitMix64(sequence &* 1_000_003 &+ UInt64(index)) >> 32)
    if (bits >> 23) & 0xFF == 0xFF { bits ^= 0x0080_0000 }
    return Float(bitPattern: bits)
}

/// Nanoseconds of CLOCK_MONOTONIC.
@inline(__always)
public func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// Receive buffer size of the peers: frames larger than this are "oversized".
public let peerReceiveBufferSize = 64 * 1024

/// Lockstep controller side (REP, binds): answers every SensorFrame with a
/// MotorCommand echoing its values (safe_stop and no values for rejected
/// input), until `frames` valid frames were answered or a frame with
/// estop = true arrives. Returns the summary line.
public func runLockstepEchoServer(endpoint: String, channels: Int, range: Float, frames: Int,
                                  security: WireSecurity = .none, insecure: Bool = false,
                                  authorizedClientKeys: [String]? = nil,
                                  log: @escaping (String) -> Void = { _ in }) throws -> String {
    let context = try ZMQContext()
    let authenticator = try authorizedClientKeys.map { try CurveAuthenticator(context: context, allowedClientKeys: $0) }
    defer { authenticator?.stop() }
    let socket = try ZMQSocket(context, .rep)
    try socket.setMaxMessageSize(1 << 20)
    try socket.bind(endpoint, security: security, insecure: insecure)
    let bound = try socket.lastEndpoint
    log("listening on \(bound)")

    let layout = testLayout(channels: channels, range: range)
    let validator = SensorFrameValidator(layoutHash: layout.layoutHash, channelCount: channels,
                                         ranges: layout.sensorRanges)
    let rejectionLog = RejectionLog(counters: validator.counters, source: "sensor socket \(bound)",
                                    channelNames: layout.sensors.map(\.name), ranges: layout.sensorRanges, emit: log)
    let frame = validator.makeFrameBuffer()
    let command = MotorCommandBuffer(capacity: channels)
    let receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: peerReceiveBufferSize, alignment: 16)
    let sendBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 + 4 * channels, alignment: 16)
    defer { receiveBuffer.deallocate(); sendBuffer.deallocate() }

    var answered = 0
    var commandSequence: UInt64 = 0
    var lastSequence: UInt64 = 0
    var outOfOrder = 0
    var stop = false
    while answered < frames && !stop {
        guard let received = try socket.receive(into: receiveBuffer, .wait) else { continue }
        if received.more { try socket.discardRemainingParts() }
        let reason = validator.accept(received, buffer: UnsafeRawBufferPointer(receiveBuffer), into: frame)
        commandSequence += 1
        command.reset()
        command.protocolVersion = wireProtocolVersion
        command.layoutHash = layout.layoutHash
        command.sequence = commandSequence
        command.senderTimeNs = monotonicNanoseconds()
        if reason == nil {
            if frame.sequence != lastSequence + 1 { outOfOrder += 1 }
            lastSequence = frame.sequence
            command.sensorSequence = frame.sequence
            command.simTimeNs = frame.simTimeNs
            command.valueCount = channels
            command.values.update(from: frame.values, count: channels)
            command.safeStop = frame.estop
            answered += 1
            stop = frame.estop
        } else {
            command.safeStop = true
            rejectionLog.poll(nowNs: monotonicNanoseconds())
        }
        let size = HotCodec.encode(command, into: sendBuffer)!
        _ = try socket.send(UnsafeRawBufferPointer(rebasing: sendBuffer[0..<size]), .wait)
    }
    rejectionLog.poll(nowNs: Int64.max)
    let counters = validator.counters
    var line = "refused_clients=\(authenticator?.refused ?? 0) answered=\(answered) last_sequence=\(lastSequence) out_of_order=\(outOfOrder) accepted=\(counters.accepted)"
    for reason in RejectReason.allCases {
        line += " \(reason.description.replacingSpaces)=\(counters.count(reason))"
    }
    return line
}

/// Lockstep simulator side (REQ, connects): sends `frames` frames of the
/// test pattern and checks that every MotorCommand echoes the values bit for
/// bit and answers the right sequence. Returns the summary line.
public func runLockstepClient(endpoint: String, channels: Int, frames: Int, timeoutMs: Int32 = 5000,
                              security: WireSecurity = .none) throws -> String {
    let context = try ZMQContext()
    let socket = try ZMQSocket(context, .req)
    try socket.setReceiveTimeout(milliseconds: timeoutMs)
    try socket.connect(endpoint, security: security)
    let layout = testLayout(channels: channels)
    let frame = SensorFrameBuffer(capacity: channels)
    let command = MotorCommandBuffer(capacity: channels + 1)
    let sendBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 + 4 * channels, alignment: 16)
    let receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: peerReceiveBufferSize, alignment: 16)
    defer { receiveBuffer.deallocate(); sendBuffer.deallocate() }

    var received = 0, mismatches = 0, badSequence = 0, timeouts = 0
    for i in 1...max(frames, 1) where i <= frames {
        let sequence = UInt64(i)
        frame.reset()
        frame.protocolVersion = wireProtocolVersion
        frame.layoutHash = layout.layoutHash
        frame.sequence = sequence
        frame.senderTimeNs = monotonicNanoseconds()
        frame.simTimeNs = Int64(i) * 1_000_000
        frame.valueCount = channels
        for c in 0..<channels { frame.values[c] = patternValue(sequence: sequence, index: c) }
        if i % 7 == 0 { frame.reward = patternValue(sequence: sequence, index: 10_000) }
        let size = HotCodec.encode(frame, into: sendBuffer)!
        _ = try socket.send(UnsafeRawBufferPointer(rebasing: sendBuffer[0..<size]), .wait)
        guard let reply = try socket.receive(into: receiveBuffer, .wait) else { timeouts += 1; break }
        received += 1
        if reply.truncated || HotCodec.decode(UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<reply.byteCount]), into: command) != nil {
            mismatches += 1
            continue
        }
        if command.sensorSequence != sequence || command.layoutHash != layout.layoutHash
            || command.simTimeNs != frame.simTimeNs { badSequence += 1 }
        if command.valueCount != channels { mismatches += 1; continue }
        for c in 0..<channels where command.values[c].bitPattern != frame.values[c].bitPattern {
            mismatches += 1
            break
        }
    }
    return "sent=\(frames) received=\(received) mismatches=\(mismatches) bad_sequence=\(badSequence) timeouts=\(timeouts)"
}

/// Realtime controller side: SUB (CONFLATE, binds `framesEndpoint`) takes
/// the newest frame, PUB (binds `commandsEndpoint`) answers every new frame
/// with an echo. Stops after answering frame `untilSequence` or after
/// `timeoutMs` without input. Checks every frame against the test pattern.
public func runRealtimeEchoController(framesEndpoint: String, commandsEndpoint: String, channels: Int,
                                      untilSequence: UInt64, timeoutMs: Int = 10_000) throws -> String {
    let context = try ZMQContext()
    let frames = try ZMQSocket(context, .sub)
    try frames.setConflate(true)
    try frames.subscribe()
    try frames.bind(framesEndpoint)
    let commands = try ZMQSocket(context, .pub)
    try commands.bind(commandsEndpoint)
    var poller = ZMQPoller(capacity: 1)
    poller.add(frames, .readable)

    let layout = testLayout(channels: channels)
    let validator = SensorFrameValidator(layoutHash: layout.layoutHash, channelCount: channels)
    let frame = validator.makeFrameBuffer()
    let command = MotorCommandBuffer(capacity: channels)
    let receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: peerReceiveBufferSize, alignment: 16)
    let sendBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 + 4 * channels, alignment: 16)
    defer { receiveBuffer.deallocate(); sendBuffer.deallocate() }

    var received = 0, mismatches = 0, regressions = 0
    var lastSequence: UInt64 = 0
    var commandSequence: UInt64 = 0
    var finished = false
    while !finished {
        if try poller.poll(timeoutMilliseconds: timeoutMs) == 0 { break }
        while let got = try frames.receive(into: receiveBuffer, .dontWait) {
            guard validator.accept(got, buffer: UnsafeRawBufferPointer(receiveBuffer), into: frame) == nil else { continue }
            received += 1
            if frame.sequence < lastSequence { regressions += 1 }
            lastSequence = frame.sequence
            for c in 0..<channels where frame.values[c].bitPattern != patternValue(sequence: frame.sequence, index: c).bitPattern {
                mismatches += 1
                break
            }
            commandSequence += 1
            command.reset()
            command.protocolVersion = wireProtocolVersion
            command.layoutHash = layout.layoutHash
            command.sequence = commandSequence
            command.sensorSequence = frame.sequence
            command.senderTimeNs = monotonicNanoseconds()
            command.valueCount = channels
            command.values.update(from: frame.values, count: channels)
            let size = HotCodec.encode(command, into: sendBuffer)!
            _ = try commands.send(UnsafeRawBufferPointer(rebasing: sendBuffer[0..<size]), .dontWait)
            if frame.sequence == untilSequence { finished = true }
        }
    }
    // Keep answering the final frame briefly so that a conflating subscriber
    // that joined late still sees it.
    if finished {
        let size = HotCodec.encode(command, into: sendBuffer)!
        for _ in 0..<50 {
            _ = try commands.send(UnsafeRawBufferPointer(rebasing: sendBuffer[0..<size]), .dontWait)
            usleep(2_000)
        }
    }
    let counters = validator.counters
    return "received=\(received) last_sequence=\(lastSequence) finished=\(finished ? 1 : 0) mismatches=\(mismatches) regressions=\(regressions) rejected=\(counters.totalRejected)"
}

/// Realtime robot side: PUB (connects to `framesEndpoint`) publishes the
/// test pattern, SUB (CONFLATE, connects to `commandsEndpoint`) reads the
/// newest command. Publishes frame 0 until the controller answers it (the
/// subscription is then up), then frames 1…`frames`, re-publishing the last
/// one until it is answered. Checks every command against the pattern.
public func runRealtimeRobot(framesEndpoint: String, commandsEndpoint: String, channels: Int,
                             frames: Int, timeoutMs: Int64 = 10_000) throws -> String {
    let context = try ZMQContext()
    let publisher = try ZMQSocket(context, .pub)
    try publisher.connect(framesEndpoint)
    let subscriber = try ZMQSocket(context, .sub)
    try subscriber.setConflate(true)
    try subscriber.subscribe()
    try subscriber.connect(commandsEndpoint)

    let layout = testLayout(channels: channels)
    let frame = SensorFrameBuffer(capacity: channels)
    let command = MotorCommandBuffer(capacity: channels + 1)
    let receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: peerReceiveBufferSize, alignment: 16)
    let sendBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 + 4 * channels, alignment: 16)
    defer { receiveBuffer.deallocate(); sendBuffer.deallocate() }

    func publish(_ sequence: UInt64) throws {
        frame.reset()
        frame.protocolVersion = wireProtocolVersion
        frame.layoutHash = layout.layoutHash
        frame.sequence = sequence
        frame.senderTimeNs = monotonicNanoseconds()
        frame.valueCount = channels
        for c in 0..<channels { frame.values[c] = patternValue(sequence: sequence, index: c) }
        let size = HotCodec.encode(frame, into: sendBuffer)!
        _ = try publisher.send(UnsafeRawBufferPointer(rebasing: sendBuffer[0..<size]), .dontWait)
    }

    var commandsSeen = 0, mismatches = 0, regressions = 0
    var lastAnswered: UInt64 = 0
    func drain() throws {
        while let got = try subscriber.receive(into: receiveBuffer, .dontWait) {
            guard !got.truncated,
                  HotCodec.decode(UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<got.byteCount]), into: command) == nil
            else { mismatches += 1; continue }
            commandsSeen += 1
            if command.sensorSequence < lastAnswered { regressions += 1 }
            lastAnswered = command.sensorSequence
            if command.valueCount != channels { mismatches += 1; continue }
            for c in 0..<channels where command.values[c].bitPattern != patternValue(sequence: command.sensorSequence, index: c).bitPattern {
                mismatches += 1
                break
            }
        }
    }

    let deadline = monotonicNanoseconds() + timeoutMs * 1_000_000
    // Warm-up: frame 0 until the controller answers it.
    var connected = false
    while monotonicNanoseconds() < deadline {
        try publish(0)
        usleep(1_000)
        try drain()
        if commandsSeen > 0 { connected = true; break }
    }
    commandsSeen = 0
    var answeredFinal = false
    if connected {
        for i in 1...max(frames, 1) where i <= frames {
            try publish(UInt64(i))
            if i % 64 == 0 { try drain(); usleep(50) }
        }
        while monotonicNanoseconds() < deadline {
            try drain()
            if lastAnswered == UInt64(frames) { answeredFinal = true; break }
            try publish(UInt64(frames))
            usleep(1_000)
        }
    }
    return "connected=\(connected ? 1 : 0) commands=\(commandsSeen) last_answered=\(lastAnswered) finished=\(answeredFinal ? 1 : 0) mismatches=\(mismatches) regressions=\(regressions)"
}

extension String {
    var replacingSpaces: String { String(map { $0 == " " || $0 == "-" ? "_" : $0 }) }
}

/// Reads records (`kind` byte: 1 SensorFrame, 2 MotorCommand; UInt32
/// little-endian length; message bytes) from `input`, decodes each with the
/// hot-path codec, re-encodes it and writes the records to `output`. A
/// record that does not decode is written with kind 0 and no bytes.
public func runCodecCheck(input: String, output: String) throws -> String {
    guard let file = fopen(input, "rb") else { throw PeerError("cannot open \(input)") }
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n <= 0 { break }
        data += chunk[0..<n]
    }
    fclose(file)

    let frame = SensorFrameBuffer(capacity: 4096)
    let command = MotorCommandBuffer(capacity: 4096)
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { scratch.deallocate() }
    var out: [UInt8] = []
    var position = 0, records = 0, failures = 0
    while position + 5 <= data.count {
        let kind = data[position]
        let length = Int(data[position + 1]) | Int(data[position + 2]) << 8 | Int(data[position + 3]) << 16
            | Int(data[position + 4]) << 24
        position += 5
        guard position + length <= data.count else { throw PeerError("record \(records) is truncated") }
        let encoded: Int? = data.withUnsafeBytes { all in
            let message = UnsafeRawBufferPointer(rebasing: all[position..<position + length])
            if kind == 1 {
                return HotCodec.decode(message, into: frame) == nil ? HotCodec.encode(frame, into: scratch) : nil
            } else {
                return HotCodec.decode(message, into: command) == nil ? HotCodec.encode(command, into: scratch) : nil
            }
        }
        position += length
        records += 1
        let size = encoded ?? 0
        if encoded == nil { failures += 1 }
        out.append(encoded == nil ? 0 : kind)
        out += [UInt8(size & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size >> 16 & 0xFF), UInt8(size >> 24 & 0xFF)]
        out += UnsafeRawBufferPointer(rebasing: scratch[0..<size])
    }
    guard let outFile = fopen(output, "wb") else { throw PeerError("cannot write \(output)") }
    _ = out.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, outFile) }
    fclose(outFile)
    return "records=\(records) failures=\(failures)"
}

/// A peer that cannot run, with the reason.
public struct PeerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
