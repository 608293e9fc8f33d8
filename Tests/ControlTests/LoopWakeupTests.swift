import Control
import Foundation
import Synchronization
import Testing
import Wire

/// The lockstep loop waits for frames without a timeout; `LoopWakeup` must end
/// that wait, and only that thread's.
@Suite struct LoopWakeupTests {
    @Test func signalEndsAWaitWithoutTimeout() throws {
        let context = try ZMQContext()
        let wakeup = LoopWakeup()
        let outcome = Mutex<String?>(nil)
        let attached = Atomic<Bool>(false)
        let waiter = WorkerThread {
            do {
                let socket = try ZMQSocket(context, .rep)
                try socket.setReceiveTimeout(milliseconds: -1)
                try socket.bind("inproc://wakeup-test")
                wakeup.attachCurrentThread()
                attached.store(true, ordering: .releasing)
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
                defer { buffer.deallocate() }
                let received = try socket.receive(into: buffer, .untilInterrupted)
                wakeup.detach()
                outcome.withLock { $0 = received == nil ? "interrupted" : "received" }
            } catch {
                outcome.withLock { $0 = "\(error)" }
            }
        }
        while !attached.load(ordering: .acquiring) { usleep(1000) }
        usleep(50_000)
        #expect(outcome.withLock { $0 } == nil, "the wait ended by itself")
        // A signal can land before the thread blocks; the waiter's contract is to repeat it.
        let deadline = Date().addingTimeInterval(2)
        while outcome.withLock({ $0 }) == nil && Date() < deadline {
            wakeup.signal()
            usleep(5000)
        }
        waiter.join()
        #expect(outcome.withLock { $0 } == "interrupted")
        wakeup.signal()  // detached: does nothing
    }
}
