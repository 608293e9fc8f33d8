// Round-trip latency of a lockstep echo through our codec and wrapper, beside
// raw libzmq REQ/REP with the same payload sizes, in the same run.

import CZeroMQ
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Percentiles of round-trip times, in nanoseconds.
public struct LatencySummary: Sendable {
    public var count: Int
    public var p50: Int64
    public var p99: Int64
    public var max: Int64
    public var mean: Double

    init(_ samples: [Int64]) {
        let sorted = samples.sorted()
        count = sorted.count
        func percentile(_ p: Double) -> Int64 {
            sorted[Swift.min(sorted.count - 1, Int((p * Double(sorted.count - 1)).rounded()))]
        }
        p50 = percentile(0.50)
        p99 = percentile(0.99)
        max = sorted.last ?? 0
        mean = Double(sorted.reduce(0, +)) / Double(Swift.max(sorted.count, 1))
    }
}

/// The result of `runLatencyBenchmark`.
public struct LatencyResult: Sendable {
    public var channels: Int
    public var frameBytes: Int
    public var commandBytes: Int
    public var ours: LatencySummary
    public var raw: LatencySummary
    public var ratio: Double { Double(ours.p50) / Double(raw.p50) }

    /// The table the benchmark prints.
    public var table: String {
        func us(_ ns: Int64) -> String { String(format: "%8.1f", Double(ns) / 1000) }
        var text = "lockstep round trip over tcp://127.0.0.1, \(channels) floats: SensorFrame \(frameBytes) B -> MotorCommand \(commandBytes) B\n"
        text += "peer                               rounds    p50 µs    p99 µs    max µs   mean µs\n"
        for (name, s) in [("spikeloop Wire (codec + wrapper)", ours), ("raw libzmq REQ/REP (same sizes)", raw)] {
            text += name.padding(toLength: 33, withPad: " ", startingAt: 0)
                + String(format: "%8d", s.count) + "  " + us(s.p50) + "  " + us(s.p99) + "  " + us(s.max)
                + "  " + String(format: "%8.1f", s.mean / 1000) + "\n"
        }
        text += String(format: "median ratio Wire/raw: %.3f (target <= 1.3)", ratio)
        return text
    }
}

private final class ServerHandle: Sendable {
    let endpoint = Mutex<String>("")
    let failure = Mutex<String?>(nil)
    let ready = DispatchSemaphore(value: 0)
    let done = DispatchSemaphore(value: 0)
}

private func startThread(_ body: @escaping @Sendable () -> Void) {
    let thread = Thread(block: body)
    thread.name = "wire-bench-server"
    thread.start()
}

