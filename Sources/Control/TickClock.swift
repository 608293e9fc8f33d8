import Wire
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the tick loop gets its time and sleeps: the real monotonic clock, or
/// a manual one that tests advance by hand (as swift-nio's embedded loop).
public protocol TickClock: AnyObject {
    /// Now, ns on CLOCK_MONOTONIC (or the manual clock's time).
    func now() -> Int64
    /// Sleeps until the absolute time `deadline` (ns).
    func sleep(until deadline: Int64)
    /// Sleeps until `busyWait` ns before `deadline`, then spins to it.
    func sleep(until deadline: Int64, busyWait: Int64)
}

extension TickClock {
    public func sleep(until deadline: Int64, busyWait: Int64) { sleep(until: deadline) }
}

/// CLOCK_MONOTONIC with absolute-deadline sleeps (`clock_nanosleep(TIMER_ABSTIME)`),
/// so sleeping never accumulates the error of relative sleeps.
public final class MonotonicClock: TickClock {
    public init() {}

    public func now() -> Int64 { monotonicNanoseconds() }

    public func sleep(until deadline: Int64) {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        // EINTR: a signal woke us early; sleep again towards the same deadline.
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
    }

    /// The kernel wakes a sleeping thread tens of µs late on a loaded or
    /// virtual machine; spinning the last stretch starts the tick on time.
    public func sleep(until deadline: Int64, busyWait: Int64) {
        guard busyWait > 0 else { return sleep(until: deadline) }
        sleep(until: deadline - busyWait)
        while monotonicNanoseconds() < deadline {}
    }
}

/// A clock that moves only when told to; `sleep` jumps to the deadline.
public final class ManualClock: TickClock {
    public private(set) var time: Int64
    /// Extra time each sleep overshoots by, to model wake-up lateness.
    public var lateness: Int64 = 0

    public init(start: Int64 = 0) { time = start }

    public func now() -> Int64 { time }
    public func advance(by ns: Int64) { time += ns }

    public func sleep(until deadline: Int64) {
        if deadline > time { time = deadline }
        time += lateness
    }
}

/// Deadlines of a fixed-period loop that keeps its phase (as ros2_control's
/// loop does): tick `n` is due at `start + n·period`. A tick that ends after
/// the next deadline is an overrun; the loop then skips to the next whole
/// period instead of running late ticks back to back.
public struct TickSchedule: Sendable {
    public let start: Int64
    public let period: Int64
    /// Index of the tick that runs next.
    public private(set) var next: Int64 = 0
    public private(set) var overruns: Int64 = 0
    /// Periods skipped because of overruns.
    public private(set) var skipped: Int64 = 0

    public init(start: Int64, period: Int64) {
        precondition(period > 0)
        self.start = start
        self.period = period
    }

    public var nextDeadline: Int64 { start + next * period }

    /// Called when the tick due at `nextDeadline` has finished at `now`;
    /// returns the deadline of the following tick.
    public mutating func tickFinished(at now: Int64) -> Int64 {
        next += 1
        let due = start + next * period
        if now > due {
            overruns += 1
            // The first deadline still ahead, on the original phase.
            let ahead = (now - start) / period + 1
            skipped += ahead - next
            next = ahead
        }
        return start + next * period
    }
}
