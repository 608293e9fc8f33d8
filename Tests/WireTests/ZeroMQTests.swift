import CZeroMQ
import Dispatch
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import Wire

@Suite("ZeroMQ wrapper")
struct ZeroMQTests {
    @Test func pairSendsAndReceivesIntoCallerBuffers() throws {
        let context = try ZMQContext()
        let a = try ZMQSocket(context, .pair)
        let b = try ZMQSocket(context, .pair)
        try a.bind("inproc://pair-basic")
        try b.connect("inproc://pair-basic")
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
        defer { buffer.deallocate() }

        #expect(try b.receive(into: buffer, .dontWait) == nil)
        #expect(try a.send([1, 2, 3, 4, 5], .dontWait))
        let got = try #require(try b.receive(into: buffer, .wait))
        #expect(got == ZMQReceived(byteCount: 5, truncated: false, more: false))
        #expect(buffer.prefixBytes(5) == [1, 2, 3, 4, 5])

        // A part larger than the buffer is truncated and says so.
        try a.send([UInt8](0..<40), .wait)
        let big = try #require(try b.receive(into: buffer, .wait))
        #expect(big == ZMQReceived(byteCount: 40, truncated: true, more: false))
        #expect(buffer.prefixBytes(16) == [UInt8](0..<16))

        // Multipart: `more` is reported and the rest can be dropped.
        try a.send([9], more: true)
        try a.send([8], more: true)
        try a.send([7])
        let first = try #require(try b.receive(into: buffer, .wait))
        #expect(first.more)
        #expect(try b.discardRemainingParts() == 2)
        #expect(try b.receive(into: buffer, .dontWait) == nil)
    }

    @Test func reqRepOverLoopbackTCPWithEphemeralPort() throws {
        let context = try ZMQContext()
        let server = try ZMQSocket(context, .rep)
        try server.bind("tcp://127.0.0.1:*")
        let endpoint = try server.lastEndpoint
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        #expect(Int(endpoint.split(separator: ":").last!)! > 0)
        let client = try ZMQSocket(context, .req)
        try client.connect(endpoint)
        try client.send(Array("ping".utf8), .wait)
        #expect(try server.receiveBytes(.wait) == Array("ping".utf8))
        try server.send(Array("pong".utf8), .wait)
        #expect(try client.receiveBytes(.wait) == Array("pong".utf8))
    }

