/// Rewards a network earns by its own spikes (``SpikePairingRewardSpec``),
/// kept for the steps at which they fall due.
///
/// Pending rewards live in a ring indexed by the step they fall due, one
/// slot per step of the longest delay: a reward earned at most once per
/// step needs no queue, and the step allocates nothing.
final class SpikePairingReward {
    let spec: SpikePairingRewardSpec
    private let prePopulation: Int, preNeuron: UInt32
    private let postPopulation: Int, postNeuron: UInt32
    private let withinSteps: Int64
    /// The delay in steps is `delayLo + k`, k uniform in `0..<delayCount`.
    private let delayLo: Int64, delayCount: Int
    private let due: StateBuffer<Double>
    private let slots: Int64
    /// The delays' generator as built, for `restoreInitialState`.
    private let initialRNG: RandomSource
    private var rng: RandomSource
    /// The step of `pre`'s last spike (long before the start if none).
    private var lastPre = SpikePairingReward.never
    private static let never: Int64 = -(1 << 62)
    private(set) var earned = 0
    private(set) var delivered = 0

    init(_ spec: SpikePairingRewardSpec, index: Int, dt: Double, seed: UInt64,
         populations: [any PopulationDynamics]) throws(NetworkBuildError) {
        self.spec = spec
        let what = "rewards[\(index)]"
        func locate(_ address: NeuronAddress, _ role: String) throws(NetworkBuildError) -> Int {
            guard let p = populations.firstIndex(where: { $0.name == address.population }) else {
                throw NetworkBuildError("\(what).\(role): no population named '\(address.population)'")
            }
            guard address.index >= 0, address.index < populations[p].size else {
                throw NetworkBuildError("\(what).\(role): \(address) is outside '\(address.population)' (0..<\(populations[p].size))")
            }
            return p
        }
        prePopulation = try locate(spec.pre, "pre")
        postPopulation = try locate(spec.post, "post")
        preNeuron = UInt32(spec.pre.index)
        postNeuron = UInt32(spec.post.index)
        guard spec.within > 0, spec.within.isFinite else { throw NetworkBuildError("\(what).within must be a positive time") }
        guard spec.reward.isFinite else { throw NetworkBuildError("\(what).reward must be a finite number") }
        let lo = (spec.delay.lowerBound / dt).rounded(), hi = (spec.delay.upperBound / dt).rounded()
        guard lo >= 1, hi.isFinite, hi <= Double(1 << 26) else {
            throw NetworkBuildError("\(what).delay must lie between one step (\(dt) ms) and 2^26 steps; got \(spec.delay.lowerBound)–\(spec.delay.upperBound) ms")
        }
        withinSteps = Int64((spec.within / dt).rounded())
        delayLo = Int64(lo)
        delayCount = Int(hi - lo) + 1
        slots = Int64(hi) + 1
        due = StateBuffer(count: Int(slots), filling: 0)
        initialRNG = RandomSource(seed: seed, stream: "reward/\(index)")
        rng = initialRNG
    }

    /// The reward falling due at `step` (0 if none), taken from the ring.
    @inline(__always)
    func take(step: Int64) -> Double {
        let slot = Int(step % slots)
        let r = due[slot]
        guard r != 0 else { return 0 }
        due[slot] = 0
        delivered += 1
        return r
    }

    /// After the step's spikes: `post` fired less than `within` after
    /// `pre`'s last spike (in an earlier step) earns a reward, due after a
    /// delay drawn uniformly in whole steps.
    func observe(step: Int64, spikes: (Int) -> SpikeList) {
        if spikes(prePopulation).contains(preNeuron) { lastPre = step }
        guard lastPre < step, step - lastPre < withinSteps, spikes(postPopulation).contains(postNeuron) else { return }
        let delay = delayLo + Int64(rng.index(below: delayCount))
        due[Int((step + delay) % slots)] += spec.reward
        earned += 1
    }

    func restoreInitialState() {
        due.fill(0)
        lastPre = Self.never
        earned = 0
        delivered = 0
        rng = initialRNG
    }
}
