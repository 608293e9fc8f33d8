import CAllocationCounter
import SwiftProtobuf
import Testing
@testable import Wire

private func randomFloat(_ rng: inout SeededGenerator) -> Float {
    var bits = UInt32(truncatingIfNeeded: rng.next())
    if (bits >> 23) & 0xFF == 0xFF && rng.next() % 10 != 0 { bits ^= 0x0080_0000 }
    return Float(bitPattern: bits)
}

private func randomScalar(_ rng: inout SeededGenerator, bits: Int) -> UInt64 {
    switch rng.next() % 4 {
    case 0: return 0
    case 1: return rng.next() >> UInt64(64 - Int(rng.next() % UInt64(bits)) - 1)
    default: return bits == 64 ? rng.next() : rng.next() & ((1 << UInt64(bits)) - 1)
    }
}

private let valueCounts = [0, 1, 2, 3, 16, 64, 300]

/// A random SensorFrame, as a swift-protobuf message and in a hot-path buffer.
private func randomFrame(_ rng: inout SeededGenerator, into buffer: SensorFrameBuffer) -> Spikeloop_V1_SensorFrame {
    var message = Spikeloop_V1_SensorFrame()
    message.protocolVersion = UInt32(truncatingIfNeeded: randomScalar(&rng, bits: 32))
    message.layoutHash = randomScalar(&rng, bits: 64)
    message.sequence = randomScalar(&rng, bits: 64)
    message.senderTimeNs = Int64(bitPattern: randomScalar(&rng, bits: 64))
    message.simTimeNs = Int64(bitPattern: randomScalar(&rng, bits: 64))
    let count = valueCounts[Int(rng.next() % UInt64(valueCounts.count))]
    message.values = (0..<count).map { _ in randomFloat(&rng) }
    if rng.next() % 2 == 0 { message.reward = randomFloat(&rng) }
    message.estop = rng.next() % 2 == 0

    buffer.reset()
    buffer.protocolVersion = message.protocolVersion
    buffer.layoutHash = message.layoutHash
    buffer.sequence = message.sequence
    buffer.senderTimeNs = message.senderTimeNs
    buffer.simTimeNs = message.simTimeNs
    buffer.valueCount = count
    for (i, value) in message.values.enumerated() { buffer.values[i] = value }
    buffer.reward = message.hasReward ? message.reward : nil
    buffer.estop = message.estop
    return message
}

private func randomCommand(_ rng: inout SeededGenerator, into buffer: MotorCommandBuffer) -> Spikeloop_V1_MotorCommand {
    var message = Spikeloop_V1_MotorCommand()
    message.protocolVersion = UInt32(truncatingIfNeeded: randomScalar(&rng, bits: 32))
    message.layoutHash = randomScalar(&rng, bits: 64)
    message.sequence = randomScalar(&rng, bits: 64)
    message.sensorSequence = randomScalar(&rng, bits: 64)
    message.senderTimeNs = Int64(bitPattern: randomScalar(&rng, bits: 64))
    message.simTimeNs = Int64(bitPattern: randomScalar(&rng, bits: 64))
    let count = valueCounts[Int(rng.next() % UInt64(valueCounts.count))]
    message.values = (0..<count).map { _ in randomFloat(&rng) }
    message.safeStop = rng.next() % 2 == 0

    buffer.reset()
    buffer.protocolVersion = message.protocolVersion
    buffer.layoutHash = message.layoutHash
    buffer.sequence = message.sequence
    buffer.sensorSequence = message.sensorSequence
    buffer.senderTimeNs = message.senderTimeNs
    buffer.simTimeNs = message.simTimeNs
    buffer.valueCount = count
    for (i, value) in message.values.enumerated() { buffer.values[i] = value }
    buffer.safeStop = message.safeStop
    return message
}

private func sameFrame(_ buffer: SensorFrameBuffer, _ message: Spikeloop_V1_SensorFrame) -> Bool {
    buffer.protocolVersion == message.protocolVersion && buffer.layoutHash == message.layoutHash
        && buffer.sequence == message.sequence && buffer.senderTimeNs == message.senderTimeNs
        && buffer.simTimeNs == message.simTimeNs && buffer.estop == message.estop
        && buffer.reward?.bitPattern == (message.hasReward ? message.reward.bitPattern : nil)
        && buffer.valueBuffer.map(\.bitPattern) == message.values.map(\.bitPattern)
}

private func sameCommand(_ buffer: MotorCommandBuffer, _ message: Spikeloop_V1_MotorCommand) -> Bool {
    buffer.protocolVersion == message.protocolVersion && buffer.layoutHash == message.layoutHash
        && buffer.sequence == message.sequence && buffer.sensorSequence == message.sensorSequence
        && buffer.senderTimeNs == message.senderTimeNs && buffer.simTimeNs == message.simTimeNs
        && buffer.safeStop == message.safeStop
        && buffer.valueBuffer.map(\.bitPattern) == message.values.map(\.bitPattern)
}

