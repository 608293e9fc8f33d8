import CAllocationCounter
import Control
import Daemon
import Recording
import Foundation
import Synchronization
import Testing
import Wire

#if DEBUG
let optimised = false
#else
let optimised = true
#endif

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("python/fixtures/closed_loop")

/// A lockstep tick through real sockets (tcp loopback REQ/REP, libzmq's I/O
/// thread between them, as with a simulator): receive, validate, decode,
/// encoders, network, decoders, safety, encode, send, over 100,000 ticks.
@Suite struct TickAllocationTests {
    /// Recording: the loop copies each tick into the session stream's queue
    /// while the stream's thread writes the MCAP file (its allocations are
    /// its own). Telemetry: the same, published live to a subscriber.
    @Test(.enabled(if: optimised, "allocation counts are meaningful in optimised builds: swift test -c release"),
          arguments: [(false, false), (true, false), (false, true)])
    func lockstepTicksAllocateNothing(recording: Bool, telemetry: Bool) throws {
        var config = try ControllerConfiguration.load(path: fixtures.appendingPathComponent("controller.yaml").path)
        config.recording.probes = [.init(population: "flexor", variable: "v", neurons: [0, 5])]
        let loop = TickLoop(config: config, controller: try Controller(config), shared: LoopShared(),
                            statistics: StatisticsExchange(), clock: MonotonicClock())
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tick-allocation-\(getpid())-\(recording).mcap").path
        let context = try ZMQContext()
        let live = "ipc:///tmp/tick-allocation-telemetry-\(getpid())"
        let stream = SessionStream(loop: loop, telemetry: telemetry ? .init(endpoint: live, context: context, security: .none, insecure: false) : nil)
        stream.start()
        defer { stream.stop() }
        let session = recording ? try stream.startRecording(to: file, configuration: config, weights: nil) : nil
        defer { if recording { try? FileManager.default.removeItem(atPath: file) } }
        // A subscriber that reads everything, as a live view does.
        let received = Atomic<Int>(0)
        let subscribed = Atomic<Bool>(!telemetry)
        let done = Atomic<Bool>(false)
        let reader = telemetry ? WorkerThread {
            guard let sub = try? ZMQSocket(context, .sub), (try? sub.subscribe()) != nil,
                  (try? sub.setReceiveTimeout(milliseconds: 100)) != nil, (try? sub.connect(live)) != nil else { return }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
            defer { buffer.deallocate() }
            while !done.load(ordering: .relaxed) {
                if (try? sub.receive(into: buffer, .wait)) ?? nil != nil {
                    received.add(1, ordering: .relaxed)
                    subscribed.store(true, ordering: .relaxed)
                }
            }
        } : nil
        while !subscribed.load(ordering: .relaxed) { usleep(10_000) }  // the channel list arrives once a second
        let rep = try ZMQSocket(context, .rep)
        try rep.bind("tcp://127.0.0.1:*")
        let req = try ZMQSocket(context, .req)
        try req.connect(try rep.lastEndpoint)

        let encoded = encodedArmFrames(layoutHash: loop.layout.layoutHash, count: 100) { i in
            (Float(sin(Double(i) * 0.1)), Float(cos(Double(i) * 0.07)))
        }
        let reply = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 16)
        defer { reply.deallocate() }
        let command = MotorCommandBuffer(capacity: 2)

        func tick(_ i: Int) throws {
            try encoded[i % 100].withUnsafeBytes { _ = try req.send($0, .wait) }
            try loop.serveOne(rep)
            let got = try req.receive(into: reply, .wait)!
            _ = HotCodec.decode(UnsafeRawBufferPointer(rebasing: reply[0..<got.byteCount]), into: command)
        }
        for i in 0..<1000 { try tick(i) }  // warm-up: libzmq's pipes reach their steady size
        // Only the daemon's side is counted: the simulator's REQ socket may grow
        // its own pipe now and then (libzmq), which is not the tick's doing.
        var allocations: UInt64 = 0
        var firstCaller = ""
        for i in 1000..<101_000 {
            try encoded[i % 100].withUnsafeBytes { _ = try req.send($0, .wait) }
            sl_alloc_counting_begin()
            try loop.serveOne(rep)
            let counted = sl_alloc_counting_end()
            if counted > 0 && allocations == 0 { firstCaller = sl_alloc_first_caller().map { String(cString: $0) } ?? "unknown" }
            allocations += counted
            let got = try req.receive(into: reply, .wait)!
            _ = HotCodec.decode(UnsafeRawBufferPointer(rebasing: reply[0..<got.byteCount]), into: command)
        }
        #expect(allocations == 0, "\(allocations) heap allocations in 100,000 ticks; the first from \(firstCaller)")
        #expect(loop.repliesCopied == 0)
        #expect(loop.controller.ticks == 101_000)
        if let reader {
            usleep(500_000)
            done.store(true, ordering: .relaxed)
            reader.join()
            // Telemetry alone drops what it cannot keep up with (counted);
            // the ticks it took reached the subscriber.
            #expect(received.load(ordering: .relaxed) > 10_000)
        }
        if let session {
            // Every tick made a frame record and a tick record; in lockstep
            // the loop waits for the idle-priority recorder when it falls
            // behind under this flood (tens of thousands of ticks a second):
            // nothing is dropped.
            _ = stream.stopRecording(finalWeights: nil)
            #expect(loop.recordsDropped == 0)
            let summary = try #require(try MCAPReader(path: file).summary())
            let counts = summary.statistics?.channelMessageCounts ?? [:]
            func count(_ topic: String) -> Int64 {
                Int64(summary.channels.first { $0.value.topic == topic }.flatMap { counts[$0.key] } ?? 0)
            }
            #expect(count("/sensors") + count("/motors/decoded") + loop.recordsDropped == 2 * 101_000)
            #expect(count("/motors/decoded") == count("/motors/sent"))
            #expect(count("/probes") == count("/motors/decoded"))
        }
        #expect(command.sensorSequence == UInt64((101_000 - 1) % 100 + 1))
        #expect(loop.controller.network.stepIndex == 1_010_000)
    }
}

