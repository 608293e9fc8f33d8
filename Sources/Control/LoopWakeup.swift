import CLinux
import Synchronization
import Wire
#if canImport(Glibc)
import Glibc
#endif

/// Wakes the lockstep loop while it waits for a simulator's frame, so that
/// requests, reloads, statistics and stop reach it while the simulator pauses.
///
/// The loop waits without a timeout, and `signal()` interrupts that wait
/// (SIGURG to the loop thread; the receive returns EINTR). Arming a receive
/// timeout on every wait cost about 1 µs of a 50 µs round trip on a virtual
/// machine; waiting on a second descriptor (zmq_poll) or a second peer of the
/// REP socket cost more. A signal that arrives while the loop is busy is
/// absorbed (the loop reaches a tick boundary anyway), so a thread that waits
/// for the loop repeats it.
public final class LoopWakeup: Sendable {
    /// The waiting loop's thread; the lock keeps it valid while signalled.
    private let thread = Mutex<UInt?>(nil)

    public init() {}

    /// Loop thread: from now on, `signal()` interrupts this thread's waits.
    public func attachCurrentThread() {
        sl_accept_interrupts()
        let me = UInt(bitPattern: Int(bitPattern: UInt(pthread_self())))
        thread.withLock { $0 = me }
    }

    /// Loop thread, before it ends.
    public func detach() { thread.withLock { $0 = nil } }

    /// Any thread; never blocks for long.
    public func signal() {
        thread.withLock { t in
            if let t { _ = sl_interrupt_thread(pthread_t(t)) }
        }
    }

    /// Any thread but the loop's: waits up to `timeout` ns for `done`,
    /// looking every 0.5 ms and signalling now and every 5 ms (a signal that
    /// lands while the loop is busy is absorbed). Returns whether `done` held.
    public func wait(timeout: Int64, until done: () -> Bool) -> Bool {
        let start = monotonicNanoseconds()
        var polls = 0
        while !done() {
            if monotonicNanoseconds() - start >= timeout { return false }
            if polls % 10 == 0 { signal() }
            polls += 1
            usleep(500)
        }
        return true
    }
}
