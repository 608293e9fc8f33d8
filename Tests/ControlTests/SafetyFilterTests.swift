import Control
import Testing

@Suite struct SafetyFilterTests {
    let ms: Int64 = 1_000_000

    func filter(autoResume: Bool = false) -> SafetyFilter {
        SafetyFilter(motors: [
            .init(min: -10, max: 10, maxSlewPerSecond: 1000, safeValue: 0),
            .init(min: 0, max: 1, safeValue: 0.5),
        ], watchdogTimeout: 20 * ms, autoResume: autoResume)
    }

    func run(_ f: inout SafetyFilter, _ values: [Float], at t: Int64) -> [Float] {
        var v = values
        v.withUnsafeMutableBufferPointer { f.filter($0, at: t) }
        return v
    }

    @Test func startsSafeUntilTheFirstValidFrame() {
        var f = filter()
        #expect(run(&f, [5, 0.9], at: 0) == [0, 0.5])
        #expect(f.reasons == [.startup])
        f.validFrame(at: 1 * ms, estop: false)
        #expect(!f.isSafeStopped)
        // 1 ms later at 1000 units/s: at most 1 unit of change from the safe value.
        #expect(run(&f, [5, 0.9], at: 1 * ms) == [1, 0.9])
    }

    @Test func clampsAndSlewLimits() {
        var f = filter()
        f.validFrame(at: 0, estop: false)
        _ = run(&f, [0, 0], at: 0)
        #expect(run(&f, [50, 7], at: 2 * ms) == [2, 1])      // slew 1000/s × 2 ms; clamp to 1
        #expect(run(&f, [50, -3], at: 12 * ms) == [10, 0])    // clamp to max 10
        #expect(run(&f, [.nan, .infinity], at: 13 * ms) == [9, 0.5])  // not finite → safe value (slewed from 10 for the first)
    }

    @Test func watchdogHoldsSafeUntilFramesAndResume() {
        var f = filter()
        f.validFrame(at: 0, estop: false)
        f.checkWatchdog(at: 20 * ms - 1)
        #expect(!f.isSafeStopped)          // just before the timeout: not yet
        f.checkWatchdog(at: 20 * ms)
        #expect(f.reasons == [.watchdog])
        #expect(run(&f, [5, 0.9], at: 21 * ms) == [0, 0.5])
        f.validFrame(at: 30 * ms, estop: false)
        #expect(f.reasons == [.awaitingResume])  // frames are back, an operator must resume
        #expect(f.resume().isEmpty)
        #expect(!f.isSafeStopped)
    }

    @Test func autoResumeForSimulators() {
        var f = filter(autoResume: true)
        f.validFrame(at: 0, estop: false)
        f.checkWatchdog(at: 50 * ms)
        f.validFrame(at: 60 * ms, estop: false)
        #expect(!f.isSafeStopped)
    }

    @Test func estopAndRequest() {
        var f = filter()
        f.validFrame(at: 0, estop: true)
        #expect(f.reasons == [.estop])
        #expect(f.resume() == [.estop])     // refused while e-stop is asserted
        f.validFrame(at: 1 * ms, estop: false)
        #expect(f.reasons == [.awaitingResume])
        f.resume()
        f.requestSafeStop()
        #expect(run(&f, [3, 0.2], at: 2 * ms) == [0, 0.5])
        f.resume()
        #expect(!f.isSafeStopped)
    }
}

@Suite struct TickScheduleTests {
    @Test func keepsPhaseAndSkipsOverruns() {
        var s = TickSchedule(start: 1000, period: 100)
        #expect(s.nextDeadline == 1000)
        #expect(s.tickFinished(at: 1050) == 1100)
        #expect(s.tickFinished(at: 1199) == 1200)
        // Tick due at 1200 ends at 1420: deadlines 1300 and 1400 are gone.
        #expect(s.tickFinished(at: 1420) == 1500)
        #expect(s.overruns == 1)
        #expect(s.skipped == 2)
        #expect(s.tickFinished(at: 1500) == 1600)  // ending exactly on the deadline is on time
        #expect(s.overruns == 1)
    }

    @Test func manualClockSleepsToDeadlines() {
        let clock = ManualClock(start: 0)
        var s = TickSchedule(start: 0, period: 1_000_000)
        var deadline = s.nextDeadline
        for _ in 0..<1000 {
            clock.sleep(until: deadline)
            clock.advance(by: 300_000)  // work
            deadline = s.tickFinished(at: clock.now())
        }
        #expect(s.overruns == 0)
        #expect(clock.now() == 999 * 1_000_000 + 300_000)
    }
}
