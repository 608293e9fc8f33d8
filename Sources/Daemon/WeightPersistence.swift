import Control
import Neural
import Recording
import Synchronization
import Wire
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's weights file (`persistence:` in the configuration,
/// docs/weights.md): loaded before the loop starts, saved after it stops,
/// and saved or loaded on request while it runs — then through
/// `LoopShared.weightExchange`, because the loop thread owns the network.
///
/// Reading, checking, encoding and writing happen on the calling thread
/// (start-up, shutdown, control); the loop only copies weights in or out.
public final class WeightPersistence: @unchecked Sendable {
    /// The configured file, resolved; nil when persistence is off.
    public let path: String?
    public let saveOnShutdown: Bool
    /// Saves completed since start (on request and on shutdown).
    public let saved = Atomic<Int>(0)
    private let network: Network
    private let shared: LoopShared
    private let log: @Sendable (String) -> Void
    private let clock = MonotonicClock()
    /// Hashing the wiring is O(synapses): done once, on first use.
    private lazy var layout = WeightLayout(network)
    /// How long a request waits for the loop's next tick boundary.
    static let handOverTimeoutNs: Int64 = 2_000_000_000

    public init(_ persistence: ControllerConfiguration.Persistence, network: Network, shared: LoopShared,
                log: @escaping @Sendable (String) -> Void) {
        path = persistence.weights
        saveOnShutdown = persistence.saveOnShutdown
        self.network = network
        self.shared = shared
        self.log = log
    }

    /// Before the loop thread starts: the configured file when present and
    /// valid; otherwise one line says why, and the configured weights stay.
    public func loadAtStart() {
        guard let path else { return }
        let leftovers = WeightStore.removeLeftovers(of: path)
        if !leftovers.isEmpty {
            log("weights: removed \(leftovers.count) temporary file(s) of a save that was cut short: \(leftovers.joined(separator: ", "))")
        }
        guard WeightStore.exists(path) else {
            log("weights: \(path) does not exist yet; starting from the configured weights")
            return
        }
        do {
            let snapshot = try WeightStore.load(path, into: network, layout: layout)
            log("weights: loaded \(path) (\(summary(snapshot)))")
        } catch {
            // Kept aside, so that a save on shutdown does not overwrite what may be
            // the only copy of weights learned with another configuration.
            let aside = path + ".refused"
            let kept = rename(path, aside) == 0 ? "; moved to \(aside)" : ""
            log("weights: refused \(error)\(kept); starting from the configured weights")
        }
    }

    /// After the loop thread has ended (it no longer touches the network).
    public func saveAtShutdown() {
        guard let path, saveOnShutdown else { return }
        do { try write(WeightStore.snapshot(of: network, layout: layout), to: path, why: "on shutdown") } catch {
            log("weights: \(error)")
        }
    }

    /// Control request: saves to `requested` (relative to the working
    /// directory), or to the configured file when empty. Nil, or what failed.
    public func save(to requested: String) -> String? {
        guard let target = requested.isEmpty ? path : requested else {
            return "save_weights needs a path: give one (--path) or configure persistence.weights"
        }
        let counts = layout.projections.map(\.synapseCount)
        guard let weights = shared.weightExchange.copy(synapseCounts: counts, shared: shared, timeoutNs: Self.handOverTimeoutNs) else {
            return "the loop did not reach a tick boundary within 2 s (stalled or stopping); nothing was saved"
        }
        do { try write(layout.snapshot(weights: weights), to: target, why: "on request") } catch { return "\(error)" }
        return nil
    }

    /// Control request: loads `requested` (required), checked against the
    /// network, installed by the loop at its next tick boundary. Nil, or why not.
    public func load(from requested: String) -> String? {
        guard !requested.isEmpty else { return "load_weights needs the path of a weights file (--path)" }
        do {
            let snapshot = try WeightStore.read(requested, layout: layout)
            let prepared = try WeightStore.prepare(snapshot, for: network, file: requested)
            guard shared.weightExchange.install(prepared, shared: shared, timeoutNs: Self.handOverTimeoutNs) else {
                return "the loop did not reach a tick boundary within 2 s (stalled or stopping); the weights are unchanged"
            }
            log("weights: loaded \(requested) on request (\(summary(snapshot)))")
            return nil
        } catch {
            log("weights: refused \(error)")
            return "\(error)"
        }
    }

    /// The network's weights as a weights file (recordings store them):
    /// read directly before the loop runs, else copied at a tick boundary.
    public func snapshotBytes(loopRunning: Bool) -> [UInt8]? {
        if !loopRunning { return WeightStore.snapshot(of: network, layout: layout).encode() }
        let counts = layout.projections.map(\.synapseCount)
        return shared.weightExchange.copy(synapseCounts: counts, shared: shared, timeoutNs: Self.handOverTimeoutNs)
            .map { layout.snapshot(weights: $0).encode() }
    }

    private func write(_ snapshot: WeightSnapshot, to target: String, why: String) throws(WeightStoreError) {
        let start = clock.now()
        let bytes = snapshot.encode()
        try WeightStore.writeAtomically(bytes, to: target)
        saved.add(1, ordering: .relaxed)
        let crc = UInt32(bytes[bytes.count - 4]) | UInt32(bytes[bytes.count - 3]) << 8
            | UInt32(bytes[bytes.count - 2]) << 16 | UInt32(bytes[bytes.count - 1]) << 24
        let ms = Double((clock.now() - start) / 100_000) / 10
        log("weights: saved \(target) \(why) (crc \(WeightSnapshot.describe(crc: crc)), \(bytes.count) bytes, "
            + "\(snapshot.projections.count) projections, \(snapshot.synapseCount) synapses, \(ms) ms)")
    }

    private func summary(_ s: WeightSnapshot) -> String {
        "crc \(s.crc.map(WeightSnapshot.describe) ?? "-"), \(s.projections.count) projections, \(s.synapseCount) synapses"
    }
}
