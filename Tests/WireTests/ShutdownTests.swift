import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import Wire

@Suite("Shutdown never hangs", .serialized)
struct ShutdownTests {
    @Test func closingWithUnsentMessagesReturnsWithin100ms() throws {
        var queued = 0
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, .push)
        try socket.setSendHighWaterMark(100_000)
        try socket.connect("tcp://127.0.0.1:9")  // nobody listens
        try socket.connect("ipc:///tmp/spikeloop-wire-nobody.ipc")
        let payload = [UInt8](repeating: 7, count: 256)
        for _ in 0..<10_000 where try socket.send(payload, .dontWait) { queued += 1 }
        let start = monotonicNanoseconds()
        _ = consume socket
        _ = consume context
        let elapsed = Double(monotonicNanoseconds() - start) / 1e6
        #expect(queued == 10_000)
        #expect(elapsed < 100, "shutdown with \(queued) unsent messages took \(elapsed) ms")
    }

    @Test func closingAfterThePeerIsGoneReturnsWithin100ms() throws {
        let context = try ZMQContext()
        let client = try ZMQSocket(context, .req)
        do {
            let server = try ZMQSocket(context, .rep)
            try server.bind("tcp://127.0.0.1:*")
            try client.connect(try server.lastEndpoint)
            try client.send([1], .wait)
            #expect(try server.receiveBytes(.wait) == [1])
            try server.send([2], .wait)
            #expect(try client.receiveBytes(.wait) == [2])
        }  // the server is gone
        try client.send(Array(repeating: 3, count: 64), .wait)  // queued towards a dead peer
        #expect(try client.receiveBytes(.dontWait) == nil)
        let start = monotonicNanoseconds()
        _ = consume client
        _ = consume context
        let elapsed = Double(monotonicNanoseconds() - start) / 1e6
        #expect(elapsed < 100, "shutdown with a vanished peer took \(elapsed) ms")
    }

    @Test func pubWithSlowSubscriberClosesWithin100ms() throws {
        let context = try ZMQContext()
        let publisher = try ZMQSocket(context, .pub)
        try publisher.bind("tcp://127.0.0.1:*")
        let subscriber = try ZMQSocket(context, .sub)
        try subscriber.subscribe()
        try subscriber.setReceiveHighWaterMark(10)
        try subscriber.connect(try publisher.lastEndpoint)
        usleep(50_000)
        let payload = [UInt8](repeating: 1, count: 4096)
        for _ in 0..<5_000 { _ = try publisher.send(payload, .dontWait) }
        let start = monotonicNanoseconds()
        _ = consume publisher
        _ = consume subscriber
        _ = consume context
        let elapsed = Double(monotonicNanoseconds() - start) / 1e6
        #expect(elapsed < 100, "shutdown with a full subscriber took \(elapsed) ms")
    }
}
