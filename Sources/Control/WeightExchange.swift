import Neural
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Hands weights between the control thread and the loop thread, which owns
/// the network: the control thread fills the slot and raises
/// `LoopShared.Requests.weights`; the loop, at its next tick boundary,
/// installs new weights or copies the current ones out, and says it is done.
/// The loop never waits and allocates nothing; the control thread waits.
///
/// The slot is plain memory guarded by `phase`: only the requesting thread
/// touches it in `idle`/`done`, only the loop in `working`. Requesting
/// threads (control, recorder start/stop, shutdown) take turns on `producer`,
/// a lock the loop never touches.
public final class WeightExchange: @unchecked Sendable {
    private enum Phase: Int {
        case idle, posted, working, done
    }

    private let phase = Atomic<Int>(Phase.idle.rawValue)
    private var installs: [PreparedWeights] = []
    private var copies: [UnsafeMutableBufferPointer<Float>] = []
    private let producer = Mutex<Void>(())

    public init() {}

    /// Loop side, at a tick boundary.
    @inline(__always)
    func serve(_ network: Network) {
        guard phase.compareExchange(expected: Phase.posted.rawValue, desired: Phase.working.rawValue,
                                    ordering: .acquiringAndReleasing).exchanged else { return }
        for p in installs { network.install(p) }
        for (i, destination) in copies.enumerated() { network.copyWeights(ofProjection: i, into: destination) }
        phase.store(Phase.done.rawValue, ordering: .releasing)
    }

    /// Control side: has the loop install `prepared` at its next tick
    /// boundary. False if the loop did not get there within `timeoutNs`
    /// (stalled or stopped); then nothing was installed.
    public func install(_ prepared: [PreparedWeights], shared: LoopShared, timeoutNs: Int64) -> Bool {
        producer.withLock { _ in
            installs = prepared
            defer { installs = [] }
            return handOver(shared, timeoutNs)
        }
    }

    /// Control side: the network's weights (CSR order, per projection) as
    /// the loop sees them at its next tick boundary; nil on timeout.
    public func copy(synapseCounts: [Int], shared: LoopShared, timeoutNs: Int64) -> [[Float]]? {
        producer.withLock { _ in
            copies = synapseCounts.map { .allocate(capacity: max(1, $0)) }
            defer {
                for c in copies { c.deallocate() }
                copies = []
            }
            guard handOver(shared, timeoutNs) else { return nil }
            return zip(copies, synapseCounts).map { Array($0.prefix($1)) }
        }
    }

    private func handOver(_ shared: LoopShared, _ timeoutNs: Int64) -> Bool {
        phase.store(Phase.posted.rawValue, ordering: .releasing)
        shared.request(.weights)
        let done = { self.phase.load(ordering: .acquiring) == Phase.done.rawValue }
        if !shared.wakeup.wait(timeout: timeoutNs, until: done) {
            if phase.compareExchange(expected: Phase.posted.rawValue, desired: Phase.idle.rawValue, ordering: .acquiringAndReleasing).exchanged {
                return false  // withdrawn before the loop took it
            }
            _ = shared.wakeup.wait(timeout: .max, until: done)  // the loop took it: let it finish
        }
        phase.store(Phase.idle.rawValue, ordering: .releasing)
        return true
    }
}