/// Runs `rounds` lockstep round trips through Wire (REQ client encodes a
/// SensorFrame of `channels` floats; REP server validates and decodes it,
/// answers with a MotorCommand of `channels` floats; the client decodes it)
/// and the same number through raw libzmq REQ/REP with payloads of the same
/// sizes, alternating in blocks so both see the same machine state.
public func runLatencyBenchmark(channels: Int = 64, rounds: Int = 20_000, warmup: Int = 2_000,
                                blocks: Int = 10) throws -> LatencyResult {
    let layout = testLayout(channels: channels, range: 1e6)
    let context = try ZMQContext()

    // Sizes of the messages, to give raw libzmq the same payloads.
    let probeFrame = SensorFrameBuffer(capacity: channels)
    let probeCommand = MotorCommandBuffer(capacity: channels)
    fill(probeFrame, layout: layout, sequence: 1_000_000_000, channels: channels)
    fill(probeCommand, layout: layout, sequence: 1_000_000_000, channels: channels)
    probeCommand.sensorSequence = 1_000_000_000
    let frameBytes = HotCodec.encodedSize(probeFrame)
    let commandBytes = HotCodec.encodedSize(probeCommand)

    // Wire server.
    let wireServer = ServerHandle()
    let hash = layout.layoutHash
    let ranges = layout.sensorRanges
    startThread {
        do {
            let socket = try ZMQSocket(context, .rep)
            try socket.bind("tcp://127.0.0.1:*")
            let bound = try socket.lastEndpoint
            wireServer.endpoint.withLock { $0 = bound }
            wireServer.ready.signal()
            let validator = SensorFrameValidator(layoutHash: hash, channelCount: channels, ranges: ranges)
            let frame = validator.makeFrameBuffer()
            let command = MotorCommandBuffer(capacity: channels)
            let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
            let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 + 4 * channels, alignment: 16)
            defer { input.deallocate(); output.deallocate() }
            var sequence: UInt64 = 0
            while true {
                guard let received = try socket.receive(into: input, .wait) else { continue }
                let rejected = validator.accept(received, buffer: UnsafeRawBufferPointer(input), into: frame) != nil
                sequence += 1
                command.protocolVersion = wireProtocolVersion
                command.layoutHash = hash
                command.sequence = sequence
                command.sensorSequence = rejected ? 0 : frame.sequence
                command.senderTimeNs = monotonicNanoseconds()
                command.safeStop = rejected
                command.valueCount = channels
                for c in 0..<channels { command.values[c] = frame.values[c] * 0.5 }
                let size = HotCodec.encode(command, into: output)!
                _ = try socket.send(UnsafeRawBufferPointer(rebasing: output[0..<size]), .wait)
            }
        } catch ZMQError.terminated {
        } catch {
            wireServer.failure.withLock { $0 = "\(error)" }
            wireServer.ready.signal()
        }
        wireServer.done.signal()
    }

    // Raw libzmq server: receive into a buffer, answer `commandBytes` bytes.
    let rawServer = ServerHandle()
    startThread {
        guard let socket = zmq_socket(context.handle, ZMQ_REP) else { rawServer.ready.signal(); rawServer.done.signal(); return }
        var zero: Int32 = 0
        zmq_setsockopt(socket, ZMQ_LINGER, &zero, 4)
        zmq_bind(socket, "tcp://127.0.0.1:*")
        var name = [CChar](repeating: 0, count: 256)
        var size = name.count
        zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, &name, &size)
        let bound = stringFromCChars(name)
        rawServer.endpoint.withLock { $0 = bound }
        rawServer.ready.signal()
        let input = UnsafeMutableRawPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        let output = UnsafeMutableRawPointer.allocate(byteCount: commandBytes, alignment: 16)
        output.initializeMemory(as: UInt8.self, repeating: 0x42, count: commandBytes)
        serve: while true {
            while zmq_recv(socket, input, 64 * 1024, 0) < 0 {
                if zmq_errno() != EINTR { break serve }
            }
            while zmq_send(socket, output, commandBytes, 0) < 0 {
                if zmq_errno() != EINTR { break serve }
            }
        }
        zmq_close(socket)
        input.deallocate()
        output.deallocate()
        rawServer.done.signal()
    }
    wireServer.ready.wait()
    rawServer.ready.wait()
    if let failure = wireServer.failure.withLock({ $0 }) { throw PeerError("Wire server failed: \(failure)") }

    // Clients on this thread.
    let wireClient = try ZMQSocket(context, .req)
    try wireClient.connect(wireServer.endpoint.withLock { $0 })
    guard let rawClient = zmq_socket(context.handle, ZMQ_REQ) else { throw ZMQError.current("zmq_socket(REQ)") }
    var zero: Int32 = 0
    zmq_setsockopt(rawClient, ZMQ_LINGER, &zero, 4)
    if zmq_connect(rawClient, rawServer.endpoint.withLock { $0 }) != 0 { throw ZMQError.current("connect raw") }

    let frame = SensorFrameBuffer(capacity: channels)
    let command = MotorCommandBuffer(capacity: channels)
    let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 + 4 * channels, alignment: 16)
    let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    let rawOutput = UnsafeMutableRawPointer.allocate(byteCount: frameBytes, alignment: 16)
    rawOutput.initializeMemory(as: UInt8.self, repeating: 0x17, count: frameBytes)
    defer { output.deallocate(); input.deallocate(); rawOutput.deallocate() }

    var wireSequence: UInt64 = 1_000_000_000
    var mismatches = 0
    func wireRound() throws -> Int64 {
        let start = monotonicNanoseconds()
        wireSequence += 1
        fill(frame, layout: layout, sequence: wireSequence, channels: channels)
        let size = HotCodec.encode(frame, into: output)!
        _ = try wireClient.send(UnsafeRawBufferPointer(rebasing: output[0..<size]), .wait)
        guard let reply = try wireClient.receive(into: input, .wait),
              HotCodec.decode(UnsafeRawBufferPointer(rebasing: input[0..<reply.byteCount]), into: command) == nil
        else { throw PeerError("no valid MotorCommand") }
        let end = monotonicNanoseconds()
        if command.sensorSequence != wireSequence || command.values[channels - 1] != frame.values[channels - 1] * 0.5 {
            mismatches += 1
        }
        return end - start
    }
    func rawRound() throws -> Int64 {
        let start = monotonicNanoseconds()
        guard zmq_send(rawClient, rawOutput, frameBytes, 0) == frameBytes else { throw ZMQError.current("raw send") }
        guard zmq_recv(rawClient, input.baseAddress, input.count, 0) == commandBytes else { throw ZMQError.current("raw recv") }
        return monotonicNanoseconds() - start
    }

    for _ in 0..<warmup { _ = try wireRound(); _ = try rawRound() }
    var oursSamples: [Int64] = []
    var rawSamples: [Int64] = []
    oursSamples.reserveCapacity(rounds)
    rawSamples.reserveCapacity(rounds)
    let perBlock = max(1, rounds / blocks)
    while oursSamples.count < rounds {
        let n = min(perBlock, rounds - oursSamples.count)
        for _ in 0..<n { rawSamples.append(try rawRound()) }
        for _ in 0..<n { oursSamples.append(try wireRound()) }
    }
    zmq_close(rawClient)
    context.shutdown()
    wireServer.done.wait()
    rawServer.done.wait()
    if mismatches > 0 { throw PeerError("\(mismatches) MotorCommands did not answer their frame") }
    return LatencyResult(channels: channels, frameBytes: frameBytes, commandBytes: commandBytes,
                         ours: LatencySummary(oursSamples), raw: LatencySummary(rawSamples))
}

