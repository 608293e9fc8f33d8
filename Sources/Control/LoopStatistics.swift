import Histogram
import Synchronization

/// The four timing distributions of the tick loop, in nanoseconds.
public struct TickHistograms: Sendable {
    /// From the start of a tick's work to the command sent.
    public var compute: Histogram<UInt64>
    /// How late the loop woke after its deadline (realtime mode).
    public var lateness: Histogram<UInt64>
    /// Age of the frame a tick used, from its arrival to the tick's start.
    public var frameAge: Histogram<UInt64>
    /// From a frame's arrival to the command that answers it.
    public var latency: Histogram<UInt64>

    public init() {
        func make() -> Histogram<UInt64> { Histogram(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three) }
        compute = make()
        lateness = make()
        frameAge = make()
        latency = make()
    }

    public mutating func add(_ other: TickHistograms) {
        compute.add(other.compute)
        lateness.add(other.lateness)
        frameAge.add(other.frameAge)
        latency.add(other.latency)
    }

    public mutating func reset() {
        compute.reset()
        lateness.reset()
        frameAge.reset()
        latency.reset()
    }
}

/// Hands the loop's histograms to a non-real-time reader without locks or
/// allocation on the loop's side: the loop records into one of two buffers;
/// the reader asks for a swap, the loop swaps at a tick boundary, and the
/// reader then owns the other buffer until it asks again.
public final class StatisticsExchange: @unchecked Sendable {
    /// Raw storage: the two threads touch different elements, which a Swift
    /// array property would flag as overlapping access.
    private let buffers: UnsafeMutablePointer<TickHistograms>
    private let active = Atomic<Int>(0)
    private let swapRequested = Atomic<Bool>(false)
    private let swaps = Atomic<Int>(0)

    public init() {
        buffers = .allocate(capacity: 2)
        buffers.initialize(repeating: TickHistograms(), count: 2)
    }

    deinit {
        buffers.deinitialize(count: 2)
        buffers.deallocate()
    }

    // MARK: Loop side

    /// The buffer the loop records into; valid until the next `tickBoundary()`.
    @inline(__always)
    public func record(_ body: (inout TickHistograms) -> Void) {
        body(&buffers[active.load(ordering: .relaxed)])
    }

    /// Called by the loop between ticks: performs a requested swap.
    @inline(__always)
    public func tickBoundary() {
        guard swapRequested.load(ordering: .acquiring) else { return }
        active.store(1 - active.load(ordering: .relaxed), ordering: .releasing)
        swapRequested.store(false, ordering: .relaxed)
        swaps.add(1, ordering: .releasing)
    }

    /// Merges both buffers into `total`; only once the loop thread has ended.
    public func drainAfterLoopEnded(into total: inout TickHistograms) {
        for i in 0..<2 {
            total.add(buffers[i])
            buffers[i].reset()
        }
    }

    // MARK: Reader side (one reader thread)

    /// Asks for a swap and, once the loop did it (within `timeout` ns of
    /// polling), merges what the loop recorded since the last call into
    /// `total`. Returns false if the loop did not reach a tick boundary
    /// (a lockstep loop waiting for a frame reaches one when `wakeup` wakes it).
    public func collect(into total: inout TickHistograms, timeout: Int64, wakeup: LoopWakeup) -> Bool {
        let before = swaps.load(ordering: .acquiring)
        swapRequested.store(true, ordering: .releasing)
        guard wakeup.wait(timeout: timeout, until: { swaps.load(ordering: .acquiring) != before }) else { return false }
        let i = 1 - active.load(ordering: .acquiring)
        total.add(buffers[i])
        buffers[i].reset()
        return true
    }
}