@Suite("Hot-path codec")
struct HotCodecTests {
    @Test func sensorFramesMatchSwiftProtobufByteForByte() throws {
        var rng = SeededGenerator(seed: 1)
        let buffer = SensorFrameBuffer(capacity: 400)
        let decoded = SensorFrameBuffer(capacity: 400)
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { out.deallocate() }
        var encodeMismatches = 0, decodeMismatches = 0
        for _ in 0..<3000 {
            let message = randomFrame(&rng, into: buffer)
            let expected: [UInt8] = try message.serializedBytes()
            let size = try #require(HotCodec.encode(buffer, into: out))
            if out.prefixBytes(size) != expected { encodeMismatches += 1 }
            let failure = expected.withUnsafeBytes { HotCodec.decode($0, into: decoded) }
            if failure != nil || !sameFrame(decoded, message) { decodeMismatches += 1 }
        }
        #expect(encodeMismatches == 0)
        #expect(decodeMismatches == 0)
    }

    @Test func motorCommandsMatchSwiftProtobufByteForByte() throws {
        var rng = SeededGenerator(seed: 2)
        let buffer = MotorCommandBuffer(capacity: 400)
        let decoded = MotorCommandBuffer(capacity: 400)
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { out.deallocate() }
        var encodeMismatches = 0, decodeMismatches = 0
        for _ in 0..<3000 {
            let message = randomCommand(&rng, into: buffer)
            let expected: [UInt8] = try message.serializedBytes()
            let size = try #require(HotCodec.encode(buffer, into: out))
            if out.prefixBytes(size) != expected { encodeMismatches += 1 }
            let failure = expected.withUnsafeBytes { HotCodec.decode($0, into: decoded) }
            if failure != nil || !sameCommand(decoded, message) { decodeMismatches += 1 }
        }
        #expect(encodeMismatches == 0)
        #expect(decodeMismatches == 0)
    }

