import CLinux
import Synchronization
import Wire
#if canImport(Glibc)
import Glibc
#endif

/// Ends a wait for the daemon's answer that lasts longer than `timeout`.
///
/// The simulator's REQ socket waits without a receive timeout: arming the
/// timer on every wait cost about 1 µs of a 50 µs lockstep round trip on a
/// virtual machine (see `LoopWakeup` in the daemon). Instead a thread looks
/// every 20 ms (at most) and interrupts a wait that began too long ago.
final class AnswerDeadline: @unchecked Sendable {
    private let timeout: Int64
    /// When the current wait began; 0 while not waiting.
    private let waitingSince = Atomic<Int64>(0)
    private let finished = Atomic<Bool>(false)
    private let waiter: pthread_t
    private var watcher = pthread_t()

    /// Call on the thread that will wait.
    init(timeoutMilliseconds: Int32) {
        timeout = Int64(timeoutMilliseconds) * 1_000_000
        waiter = pthread_self()
        sl_accept_interrupts()
        let box = Unmanaged.passRetained(self)
        let rc = pthread_create(&watcher, nil, { arg in
            Unmanaged<AnswerDeadline>.fromOpaque(arg!).takeRetainedValue().watch()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    private func watch() {
        let step = min(max(timeout / 4, 1_000_000), 20_000_000)
        while !finished.load(ordering: .acquiring) {
            var pause = timespec(tv_sec: Int(step / 1_000_000_000), tv_nsec: Int(step % 1_000_000_000))
            nanosleep(&pause, nil)
            let since = waitingSince.load(ordering: .acquiring)
            if since != 0 && monotonicNanoseconds() - since > timeout { _ = sl_interrupt_thread(waiter) }
        }
    }

    /// Receives the answer into `buffer`; nil when none came within the timeout.
    @inline(__always)
    func receive(_ socket: borrowing ZMQSocket, into buffer: UnsafeMutableRawBufferPointer) throws -> ZMQReceived? {
        let start = monotonicNanoseconds()
        waitingSince.store(start, ordering: .releasing)
        defer { waitingSince.store(0, ordering: .releasing) }
        while true {
            if let received = try socket.receive(into: buffer, .untilInterrupted) { return received }
            if monotonicNanoseconds() - start > timeout { return nil }  // else a late interrupt of an earlier wait
        }
    }

    /// Stops the watcher thread and waits for it.
    func finish() {
        finished.store(true, ordering: .releasing)
        pthread_join(watcher, nil)
    }
}