/// A realtime tick through real sockets (tcp loopback PUB → SUB for frames,
/// PUB → SUB for commands, set up as in the daemon): drain frames,
/// watchdog, encoders, network, decoders, safety, publish.
@Suite struct RealtimeTickAllocationTests {
    @Test(.enabled(if: optimised, "allocation counts are meaningful in optimised builds: swift test -c release"))
    func realtimeTicksAllocateNothing() throws {
        var config = try ControllerConfiguration.load(path: fixtures.appendingPathComponent("controller.yaml").path)
        config.loop.mode = .realtime
        let clock = ManualClock(start: 1_000_000_000)
        let loop = TickLoop(config: config, controller: try Controller(config), shared: LoopShared(),
                            statistics: StatisticsExchange(), clock: clock)
        let context = try ZMQContext()
        let frames = try ZMQSocket(context, .sub)
        try frames.setReceiveHighWaterMark(Int32(TickLoop.frameQueueLength))  // as the daemon
        try frames.subscribe()
        try frames.bind("tcp://127.0.0.1:*")
        let commands = try ZMQSocket(context, .pub)
        try commands.setSendHighWaterMark(TickLoop.commandQueueLength)  // as the daemon
        try commands.bind("tcp://127.0.0.1:*")
        let robot = try ZMQSocket(context, .pub)
        try robot.connect(try frames.lastEndpoint)
        let robotCommands = try ZMQSocket(context, .sub)
        try robotCommands.setConflate(true)
        try robotCommands.subscribe()
        try robotCommands.connect(try commands.lastEndpoint)
        let commandBytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { commandBytes.deallocate() }
        var commandsSeen = 0

        let frame = SensorFrameBuffer(capacity: 2)
        var bytes = [UInt8](repeating: 0, count: 256)
        func publish(_ i: Int) throws {
            frame.reset()
            frame.protocolVersion = wireProtocolVersion
            frame.layoutHash = loop.layout.layoutHash
            frame.sequence = UInt64(i + 1)
            frame.valueCount = 2
            frame.values[0] = Float(i % 100) / 100
            frame.values[1] = -0.5
            try bytes.withUnsafeMutableBytes { b in
                let n = HotCodec.encode(frame, into: b)!
                _ = try robot.send(UnsafeRawBufferPointer(rebasing: b[0..<n]), .dontWait)
            }
        }
        func tick(_ i: Int) throws {
            try publish(i)
            usleep(50)  // the frame crosses libzmq's I/O thread
            clock.advance(by: 1_000_000)
            try loop.realtimeTick(frames: frames, commands: commands, start: clock.now(), deadline: clock.now())
            while try robotCommands.receive(into: commandBytes, .dontWait) != nil { commandsSeen += 1 }
        }
        // Warm-up until frames flow (a subscription reaches the publisher a
        // little later) and the controller has run 1000 ticks.
        var i = 0
        while loop.controller.ticks < 1000 && i < 100_000 {
            try tick(i)
            i += 1
        }
        let before = loop.controller.ticks
        var allocations: UInt64 = 0
        var firstCaller = ""
        commandsSeen = 0
        for _ in 0..<10_000 {
            try publish(i)
            usleep(50)
            clock.advance(by: 1_000_000)
            sl_alloc_counting_begin()
            try loop.realtimeTick(frames: frames, commands: commands, start: clock.now(), deadline: clock.now())
            let counted = sl_alloc_counting_end()
            if counted > 0 && allocations == 0 { firstCaller = sl_alloc_first_caller().map { String(cString: $0) } ?? "unknown" }
            allocations += counted
            while try robotCommands.receive(into: commandBytes, .dontWait) != nil { commandsSeen += 1 }
            i += 1
        }
        #expect(allocations == 0, "\(allocations) heap allocations in 10,000 realtime ticks; the first from \(firstCaller)")
        #expect(loop.repliesCopied == 0)
        #expect(commandsSeen > 5000)  // the robot heard the loop (its CONFLATE keeps the newest)
        #expect(loop.controller.ticks - before == 10_000)
        #expect(!loop.safety.isSafeStopped)
    }
}
