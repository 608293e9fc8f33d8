import Control
import Foundation
import Testing
import Wire

/// The realtime watchdog counts from a frame's arrival, not from the tick
/// that read it: the motors go safe within watchdog_timeout + one tick of
/// the last frame's arrival (it used to be up to two ticks).
@Suite struct WatchdogTests {
    @Test(arguments: [Int64(1), 500_000, 999_999])
    func safeWithinTimeoutPlusOneTickOfTheLastFrame(arrivalAfterTick: Int64) throws {
        let ms: Int64 = 1_000_000
        var config = try ControllerConfiguration.load(path: fixtures.appendingPathComponent("controller.yaml").path)
        config.loop.mode = .realtime
        config.loop.watchdogTimeout = 50 * ms
        let clock = ManualClock(start: 0)
        let loop = TickLoop(config: config, controller: try Controller(config), shared: LoopShared(),
                            statistics: StatisticsExchange(), clock: clock)
        let context = try ZMQContext()
        let frames = try ZMQSocket(context, .sub)
        try frames.setConflate(true)
        try frames.subscribe()
        try frames.bind("inproc://watchdog-frames")
        let commands = try ZMQSocket(context, .pub)
        try commands.bind("inproc://watchdog-commands")
        let robot = try ZMQSocket(context, .pub)
        try robot.connect("inproc://watchdog-frames")
        let frame = SensorFrameBuffer(capacity: 2)
        var sequence: UInt64 = 0
        func publish() throws {
            sequence += 1
            frame.reset()
            frame.protocolVersion = wireProtocolVersion
            frame.layoutHash = loop.layout.layoutHash
            frame.sequence = sequence
            frame.valueCount = 2
            frame.values[0] = 0.1
            frame.values[1] = -0.2
            var bytes = [UInt8](repeating: 0, count: 128)
            try bytes.withUnsafeMutableBytes { b in
                let n = HotCodec.encode(frame, into: b)!
                _ = try robot.send(UnsafeRawBufferPointer(rebasing: b[0..<n]), .wait)
            }
        }
        func tick(at t: Int64) throws {
            clock.advance(by: t - clock.now())
            try loop.realtimeTick(frames: frames, commands: commands, start: t, deadline: t)
        }
        // Frames every tick until the loop runs (the subscription needs a moment).
        var t: Int64 = 0
        while loop.safety.isSafeStopped && t < 5000 * ms {
            try publish()
            t += ms
            try tick(at: t)
        }
        #expect(!loop.safety.isSafeStopped)
        // The last frame arrives after this tick read the socket.
        clock.advance(by: arrivalAfterTick)
        let arrival = clock.now()
        try publish()
        var safeAt: Int64?
        while safeAt == nil && t < arrival + 200 * ms {
            t += ms
            try tick(at: t)
            if loop.safety.isSafeStopped { safeAt = t }
        }
        let safe = try #require(safeAt)
        #expect(safe <= arrival + 50 * ms + ms, "safe \(Double(safe - arrival) / 1e6) ms after the last frame arrived")
        #expect(safe >= arrival + 50 * ms - ms)
    }
}