    @Test func knownEncoding() throws {
        let frame = SensorFrameBuffer(capacity: 2)
        frame.protocolVersion = 1
        frame.layoutHash = 5
        frame.sequence = 3
        frame.valueCount = 2
        frame.values[0] = 1.5
        frame.values[1] = 2
        frame.reward = 0
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 16)
        defer { out.deallocate() }
        let size = try #require(HotCodec.encode(frame, into: out))
        // The same bytes Python's protobuf writes for this frame.
        #expect(out.prefixBytes(size) == [0x08, 0x01, 0x11, 5, 0, 0, 0, 0, 0, 0, 0, 0x18, 0x03,
                                          0x32, 0x08, 0, 0, 0xC0, 0x3F, 0, 0, 0, 0x40, 0x3D, 0, 0, 0, 0])
        #expect(HotCodec.encode(frame, into: UnsafeMutableRawBufferPointer(rebasing: out[0..<(size - 1)])) == nil)
    }

    @Test func decodesWhatOtherWritersMayProduce() throws {
        // Unpacked floats, a packed run split in two, unknown fields of every
        // wire type, and a scalar field repeated (the last one wins).
        var bytes: [UInt8] = [0x18, 0x07]  // sequence 7
        bytes += [0x35, 0x00, 0x00, 0x80, 0x3F]  // values += 1.0 (unpacked)
        bytes += [0x32, 0x04, 0x00, 0x00, 0x00, 0x40]  // values += [2.0] (packed)
        bytes += [0x35, 0x00, 0x00, 0x40, 0x40]  // values += 3.0 (unpacked)
        bytes += [0x48, 0x96, 0x01]  // field 9, varint (unknown)
        bytes += [0x51] + [UInt8](repeating: 0xAB, count: 8)  // field 10, fixed64
        bytes += [0x5A, 0x03, 0x61, 0x62, 0x63]  // field 11, bytes
        bytes += [0x65, 1, 2, 3, 4]  // field 12, fixed32
        bytes += [0x18, 0x09]  // sequence 9 (wins)
        bytes += [0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F]  // protocol_version from a 64-bit varint, truncated to 32 bits
        let reference = try Spikeloop_V1_SensorFrame(serializedBytes: bytes)
        let frame = SensorFrameBuffer(capacity: 8)
        #expect(bytes.withUnsafeBytes { HotCodec.decode($0, into: frame) } == nil)
        #expect(frame.sequence == 9)
        #expect(Array(frame.valueBuffer) == [1, 2, 3])
        #expect(frame.protocolVersion == reference.protocolVersion)
        #expect(sameFrame(frame, reference))
    }

    @Test func keepsCountingValuesBeyondCapacity() {
        var message = Spikeloop_V1_SensorFrame()
        message.values = [1, 2, 3, 4, 5, 6]
        message.sequence = 4
        let bytes: [UInt8] = try! message.serializedBytes()
        let frame = SensorFrameBuffer(capacity: 4)
        #expect(bytes.withUnsafeBytes { HotCodec.decode($0, into: frame) } == nil)
        #expect(frame.valueCount == 6)
        #expect(Array(frame.valueBuffer) == [1, 2, 3, 4])
        #expect(frame.sequence == 4)
    }

    @Test(arguments: [
        ([0x18], DecodeFailure.truncated),  // tag without value
        ([0x18, 0x80], .truncated),  // varint ends early
        ([0x18] + [UInt8](repeating: 0xFF, count: 10) + [0x01], .badVarint),  // 11-byte varint
        ([0x00, 0x01], .badTag),  // field number 0
        ([0x53], .badTag),  // group start (wire type 3) of an unknown field
        ([0x1B], .wrongWireType),  // sequence as a group
        ([0x57], .badTag),  // wire type 7
        ([0x0D, 0, 0, 0, 0], .wrongWireType),  // protocol_version as fixed32
        ([0x32, 0x05, 0, 0, 0, 0, 0], .badPackedLength),
        ([0x32, 0x08, 0, 0, 0, 0], .truncated),
        ([0x11, 1, 2, 3], .truncated),  // fixed64 cut short
        ([0x5A, 0x10, 1], .truncated),  // unknown bytes field cut short
    ] as [([UInt8], DecodeFailure)])
    func rejectsMalformedBytes(bytes: [UInt8], failure: DecodeFailure) {
        let frame = SensorFrameBuffer(capacity: 4)
        #expect(bytes.withUnsafeBytes { HotCodec.decode($0, into: frame) } == failure)
        let command = MotorCommandBuffer(capacity: 4)
        let commandBytes = bytes.first == 0x32 ? [0x3A] + bytes.dropFirst() : bytes
        #expect(commandBytes.withUnsafeBytes { HotCodec.decode($0, into: command) } == failure)
    }

    @Test func noAllocationPerFrameOver100000Frames() throws {
        let channels = 64
        let layout = testLayout(channels: channels, range: 1000)
        let validator = SensorFrameValidator(layoutHash: layout.layoutHash, channelCount: channels,
                                             ranges: layout.sensorRanges)
        let outgoing = SensorFrameBuffer(capacity: channels)
        let incoming = validator.makeFrameBuffer()
        let command = MotorCommandBuffer(capacity: channels)
        let echoed = MotorCommandBuffer(capacity: channels)
        let wire = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        let reply = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { wire.deallocate(); reply.deallocate() }
        var rejected = 0, checksum: UInt64 = 0

        // One tick: encode a frame (the robot's side), receive, validate and
        // decode it, answer with a command, decode the command.
        func tick(_ i: Int) {
            outgoing.protocolVersion = wireProtocolVersion
            outgoing.layoutHash = layout.layoutHash
            outgoing.sequence = UInt64(i)
            outgoing.senderTimeNs = Int64(i) * 100_000
            outgoing.valueCount = channels
            for c in 0..<channels { outgoing.values[c] = Float((i &* 31 &+ c) % 2000) - 1000 }
            outgoing.reward = i % 3 == 0 ? 0.5 : nil
            let size = HotCodec.encode(outgoing, into: wire) ?? 0
            let received = ZMQReceived(byteCount: size, truncated: false, more: false)
            if validator.accept(received, buffer: UnsafeRawBufferPointer(wire), into: incoming) != nil { rejected += 1 }
            command.protocolVersion = wireProtocolVersion
            command.layoutHash = layout.layoutHash
            command.sequence = UInt64(i)
            command.sensorSequence = incoming.sequence
            command.valueCount = channels
            command.values.update(from: incoming.values, count: channels)
            let replySize = HotCodec.encode(command, into: reply) ?? 0
            _ = HotCodec.decode(UnsafeRawBufferPointer(rebasing: reply[0..<replySize]), into: echoed)
            checksum &+= echoed.sensorSequence
        }
        // Warm-up: lazy runtime metadata is set up on first use, as at start.
        for i in 1...10 { tick(i) }
        rejected = 0
        checksum = 0

        sl_alloc_counting_begin()
        for i in 1...100_000 { tick(i) }
        let allocations = sl_alloc_counting_end()

        #expect(allocations == 0)
        #expect(rejected == 0)
        #expect(validator.counters.accepted == 100_010)
        #expect(checksum == 5_000_050_000)
    }

    @Test func allocationCounterSeesAllocations() {
        sl_alloc_counting_begin()
        let a = UnsafeMutableRawPointer.allocate(byteCount: 100, alignment: 8)
        let b = UnsafeMutableRawPointer.allocate(byteCount: 1000, alignment: 8)
        let c = UnsafeMutableRawPointer.allocate(byteCount: 10_000, alignment: 8)
        let count = sl_alloc_counting_end()
        a.deallocate(); b.deallocate(); c.deallocate()
        #expect(count == 3)
    }
}