/// Encoded sizes of a SensorFrame with `sensors` values and a MotorCommand
/// with `motors` values (large sequence numbers and times), to give a raw
/// libzmq peer the payloads of a given robot.
public func wireMessageSizes(sensors: Int, motors: Int) -> (frame: Int, command: Int) {
    let layout = testLayout(channels: max(sensors, motors), range: 1e6)
    let frame = SensorFrameBuffer(capacity: sensors)
    let command = MotorCommandBuffer(capacity: motors)
    fill(frame, layout: layout, sequence: 1_000_000_000, channels: sensors)
    fill(command, layout: layout, sequence: 1_000_000_000, channels: motors)
    command.sensorSequence = 1_000_000_000
    return (HotCodec.encodedSize(frame), HotCodec.encodedSize(command))
}

private func fill(_ frame: SensorFrameBuffer, layout: Spikeloop_V1_RobotLayout, sequence: UInt64, channels: Int) {
    frame.protocolVersion = wireProtocolVersion
    frame.layoutHash = layout.layoutHash
    frame.sequence = sequence
    frame.senderTimeNs = monotonicNanoseconds()
    frame.simTimeNs = Int64(sequence) * 100_000
    frame.valueCount = channels
    for c in 0..<channels { frame.values[c] = Float(c) * 0.25 + Float(sequence % 1000) }
}

private func fill(_ command: MotorCommandBuffer, layout: Spikeloop_V1_RobotLayout, sequence: UInt64, channels: Int) {
    command.protocolVersion = wireProtocolVersion
    command.layoutHash = layout.layoutHash
    command.sequence = sequence
    command.senderTimeNs = monotonicNanoseconds()
    command.valueCount = channels
    for c in 0..<channels { command.values[c] = Float(c) * 0.125 }
}
