import Dispatch
import Foundation
import Synchronization
import Wire

/// SplitMix64 as a seeded RandomNumberGenerator.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return splitMix64(state &- 0x9E37_79B9_7F4A_7C15)
    }
}

/// Runs `body` on a new, dedicated thread (not a pool thread that may be
/// busy with other tests); `join()` waits for it.
final class TestThread: Sendable {
    private let done = DispatchSemaphore(value: 0)
    init(_ body: @escaping @Sendable () -> Void) {
        let done = self.done
        let thread = Thread {
            body()
            done.signal()
        }
        thread.start()
    }
    /// Waits at most `seconds`; returns whether the thread finished.
    @discardableResult
    func join(seconds: Double = 10) -> Bool {
        done.wait(timeout: .now() + seconds) == .success
    }
}

/// Elapsed milliseconds of `body`.
func milliseconds(_ body: () throws -> Void) rethrows -> Double {
    let start = monotonicNanoseconds()
    try body()
    return Double(monotonicNanoseconds() - start) / 1e6
}

extension UnsafeMutableRawBufferPointer {
    func prefixBytes(_ count: Int) -> [UInt8] { Array(UnsafeRawBufferPointer(rebasing: self[0..<count])) }
}
