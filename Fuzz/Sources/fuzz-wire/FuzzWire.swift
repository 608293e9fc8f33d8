// fuzz-wire: every decoder of bytes that arrive on a spikeloop.v1 socket.
//
// Each input is tried as
//   - a SensorFrame and a MotorCommand through the allocation-free HotCodec
//     (small and large buffers), with round trips: whatever decodes must
//     re-encode (HotCodec.encode, exactly encodedSize bytes) and decode again
//     to the same fields; the re-encoding must be byte for byte what
//     swift-protobuf writes for those fields (HotCodec's documented promise),
//     and when swift-protobuf also accepts the input it must read the same
//     fields;
//   - a frame through SensorFrameValidator.accept for a 3-channel layout
//     (testLayout), and the rejection log's line for it;
//   - a ControlRequest and a Hello (swift-protobuf), each round-tripped, the
//     Hello answered as the daemon answers it (Spikeloop_V1_Hello.answer).
import FuzzSupport
import SwiftProtobuf
import Wire

let channels = 3
let layout = testLayout(channels: channels, range: 10)
nonisolated(unsafe) let validator = SensorFrameValidator(layoutHash: layout.layoutHash, channelCount: channels,
                                                         ranges: layout.sensorRanges)
nonisolated(unsafe) let rejectionLog = RejectionLog(counters: validator.counters, source: "fuzz",
                                                    channelNames: layout.sensors.map(\.name),
                                                    ranges: layout.sensorRanges, intervalNs: 0, emit: { _ in })
nonisolated(unsafe) let validatedFrame = validator.makeFrameBuffer()
nonisolated(unsafe) var logClock: Int64 = 0

/// Capacities: fewer values than a message may carry (cut, counted), and plenty.
let capacities = [2, 256]
nonisolated(unsafe) let frames = capacities.map { SensorFrameBuffer(capacity: $0) }
nonisolated(unsafe) let framesAgain = capacities.map { SensorFrameBuffer(capacity: $0) }
nonisolated(unsafe) let commands = capacities.map { MotorCommandBuffer(capacity: $0) }
nonisolated(unsafe) let commandsAgain = capacities.map { MotorCommandBuffer(capacity: $0) }
nonisolated(unsafe) let encoded = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)

func bits(_ buffer: UnsafeMutableBufferPointer<Float>) -> [UInt32] { buffer.map(\.bitPattern) }

// MARK: - SensorFrame

func describe(_ f: SensorFrameBuffer) -> String {
    "v\(f.protocolVersion) hash \(f.layoutHash) seq \(f.sequence) sent \(f.senderTimeNs) sim \(f.simTimeNs) "
        + "reward \(f.reward.map { "\($0.bitPattern)" } ?? "none") estop \(f.estop) values \(f.valueCount) \(bits(f.valueBuffer))"
}

func sameFields(_ a: SensorFrameBuffer, _ b: SensorFrameBuffer) -> Bool {
    a.protocolVersion == b.protocolVersion && a.layoutHash == b.layoutHash && a.sequence == b.sequence
        && a.senderTimeNs == b.senderTimeNs && a.simTimeNs == b.simTimeNs
        && a.reward?.bitPattern == b.reward?.bitPattern && a.estop == b.estop
        && bits(a.valueBuffer) == bits(b.valueBuffer)
}

func frameRoundTrip(_ input: UnsafeRawBufferPointer, _ k: Int) {
    let frame = frames[k]
    guard HotCodec.decode(input, into: frame) == nil else { return }
    fuzzCheck(frame.valueCount >= 0 && frame.valueBuffer.count == min(frame.valueCount, frame.capacity),
              "SensorFrame value count \(frame.valueCount), capacity \(frame.capacity)")

    // swift-protobuf, where it also accepts the bytes, reads the same fields.
    if let message = try? Spikeloop_V1_SensorFrame(serializedBytes: Array(input)) {
        let kept = message.values.prefix(frame.capacity).map(\.bitPattern)
        fuzzCheck(message.protocolVersion == frame.protocolVersion && message.layoutHash == frame.layoutHash
                  && message.sequence == frame.sequence && message.senderTimeNs == frame.senderTimeNs
                  && message.simTimeNs == frame.simTimeNs && message.estop == frame.estop
                  && (message.hasReward ? message.reward.bitPattern : nil) == frame.reward?.bitPattern
                  && message.values.count == frame.valueCount && kept == bits(frame.valueBuffer),
                  "HotCodec and swift-protobuf read different SensorFrames: \(describe(frame)) vs \(message)")
    }

    // Re-encode: exactly encodedSize bytes, which decode to the same fields.
    let size = HotCodec.encodedSize(frame)
    guard let written = HotCodec.encode(frame, into: encoded) else {
        fuzzCheck(size > encoded.count, "HotCodec.encode refused a \(size)-byte SensorFrame with a \(encoded.count)-byte buffer")
        return
    }
    fuzzCheck(written == size, "HotCodec.encode wrote \(written) bytes, encodedSize says \(size)")
    let bytes = UnsafeRawBufferPointer(rebasing: encoded[0..<written])
    let again = framesAgain[k]
    let failure = HotCodec.decode(bytes, into: again)
    fuzzCheck(failure == nil, "a re-encoded SensorFrame does not decode: \(failure.map { "\($0)" } ?? "")")
    fuzzCheck(sameFields(frame, again) && again.valueCount == min(frame.valueCount, frame.capacity),
              "SensorFrame round trip differs: \(describe(frame)) -> \(describe(again))")

    // Byte for byte what swift-protobuf writes for the same fields.
    var message = Spikeloop_V1_SensorFrame()
    message.protocolVersion = frame.protocolVersion
    message.layoutHash = frame.layoutHash
    message.sequence = frame.sequence
    message.senderTimeNs = frame.senderTimeNs
    message.simTimeNs = frame.simTimeNs
    message.values = Array(frame.valueBuffer)
    if let reward = frame.reward { message.reward = reward }
    message.estop = frame.estop
    let reference: [UInt8] = try! message.serializedBytes()
    fuzzCheck(reference.elementsEqual(bytes), "HotCodec's SensorFrame encoding \(Array(bytes)) differs from swift-protobuf's \(reference)")
}

