import Testing
@testable import Wire

/// A sent message is reused only after libzmq let go of it, however many are
/// still queued (the ring of 64 buffers it replaced was rewritten under
/// libzmq's feet once more than 64 replies were outstanding).
@Suite("Zero-copy reply pool", .serialized)
struct ReplyPoolTests {
    @Test func queuedMessagesKeepTheirBytesAndPaddedCommandsDecode() throws {
        let context = try ZMQContext()
        let pull = try ZMQSocket(context, .pull)
        try pull.setReceiveHighWaterMark(0)
        try pull.bind("tcp://127.0.0.1:*")
        let push = try ZMQSocket(context, .push)
        try push.setSendHighWaterMark(0)
        try push.connect(try pull.lastEndpoint)
        let motors = 3
        let pool = ReplyPool(messageSize: HotCodec.paddedSize(motors: motors), capacity: 64)
        defer { pool.close() }
        let command = MotorCommandBuffer(capacity: motors)

        // 5000 commands queued before the peer reads one.
        let count = 5000
        for i in 1...count {
            command.reset()
            command.protocolVersion = wireProtocolVersion
            command.layoutHash = 0xABCD
            command.sequence = UInt64(i)
            command.sensorSequence = UInt64(i) * 3
            command.senderTimeNs = Int64(i) << 33  // a long varint
            command.valueCount = motors
            for m in 0..<motors { command.values[m] = Float(i * 10 + m) }
            if i % 3 == 0 { command.safeStop = true; command.setReason("refused frame: wrong value count") }
            #expect(try pool.send(on: push, .wait) { _ = HotCodec.encode(command, into: $0, paddedTo: $0.count)! })
        }
        let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { input.deallocate() }
        let decoded = MotorCommandBuffer(capacity: motors)
        var wrong = 0
        for i in 1...count {
            let got = try #require(try pull.receive(into: input, .wait))
            #expect(got.byteCount == pool.messageSize)
            guard HotCodec.decode(UnsafeRawBufferPointer(rebasing: input[0..<got.byteCount]), into: decoded) == nil,
                  decoded.sequence == UInt64(i), decoded.sensorSequence == UInt64(i) * 3,
                  decoded.senderTimeNs == Int64(i) << 33, decoded.valueCount == motors,
                  (0..<motors).allSatisfy({ decoded.values[$0] == Float(i * 10 + $0) }),
                  decoded.safeStop == (i % 3 == 0),
                  decoded.reason == (i % 3 == 0 ? "refused frame: wrong value count" : "")
            else { wrong += 1; continue }
        }
        #expect(wrong == 0)
        // Most of them waited in libzmq: the pool copied rather than reuse.
        #expect(pool.copies > 0)
    }

    @Test func paddingFillsEveryCommandToTheSameSize() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 16)
        defer { buffer.deallocate() }
        for motors in [0, 1, 2, 31, 32, 33, 200, 1000] {
            let size = HotCodec.paddedSize(motors: motors)
            let command = MotorCommandBuffer(capacity: motors)
            let decoded = MotorCommandBuffer(capacity: motors)
            for variant in 0..<4 {
                command.reset()
                command.valueCount = motors
                if variant > 0 {
                    command.protocolVersion = .max
                    command.layoutHash = .max
                    command.sequence = variant == 1 ? 1 : .max
                    command.sensorSequence = .max
                    command.senderTimeNs = -1
                    command.simTimeNs = variant == 3 ? -1 : 0
                    command.safeStop = true
                    command.setReason("refused frame: wrong value count, and then some more words to cut")
                }
                #expect(HotCodec.encode(command, into: buffer, paddedTo: size) == size, "\(motors) motors, variant \(variant)")
                #expect(HotCodec.decode(UnsafeRawBufferPointer(rebasing: buffer[0..<size]), into: decoded) == nil)
                #expect(decoded.sequence == command.sequence && decoded.reason == command.reason)
            }
        }
    }
}