    @Test func routerDealerCarryIdentitiesInMultipartMessages() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, .router)
        try router.bind("ipc:///tmp/spikeloop-wire-router-\(getpid()).ipc")
        let dealer = try ZMQSocket(context, .dealer)
        try dealer.setRoutingID(Array("sim-1".utf8))
        try dealer.connect(try router.lastEndpoint)
        try dealer.send(Array("frame".utf8), .wait)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { buffer.deallocate() }
        let identity = try #require(try router.receive(into: buffer, .wait))
        #expect(identity.more)
        #expect(buffer.prefixBytes(identity.byteCount) == Array("sim-1".utf8))
        let body = try #require(try router.receive(into: buffer, .wait))
        #expect(!body.more)
        #expect(buffer.prefixBytes(body.byteCount) == Array("frame".utf8))
        try router.send(Array("sim-1".utf8), .wait, more: true)
        try router.send(Array("command".utf8), .wait)
        #expect(try dealer.receiveBytes(.wait) == Array("command".utf8))
    }

    @Test func optionsAreAppliedAndLingerDefaultsToZero() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, .sub)
        #expect(try socket.intOption(ZMQ_LINGER) == 0)
        try socket.setReceiveHighWaterMark(7)
        try socket.setSendHighWaterMark(9)
        try socket.setReceiveTimeout(milliseconds: 25)
        try socket.setSendTimeout(milliseconds: 35)
        try socket.setImmediate(true)
        try socket.setConflate(true)
        try socket.subscribe()
        try socket.setLinger(milliseconds: 5)
        #expect(try socket.intOption(ZMQ_RCVHWM) == 7)
        #expect(try socket.intOption(ZMQ_SNDHWM) == 9)
        #expect(try socket.intOption(ZMQ_RCVTIMEO) == 25)
        #expect(try socket.intOption(ZMQ_SNDTIMEO) == 35)
        #expect(try socket.intOption(ZMQ_IMMEDIATE) == 1)
        #expect(try socket.intOption(ZMQ_LINGER) == 5)
        #expect(socket.type == .sub)
    }

    @Test func errorsNameTheOperationAndCode() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, .rep)
        #expect(throws: ZMQError.failed(operation: "connect(bogus://x) on REP socket", code: EPROTONOSUPPORT,
                                        message: "Protocol not supported")) {
            try socket.connect("bogus://x")
        }
        try socket.bind("tcp://127.0.0.1:*")
        let endpoint = try socket.lastEndpoint
        let other = try ZMQSocket(context, .rep)
        do {
            try other.bind(endpoint)
            Issue.record("binding \(endpoint) twice succeeded")
        } catch let ZMQError.failed(operation, code, _) {
            #expect(operation == "bind(\(endpoint)) on REP socket")
            #expect(code == EADDRINUSE)
        }
    }

    @Test func receiveTimeoutReturnsNothing() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, .pull)
        try socket.bind("inproc://timeout")
        try socket.setReceiveTimeout(milliseconds: 50)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
        defer { buffer.deallocate() }
        var got: ZMQReceived? = ZMQReceived(byteCount: -1, truncated: false, more: false)
        let elapsed = try milliseconds { got = try socket.receive(into: buffer, .wait) }
        #expect(got == nil)
        #expect(elapsed >= 45 && elapsed < 1000)
    }

    @Test func pollReportsWhichSocketIsReady() throws {
        let context = try ZMQContext()
        let pullA = try ZMQSocket(context, .pull)
        let pullB = try ZMQSocket(context, .pull)
        try pullA.bind("inproc://poll-a")
        try pullB.bind("inproc://poll-b")
        let push = try ZMQSocket(context, .push)
        try push.connect("inproc://poll-b")
        var poller = ZMQPoller(capacity: 2)
        let a = poller.add(pullA)
        let b = poller.add(pullB)
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
        try push.send([42], .wait)
        #expect(try poller.poll(timeoutMilliseconds: 1000) == 1)
        #expect(poller.events(at: a).isEmpty)
        #expect(poller.events(at: b) == .readable)
        #expect(try pullB.receiveBytes() == [42])
    }

    @Test func contextShutdownEndsABlockedReceiveWithTerminated() throws {
        let context = try ZMQContext()
        let outcome = Mutex<String>("still blocked")
        let returnedAt = Atomic<Int64>(0)
        let blocking = DispatchSemaphore(value: 0)
        let thread = TestThread {
            do {
                let socket = try ZMQSocket(context, .sub)
                try socket.connect("tcp://127.0.0.1:9")
                blocking.signal()
                _ = try socket.receiveBytes(.wait)
                outcome.withLock { $0 = "received" }
            } catch ZMQError.terminated {
                outcome.withLock { $0 = "terminated" }
            } catch {
                outcome.withLock { $0 = "\(error)" }
            }
            returnedAt.store(monotonicNanoseconds(), ordering: .relaxed)
        }
        blocking.wait()
        usleep(20_000)  // let it enter zmq_recv
        let shutdownAt = monotonicNanoseconds()
        context.shutdown()
        #expect(thread.join(seconds: 2))
        #expect(outcome.withLock { $0 } == "terminated")
        let elapsed = Double(returnedAt.load(ordering: .relaxed) - shutdownAt) / 1e6
        #expect(elapsed < 100, "the blocked receive returned \(elapsed) ms after shutdown")
    }

    @Test func versionAndCurveSupport() {
        #expect(ZMQContext.version.major == 4)
        #expect(ZMQContext.hasCurve)
    }
}