// MARK: - MotorCommand

func reasonBytes(_ c: MotorCommandBuffer) -> [UInt8] {
    Array(UnsafeBufferPointer(start: c.reasonBytes, count: c.reasonLength))
}

func describe(_ c: MotorCommandBuffer) -> String {
    "v\(c.protocolVersion) hash \(c.layoutHash) seq \(c.sequence) sensor seq \(c.sensorSequence) sent \(c.senderTimeNs) "
        + "sim \(c.simTimeNs) safe \(c.safeStop) reason \(reasonBytes(c)) values \(c.valueCount) \(bits(c.valueBuffer))"
}

func sameFields(_ a: MotorCommandBuffer, _ b: MotorCommandBuffer) -> Bool {
    a.protocolVersion == b.protocolVersion && a.layoutHash == b.layoutHash && a.sequence == b.sequence
        && a.sensorSequence == b.sensorSequence && a.senderTimeNs == b.senderTimeNs && a.simTimeNs == b.simTimeNs
        && a.safeStop == b.safeStop && reasonBytes(a) == reasonBytes(b) && bits(a.valueBuffer) == bits(b.valueBuffer)
}

func commandRoundTrip(_ input: UnsafeRawBufferPointer, _ k: Int) {
    let command = commands[k]
    guard HotCodec.decode(input, into: command) == nil else { return }
    fuzzCheck(command.reasonLength >= 0 && command.reasonLength <= MotorCommandBuffer.maximumReasonBytes,
              "MotorCommand reason length \(command.reasonLength)")
    fuzzCheck(command.valueCount >= 0 && command.valueBuffer.count == min(command.valueCount, command.capacity),
              "MotorCommand value count \(command.valueCount), capacity \(command.capacity)")

    if let message = try? Spikeloop_V1_MotorCommand(serializedBytes: Array(input)) {
        let kept = message.values.prefix(command.capacity).map(\.bitPattern)
        let reason = Array(message.reason.utf8.prefix(MotorCommandBuffer.maximumReasonBytes))
        fuzzCheck(message.protocolVersion == command.protocolVersion && message.layoutHash == command.layoutHash
                  && message.sequence == command.sequence && message.sensorSequence == command.sensorSequence
                  && message.senderTimeNs == command.senderTimeNs && message.simTimeNs == command.simTimeNs
                  && message.safeStop == command.safeStop && reason == reasonBytes(command)
                  && message.values.count == command.valueCount && kept == bits(command.valueBuffer),
                  "HotCodec and swift-protobuf read different MotorCommands: \(describe(command)) vs \(message)")
    }

    let size = HotCodec.encodedSize(command)
    guard let written = HotCodec.encode(command, into: encoded) else {
        fuzzCheck(size > encoded.count, "HotCodec.encode refused a \(size)-byte MotorCommand with a \(encoded.count)-byte buffer")
        return
    }
    fuzzCheck(written == size, "HotCodec.encode wrote \(written) bytes, encodedSize says \(size)")
    let bytes = UnsafeRawBufferPointer(rebasing: encoded[0..<written])
    let again = commandsAgain[k]
    let failure = HotCodec.decode(bytes, into: again)
    fuzzCheck(failure == nil, "a re-encoded MotorCommand does not decode: \(failure.map { "\($0)" } ?? "")")
    fuzzCheck(sameFields(command, again) && again.valueCount == min(command.valueCount, command.capacity),
              "MotorCommand round trip differs: \(describe(command)) -> \(describe(again))")

    // Padded to the fixed size of a zero-copy reply for as many motors as it
    // has values (TickLoop force-unwraps this), it still decodes the same.
    let padded = HotCodec.paddedSize(motors: command.valueBuffer.count)
    if let n = HotCodec.encode(command, into: encoded, paddedTo: padded) {
        fuzzCheck(n == padded, "padded MotorCommand of \(n) bytes, asked for \(padded)")
        let failure = HotCodec.decode(UnsafeRawBufferPointer(rebasing: encoded[0..<n]), into: again)
        fuzzCheck(failure == nil && sameFields(command, again),
                  "padded MotorCommand round trip differs: \(describe(command)) -> \(describe(again))")
    } else {
        fuzzCheck(false, "HotCodec.encode(paddedTo: paddedSize(motors: \(command.valueBuffer.count))) refused \(describe(command))")
    }
    // (encoded now holds the padded command: encode the plain one again.)
    _ = HotCodec.encode(command, into: encoded)

    // Byte for byte what swift-protobuf writes (when the reason, cut at
    // maximumReasonBytes, is still UTF-8: a protobuf string must be).
    guard let reason = String(validating: reasonBytes(command), as: UTF8.self) else { return }
    var message = Spikeloop_V1_MotorCommand()
    message.protocolVersion = command.protocolVersion
    message.layoutHash = command.layoutHash
    message.sequence = command.sequence
    message.sensorSequence = command.sensorSequence
    message.senderTimeNs = command.senderTimeNs
    message.simTimeNs = command.simTimeNs
    message.values = Array(command.valueBuffer)
    message.safeStop = command.safeStop
    message.reason = reason
    let reference: [UInt8] = try! message.serializedBytes()
    fuzzCheck(reference.elementsEqual(UnsafeRawBufferPointer(rebasing: encoded[0..<written])),
              "HotCodec's MotorCommand encoding differs from swift-protobuf's \(reference)")
}

