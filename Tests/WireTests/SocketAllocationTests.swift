import CAllocationCounter
import Testing
@testable import Wire

/// What the loop thread allocates in a whole tick, socket calls included:
/// receiving into the caller's buffer allocates nothing on the calling
/// thread; libzmq's zmq_send copies a message larger than 33 bytes into one
/// heap block (smaller ones live inside zmq_msg_t).
@Suite("Allocations of socket calls on the loop thread", .serialized)
struct SocketAllocationTests {
    @Test func receiveDecodeValidateAllocatesNothingAndSendAllocatesOncePerLargeMessage() throws {
        let channels = 64
        let layout = testLayout(channels: channels)
        let context = try ZMQContext()
        let pull = try ZMQSocket(context, .pull)
        try pull.setReceiveHighWaterMark(0)
        try pull.bind("tcp://127.0.0.1:*")
        let push = try ZMQSocket(context, .push)
        try push.setSendHighWaterMark(0)
        try push.connect(try pull.lastEndpoint)

        let frame = SensorFrameBuffer(capacity: channels)
        frame.protocolVersion = wireProtocolVersion
        frame.layoutHash = layout.layoutHash
        frame.valueCount = channels
        for c in 0..<channels { frame.values[c] = Float(c) }
        let validator = SensorFrameValidator(layoutHash: layout.layoutHash, channelCount: channels)
        let received = validator.makeFrameBuffer()
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 16)
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        let small = UnsafeMutableRawBufferPointer.allocate(byteCount: 33, alignment: 16)
        defer { out.deallocate(); input.deallocate(); small.deallocate() }

        func send(_ sequence: Int) throws {
            frame.sequence = UInt64(sequence)
            let size = HotCodec.encode(frame, into: out)!
            _ = try push.send(UnsafeRawBufferPointer(rebasing: out[0..<size]), .wait)
        }
        var accepted = 0
        func receive() throws {
            let got = try pull.receive(into: input, .wait)!
            if validator.accept(got, buffer: UnsafeRawBufferPointer(input), into: received) == nil { accepted += 1 }
        }
        for i in 1...1000 { try send(i); try receive() }  // warm-up (libzmq's pipe chunks)

        // As in a tick: one message in flight at a time, so libzmq's pipes
        // do not grow.
        var sendAllocations: UInt64 = 0, receiveAllocations: UInt64 = 0, smallSendAllocations: UInt64 = 0
        for i in 1...10_000 {
            sl_alloc_counting_begin()
            try send(i)
            sendAllocations += sl_alloc_counting_end()
            sl_alloc_counting_begin()
            try receive()
            receiveAllocations += sl_alloc_counting_end()
        }
        for _ in 1...10_000 {
            sl_alloc_counting_begin()
            _ = try push.send(UnsafeRawBufferPointer(small), .wait)
            smallSendAllocations += sl_alloc_counting_end()
            _ = try pull.receive(into: input, .wait)
        }

        #expect(receiveAllocations == 0)
        #expect(accepted == 11_000)
        #expect(sendAllocations == 10_000)  // 291-byte frames: one block each, inside libzmq
        #expect(smallSendAllocations == 0)
    }

    @Test func lockstepTickWithReplyPoolAllocatesNothing() throws {
        let channels = 64
        let layout = testLayout(channels: channels)
        let context = try ZMQContext()
        let rep = try ZMQSocket(context, .rep)
        try rep.bind("tcp://127.0.0.1:*")
        let req = try ZMQSocket(context, .req)
        try req.connect(try rep.lastEndpoint)
        let pool = ReplyPool(messageSize: HotCodec.paddedSize(motors: channels))
        defer { pool.close() }

        let frame = SensorFrameBuffer(capacity: channels)
        frame.protocolVersion = wireProtocolVersion
        frame.layoutHash = layout.layoutHash
        frame.valueCount = channels
        let validator = SensorFrameValidator(layoutHash: layout.layoutHash, channelCount: channels)
        let received = validator.makeFrameBuffer()
        let command = MotorCommandBuffer(capacity: channels)
        let echoed = MotorCommandBuffer(capacity: channels)
        let requestBytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 16)
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        let clientInput = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { requestBytes.deallocate(); input.deallocate(); clientInput.deallocate() }

        var serverAllocations: UInt64 = 0, mismatches = 0
        func tick(_ i: Int) throws {
            // Simulator side (not counted): send the frame.
            frame.sequence = UInt64(i)
            for c in 0..<channels { frame.values[c] = Float(i % 100) + Float(c) }
            let size = HotCodec.encode(frame, into: requestBytes)!
            _ = try req.send(UnsafeRawBufferPointer(rebasing: requestBytes[0..<size]), .wait)
            // Controller side (counted): receive, validate, answer without copy.
            sl_alloc_counting_begin()
            let got = try rep.receive(into: input, .wait)!
            let ok = validator.accept(got, buffer: UnsafeRawBufferPointer(input), into: received) == nil
            command.protocolVersion = wireProtocolVersion
            command.layoutHash = layout.layoutHash
            command.sequence = UInt64(i)
            command.sensorSequence = ok ? received.sequence : 0
            command.valueCount = channels
            command.values.update(from: received.values, count: channels)
            try pool.send(on: rep, .wait) { _ = HotCodec.encode(command, into: $0, paddedTo: $0.count)! }
            serverAllocations += sl_alloc_counting_end()
            // Simulator side: the reply arrives intact.
            let reply = try req.receive(into: clientInput, .wait)!
            _ = HotCodec.decode(UnsafeRawBufferPointer(rebasing: clientInput[0..<reply.byteCount]), into: echoed)
            if echoed.sensorSequence != UInt64(i) || echoed.values[channels - 1] != frame.values[channels - 1] {
                mismatches += 1
            }
        }
        // Warm-up: libzmq's pipes allocate their queue chunks during the first
        // few hundred messages, then recycle them.
        for i in 1...1000 { try tick(i) }
        serverAllocations = 0
        for i in 1001...11_000 { try tick(i) }
        #expect(serverAllocations == 0)
        #expect(mismatches == 0)
        #expect(pool.copies == 0)
        #expect(validator.counters.accepted == 11_000)
    }
}