// MARK: - Validation, control requests, handshakes

func validate(_ input: UnsafeRawBufferPointer) {
    if let reason = validator.accept(input, into: validatedFrame) {
        logClock += 1
        _ = rejectionLog.poll(nowNs: logClock)
        _ = reason.refusal
    } else {
        fuzzCheck(validatedFrame.valueCount == channels && validatedFrame.protocolVersion == wireProtocolVersion
                  && validatedFrame.layoutHash == layout.layoutHash,
                  "accepted a frame that does not match the layout: \(describe(validatedFrame))")
        for i in 0..<channels {
            let v = validatedFrame.values[i]
            fuzzCheck(v.isFinite && v >= -10 && v <= 10, "accepted value \(i) = \(v) outside [-10, 10]")
        }
        if let reward = validatedFrame.reward {
            fuzzCheck(reward.isFinite && abs(reward) <= maximumRewardMagnitude, "accepted reward \(reward)")
        }
    }
}

/// The bytes swift-protobuf writes for `message` (deterministic: fields in
/// number order, unknown fields last). Compared instead of the messages,
/// whose == is false for a NaN reward or tick rate.
func serialized(_ message: some SwiftProtobuf.Message) -> [UInt8] { try! message.serializedBytes() }

func protobufMessages(_ input: UnsafeRawBufferPointer) {
    let bytes = Array(input)
    if let request = try? Spikeloop_V1_ControlRequest(serializedBytes: bytes) {
        let written = serialized(request)
        let again = try? Spikeloop_V1_ControlRequest(serializedBytes: written)
        fuzzCheck(again.map(serialized) == written, "ControlRequest round trip differs: \(request)")
        _ = request.unknownFields.data.isEmpty
        _ = request.command != .unspecified
    }
    if let hello = try? Spikeloop_V1_Hello(serializedBytes: bytes) {
        let written = serialized(hello)
        let again = try? Spikeloop_V1_Hello(serializedBytes: written)
        fuzzCheck(again.map(serialized) == written, "Hello round trip differs: \(hello)")
        if hello.protocolVersion != 0, hello.hasLayout {
            let answer = Spikeloop_V1_Hello.answer(to: hello, layout: layout)
            let answerBytes = serialized(answer)
            fuzzCheck((try? Spikeloop_V1_Hello(serializedBytes: answerBytes)).map(serialized) == answerBytes,
                      "the answer to a Hello does not round-trip: \(answer)")
            _ = hello.layout.sensorRanges
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = inputBytes(data, size)
    for k in capacities.indices {
        frameRoundTrip(input, k)
        commandRoundTrip(input, k)
    }
    validate(input)
    protobufMessages(input)
    return 0
}

@main
enum Main {
    static func main() { runLibFuzzer { data, size in fuzz(data ?? emptyInput, size) } }
}
