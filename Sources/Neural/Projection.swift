#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Synapses from one population to another, stored sparse by presynaptic
/// neuron (CSR): a spike walks one contiguous row of targets.
///
/// Memory per synapse: a 4-byte target, plus a 4-byte weight unless all weights
/// are equal, plus a 2-byte delay unless all delays are equal (≤ 10 bytes).
/// Plasticity attaches per projection (traces live beside the CSR arrays), so a
/// projection without it pays nothing.
final class Projection<S: NeuralScalar>: ProjectionDynamics {
    let name: String
    let sourceIndex: Int
    let targetIndex: Int
    let variable: TargetVariable
    let preCount: Int
    let postCount: Int
    let synapseCount: Int

    private let rowStart: StateBuffer<UInt32>
    private let post: StateBuffer<UInt32>
    /// Per-synapse weights, or nil when every synapse has `constantWeight`.
    /// Replaced only through `install`, at a step boundary.
    private var weights: StateBuffer<S>?
    private var constantWeight: S
    /// Per-synapse delays in steps, or nil when every synapse has `constantDelay`.
    private let delays: StateBuffer<UInt16>?
    private let constantDelay: Int
    let maxDelaySteps: Int

    /// Bound once the target population's rings exist.
    private var target: SynapticTarget<S>!

    /// Plasticity's state; nil for a projection whose weights never change.
    private let stdp: STDPState<S>?
    /// A plastic projection delivers each spike when it arrives (the weight
    /// then, as Brian2's delayed `on_pre`), so it keeps the last
    /// `maxDelaySteps + 1` steps of presynaptic spikes instead of a ring of sums.
    private let history: StateBuffer<UInt32>?
    private let historyCount: StateBuffer<Int32>?

    /// Largest delay a projection may have, in steps.
    static var delayLimit: Int { Int(UInt16.max) }

    init(spec: ProjectionSpec, sourceIndex: Int, targetIndex: Int,
         preCount: Int, postCount: Int, dt: Double, seed: UInt64) throws(NetworkBuildError) {
        name = spec.name
        self.sourceIndex = sourceIndex
        self.targetIndex = targetIndex
        variable = spec.variable
        self.preCount = preCount
        self.postCount = postCount
        var rng = RandomSource(seed: seed, stream: "projection/\(spec.name)")

        let (pre, postIdx, listed) = try Self.connect(spec.rule, excludeSelf: spec.excludeSelf,
                                                      preCount: preCount, postCount: postCount,
                                                      rng: &rng, projection: spec.name)
        let n = pre.count
        synapseCount = n

        let w = try Self.draw(spec.weight, count: n, listed: listed, rng: &rng, projection: spec.name, what: "weight")
        var dMs = try Self.draw(spec.delay, count: n, listed: listed, rng: &rng, projection: spec.name, what: "delay")
        if case .constant(let d) = spec.delay { dMs = [d] }
        var dSteps = [Int](repeating: 0, count: dMs.count)
        for (s, d) in dMs.enumerated() {
            guard d >= 0, d.isFinite else {
                throw NetworkBuildError("projection '\(spec.name)': delay \(d) ms is negative; delays must be ≥ 0 ms")
            }
            let steps = (d / dt).rounded()  // compared before converting: 1e300 ms is no Int
            guard steps <= Double(Self.delayLimit) else {
                throw NetworkBuildError("projection '\(spec.name)': delay \(d) ms is \(steps) steps; at most \(Self.delayLimit) steps are allowed")
            }
            dSteps[s] = Int(steps)
        }
        let maxD = dSteps.max() ?? 0
        maxDelaySteps = maxD

        // Stable counting sort by presynaptic neuron: rows keep connection order.
        rowStart = StateBuffer(count: preCount + 1, filling: 0)
        for i in pre { rowStart[Int(i) + 1] += 1 }
        for i in 0..<preCount { rowStart[i + 1] += rowStart[i] }
        var fill = [Int](repeating: 0, count: preCount)
        for i in 0..<preCount { fill[i] = Int(rowStart[i]) }
        var order = [UInt32](repeating: 0, count: n)
        for s in 0..<n {
            let i = Int(pre[s])
            order[fill[i]] = UInt32(s)
            fill[i] += 1
        }
        post = StateBuffer(count: n, filling: 0)
        for k in 0..<n { post[k] = postIdx[Int(order[k])] }

        if case .constant(let x) = spec.weight, spec.plasticity == nil {
            weights = nil
            constantWeight = S(x)
        } else {
            let buffer = StateBuffer<S>(count: n, filling: 0)
            if case .constant(let x) = spec.weight {
                buffer.base.update(repeating: S(x), count: n)
            } else {
                for k in 0..<n { buffer[k] = S(w[Int(order[k])]) }
            }
            weights = buffer
            constantWeight = 0
        }
        if dSteps.allSatisfy({ $0 == maxD }) {
            delays = nil
            constantDelay = maxD
        } else {
            let buffer = StateBuffer<UInt16>(count: n, filling: 0)
            for k in 0..<n { buffer[k] = UInt16(dSteps[Int(order[k])]) }
            delays = buffer
            constantDelay = -1
        }

        if let plasticity = spec.plasticity {
            let rule = plasticity.timing
            try Self.validate(rule, projection: spec.name)
            if case .rewardSTDP(let r) = plasticity {
                for (key, value) in [("tau_c", r.tauC), ("tau_d", r.tauD)] where !(value > 0 && value.isFinite) {
                    throw NetworkBuildError("projection '\(spec.name)': plasticity.\(key) is \(value) ms; it must be a positive time")
                }
                guard r.baseline.isFinite else {
                    throw NetworkBuildError("projection '\(spec.name)': plasticity.baseline is \(r.baseline); it must be finite")
                }
                if let t = r.baselineTau, !(t > 0 && t.isFinite) {
                    throw NetworkBuildError("projection '\(spec.name)': plasticity.baseline_tau is \(t) ms; it must be a positive time")
                }
                guard rule.update == .additive else {
                    throw NetworkBuildError("projection '\(spec.name)': reward_stdp takes additive updates only")
                }
            }
            if let w = spec.weight.bounds, w.lo < rule.wMin || w.hi > rule.wMax {
                throw NetworkBuildError("projection '\(spec.name)': initial weights span \(w.lo)…\(w.hi) mV, outside the plasticity's [w_min, w_max] = [\(rule.wMin), \(rule.wMax)] mV")
            }
            stdp = STDPState(plasticity: plasticity, dt: dt, preCount: preCount, postCount: postCount, synapseCount: n,
                             perSynapsePreTrace: delays != nil, rowStart: rowStart, post: post)
            history = StateBuffer(count: max(1, (maxD + 1) * preCount), filling: 0)
            historyCount = StateBuffer(count: maxD + 1, filling: 0)
        } else {
            stdp = nil
            history = nil
            historyCount = nil
        }
    }

    private static func validate(_ rule: STDPRule, projection: String) throws(NetworkBuildError) {
        for (key, value) in [("a_pre", rule.aPre), ("a_post", rule.aPost), ("w_min", rule.wMin), ("w_max", rule.wMax)]
        where !value.isFinite {
            throw NetworkBuildError("projection '\(projection)': plasticity.\(key) is \(value); it must be finite")
        }
        for (key, value) in [("tau_pre", rule.tauPre), ("tau_post", rule.tauPost)] where !(value > 0 && value.isFinite) {
            throw NetworkBuildError("projection '\(projection)': plasticity.\(key) is \(value) ms; it must be a positive time")
        }
        guard rule.wMin <= rule.wMax else {
            throw NetworkBuildError("projection '\(projection)': plasticity.w_min \(rule.wMin) mV exceeds w_max \(rule.wMax) mV")
        }
    }

    /// Whether the weights change with activity.
    var isPlastic: Bool { stdp != nil }

    /// The delay ring this projection needs on its target: none for a plastic one.
    var ringDelaySteps: Int { stdp == nil ? maxDelaySteps : 0 }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func restoreInitialState() {
        // The weights are kept: first what they have not caught up with yet.
        if let weights { stdp?.eligibility?.updateAll(weights: weights.base) }
        stdp?.restoreInitialState()
        historyCount?.fill(0)
    }

    func bind(_ target: SynapticTarget<S>) { self.target = target }

    /// Bytes of synapse storage per synapse (targets, weights, delays).
    var bytesPerSynapse: Double {
        guard synapseCount > 0 else { return 0 }
        let bytes = synapseCount * 4 + (weights == nil ? 0 : synapseCount * MemoryLayout<S>.stride) + (delays == nil ? 0 : synapseCount * 2)
        return Double(bytes) / Double(synapseCount) + (stdp?.bytesPerSynapse(synapseCount: synapseCount) ?? 0)
    }

    /// The weights in CSR order (pre-major, then connection order), mV.
    var weightValues: [Float] {
        if let weights { return (0..<synapseCount).map { Float(weight(of: $0, in: weights)) } }
        return Array(repeating: Float(constantWeight), count: synapseCount)
    }

    /// Synapse `s`'s weight now: reward_stdp's lag behind (`Eligibility`).
    @inline(__always)
    private func weight(of s: Int, in weights: StateBuffer<S>) -> S {
        stdp?.eligibility?.weight(s, stored: weights[s]) ?? weights[s]
    }

    /// Copies the weights in CSR order into `destination` (at least
    /// `synapseCount` long) without allocating.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func copyWeights(into destination: UnsafeMutableBufferPointer<Float>) {
        precondition(destination.count >= synapseCount)
        guard synapseCount > 0 else { return }
        if let weights {
            for s in 0..<synapseCount { destination[s] = Float(weight(of: s, in: weights)) }
        } else {
            destination.baseAddress!.update(repeating: Float(constantWeight), count: synapseCount)
        }
    }

    /// Checks and stores new weights without touching this projection, so it
    /// may run on any thread while the network steps on another.
    func prepare(_ values: [Float], index: Int) throws(WeightError) -> PreparedWeights {
        guard values.count == synapseCount else {
            throw WeightError("projection '\(name)': \(values.count) weights given for its \(synapseCount) synapses (CSR order)")
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw WeightError("projection '\(name)': weight \(bad) (CSR order) is \(values[bad]); weights must be finite")
        }
        guard let first = values.first, values.contains(where: { $0 != first }) else {
            return PreparedWeights(projection: index, values: nil, constant: values.first ?? 0)
        }
        let buffer = StateBuffer<S>(count: synapseCount, filling: 0)
        for s in 0..<synapseCount { buffer[s] = S(values[s]) }
        return PreparedWeights(projection: index, values: buffer, constant: 0)
    }

    /// Takes prepared weights. Allocates and frees nothing: existing
    /// per-synapse storage is overwritten; a constant-weight projection that
    /// gets differing weights adopts the prepared buffer.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func install(_ prepared: PreparedWeights) {
        guard synapseCount > 0 else { return }
        // Made by this projection's `prepare`, so of its scalar.
        let values = prepared.values.map { unsafeDowncast($0, to: StateBuffer<S>.self) }
        // c decays up to now, so the new weights follow c from here on.
        if let weights { stdp?.eligibility?.updateAll(weights: weights.base) }
        switch (weights, values) {
        case (let mine?, let theirs?): mine.base.update(from: theirs.base, count: synapseCount)
        case (let mine?, nil): mine.base.update(repeating: S(prepared.constant), count: synapseCount)
        case (nil, let theirs?): weights = theirs
        case (nil, nil): constantWeight = S(prepared.constant)
        }
    }

    /// Visits (pre, post) of every synapse in CSR order without allocating.
    func forEachConnection(_ body: (_ pre: UInt32, _ post: UInt32) -> Void) {
        for i in 0..<preCount {
            for s in Int(rowStart[i])..<Int(rowStart[i + 1]) { body(UInt32(i), post[s]) }
        }
    }

    /// The CSR index of the first synapse from `pre` to `post`, if any.
    func synapse(pre: Int, post target: Int) -> Int? {
        guard pre >= 0, pre < preCount else { return nil }
        return (Int(rowStart[pre])..<Int(rowStart[pre + 1])).first { Int(post[$0]) == target }
    }

    /// What a probe reads of one synapse: `w` (mV, or a conductance), and
    /// `c`, its eligibility trace, under reward_stdp.
    var synapseVariables: [String] { stdp?.eligibility == nil ? ["w"] : ["w", "c"] }

    func value(of variable: String, synapse s: Int) -> Double? {
        guard s >= 0, s < synapseCount else { return nil }
        switch variable {
        case "w": return weights.map { weight(of: s, in: $0).double } ?? constantWeight.double
        case "c": return stdp?.eligibility.map { $0.trace(s) }
        default: return nil
        }
    }

    var delaySteps: [Int] {
        guard let delays else { return Array(repeating: constantDelay, count: synapseCount) }
        return (0..<synapseCount).map { Int(delays[$0]) }
    }

    /// (pre, post) of every synapse in CSR order.
    var connections: [(pre: Int, post: Int)] {
        var result: [(pre: Int, post: Int)] = []
        result.reserveCapacity(synapseCount)
        for i in 0..<preCount {
            for s in Int(rowStart[i])..<Int(rowStart[i + 1]) { result.append((i, Int(post[s]))) }
        }
        return result
    }

    /// Phase 3: scatter this step's presynaptic spikes. Zero-delay input goes
    /// straight into the variable; delayed input into the ring slot of its step.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func propagate(_ spikes: SpikeList, step: Int64) {
        if let stdp {
            deliverArrivals(spikes, step: step, stdp: stdp)
            return
        }
        guard spikes.count > 0 else { return }
        let post = post.base, rows = rowStart.base
        let target = target!
        if let delays {
            let w = weights?.base
            for k in 0..<spikes.count {
                let i = Int(spikes.indices[k])
                for s in Int(rows[i])..<Int(rows[i + 1]) {
                    let weight = w?[s] ?? constantWeight
                    let j = Int(post[s])
                    let d = Int64(delays[s])
                    if d == 0 {
                        if let r = target.refractory, r[j] != 0 { continue }
                        target.variable[j] += weight
                    } else {
                        target.ring.unsafelyUnwrapped.slot(forStep: step + d)[j] += weight
                    }
                }
            }
            return
        }
        let gate: UnsafeMutablePointer<S>?
        let dest: UnsafeMutablePointer<S>
        if constantDelay == 0 {
            dest = target.variable
            gate = target.refractory
        } else {
            dest = target.ring.unsafelyUnwrapped.slot(forStep: step + Int64(constantDelay))
            gate = nil
        }
        let spiking = spikes.indices, spikeCount = spikes.count
        // One loop per storage variant, chosen once per call rather than per synapse.
        switch (weights?.base, gate) {
        case (nil, nil):
            let w = constantWeight
            for k in 0..<spikeCount {
                let i = Int(spiking[k])
                for s in Int(rows[i])..<Int(rows[i + 1]) { dest[Int(post[s])] += w }
            }
        case (let w?, nil):
            for k in 0..<spikeCount {
                let i = Int(spiking[k])
                for s in Int(rows[i])..<Int(rows[i + 1]) { dest[Int(post[s])] += w[s] }
            }
        case (nil, let r?):
            let w = constantWeight
            for k in 0..<spikeCount {
                let i = Int(spiking[k])
                for s in Int(rows[i])..<Int(rows[i + 1]) where r[Int(post[s])] == 0 { dest[Int(post[s])] += w }
            }
        case (let w?, let r?):
            for k in 0..<spikeCount {
                let i = Int(spiking[k])
                for s in Int(rows[i])..<Int(rows[i + 1]) where r[Int(post[s])] == 0 { dest[Int(post[s])] += w[s] }
            }
        }
    }

    /// Phase 3 of a plastic projection: keeps this step's presynaptic spikes,
    /// then delivers every spike whose delay ends now, at the weight it has
    /// now, and lets each arrival change its synapse (`STDPState.preSpike`, `depress`).
    private func deliverArrivals(_ spikes: SpikeList, step: Int64, stdp: STDPState<S>) {
        let history = history.unsafelyUnwrapped, counts = historyCount.unsafelyUnwrapped
        let length = Int64(maxDelaySteps + 1)
        let slotNow = Int(step % length)
        history.base.advanced(by: slotNow * preCount).update(from: spikes.indices, count: spikes.count)
        counts[slotNow] = Int32(spikes.count)

        let post = post.base, rows = rowStart.base, w = weights.unsafelyUnwrapped.base
        let variable = target.variable, gate = target.refractory
        let bySynapse = stdp.preTracePerSynapse
        let eligibility = stdp.eligibility
        let delayRange = delays == nil ? constantDelay...constantDelay : 0...maxDelaySteps
        for d in delayRange where step - Int64(d) >= 0 {
            let slot = Int((step - Int64(d)) % length)
            let emitted = history.base.advanced(by: slot * preCount)
            for k in 0..<Int(counts[slot]) {
                let i = Int(emitted[k])
                if !bySynapse { stdp.preSpike(slot: i, step: step) }
                for s in Int(rows[i])..<Int(rows[i + 1]) {
                    if let delays, Int(delays[s]) != d { continue }
                    let j = Int(post[s])
                    eligibility?.update(s, weights: w)
                    if gate == nil || gate.unsafelyUnwrapped[j] == 0 { variable[j] += w[s] }
                    if bySynapse { stdp.preSpike(slot: s, step: step) }
                    stdp.depress(synapse: s, post: j, step: step, weights: w)
                }
            }
        }
    }

    /// After every projection's phase 3: the target's spikes of this step
    /// change the synapses onto them (Brian2 runs all `on_post` pathways
    /// after all `on_pre` ones).
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func learnFromTargetSpikes(_ spikes: SpikeList, step: Int64) {
        guard let stdp else { return }
        if spikes.count > 0 { stdp.postSpikes(spikes, step: step, weights: weights.unsafelyUnwrapped.base) }
        stdp.eligibility?.integrate(weights: weights.unsafelyUnwrapped.base, rate: stdp.learningRate)
    }

    /// Whether the weights follow a reward (reward_stdp).
    var isRewarded: Bool { stdp?.eligibility != nil }

    /// A reward before the next step (reward_stdp only; ignored otherwise).
    func reward(_ r: Double) { stdp?.eligibility?.reward(r) }

    /// Scales this projection's weight changes; 0 freezes them.
    var learningRate: Float {
        get { Float(stdp?.learningRate ?? 0) }
        set { stdp?.learningRate = S(newValue) }
    }

    // MARK: - Construction

    private static func connect(_ rule: ConnectionRule, excludeSelf: Bool, preCount: Int, postCount: Int,
                                rng: inout RandomSource, projection: String)
        throws(NetworkBuildError) -> (pre: [UInt32], post: [UInt32], listed: (kept: [Int], total: Int)?) {
        var pre: [UInt32] = [], post: [UInt32] = []
        func add(_ i: Int, _ j: Int) {
            pre.append(UInt32(i))
            post.append(UInt32(j))
        }
        switch rule {
        case .allToAll:
            pre.reserveCapacity(preCount * postCount)
            post.reserveCapacity(preCount * postCount)
            for i in 0..<preCount { for j in 0..<postCount where !(excludeSelf && i == j) { add(i, j) } }
        case .oneToOne:
            guard preCount == postCount else {
                throw NetworkBuildError("projection '\(projection)': one_to_one needs equal sizes, got \(preCount) → \(postCount)")
            }
            if !excludeSelf { for i in 0..<preCount { add(i, i) } }
        case .fixedProbability(let p):
            guard p >= 0, p <= 1 else {
                throw NetworkBuildError("projection '\(projection)': probability \(p) is outside [0, 1]")
            }
            let total = preCount * postCount
            guard p > 0, total > 0 else { break }
            let expected = Int(Double(total) * p * 1.05) + 16
            pre.reserveCapacity(expected)
            post.reserveCapacity(expected)
            if p == 1 {
                for i in 0..<preCount { for j in 0..<postCount where !(excludeSelf && i == j) { add(i, j) } }
                break
            }
            // Geometric skips over the row-major pre × post matrix: O(synapses), not O(pairs).
            let logQ = log1p(-p)
            var position = -1
            while true {
                var u = rng.uniform()
                while u == 0 { u = rng.uniform() }
                position += 1 + Int(log(u) / logQ)
                if position >= total || position < 0 { break }
                let i = position / postCount, j = position % postCount
                if !(excludeSelf && i == j) { add(i, j) }
            }
        case .fixedIndegree(let k):
            let available = preCount - ((excludeSelf && preCount == postCount) ? 1 : 0)
            guard k >= 0, k <= available else {
                throw NetworkBuildError("projection '\(projection)': fixed_indegree k = \(k) but only \(available) presynaptic neurons are available")
            }
            pre.reserveCapacity(k * postCount)
            post.reserveCapacity(k * postCount)
            // Distinct presynaptic neurons per target, marked by the target's index.
            var chosenFor = [Int](repeating: -1, count: preCount)
            for j in 0..<postCount {
                var n = 0
                while n < k {
                    let i = rng.index(below: preCount)
                    if chosenFor[i] == j || (excludeSelf && i == j) { continue }
                    chosenFor[i] = j
                    add(i, j)
                    n += 1
                }
            }
        case .list(let pairs):
            // Explicit weight and delay lists follow the pairs as written, including dropped self-pairs.
            var kept: [Int] = []
            for (n, (i, j)) in pairs.enumerated() {
                guard i >= 0, i < preCount, j >= 0, j < postCount else {
                    throw NetworkBuildError("projection '\(projection)': pair \(n) = [\(i), \(j)] is outside \(preCount) × \(postCount)")
                }
                if !(excludeSelf && i == j) {
                    add(i, j)
                    kept.append(n)
                }
            }
            return (pre, post, (kept, pairs.count))
        }
        return (pre, post, nil)
    }

    private static func draw(_ values: SynapseValues, count: Int, listed: (kept: [Int], total: Int)?,
                             rng: inout RandomSource,
                             projection: String, what: String) throws(NetworkBuildError) -> [Double] {
        switch values {
        case .constant:
            return []  // stored once, not per synapse
        case .uniform(let lo, let hi):
            return (0..<count).map { _ in rng.uniform(lo, hi) }
        case .clippedNormal(let mean, let sd, let lo, let hi):
            return (0..<count).map { _ in min(hi, max(lo, mean + sd * rng.normal())) }
        case .values(let xs):
            let expected = listed?.total ?? count
            guard xs.count == expected else {
                throw NetworkBuildError("projection '\(projection)': \(xs.count) \(what) values for \(expected) synapses")
            }
            return listed.map { $0.kept.map { xs[$0] } } ?? xs
        }
    }
}

/// New weights for one projection, checked and copied by
/// `Network.prepareWeights` (any thread), taken by `Network.install` (the
/// thread that steps the network). Immutable once made.
public struct PreparedWeights: @unchecked Sendable {
    let projection: Int
    /// A `StateBuffer` of the projection's scalar; nil when every synapse gets `constant`.
    let values: AnyObject?
    let constant: Float
}

/// What the network's step and its readers need from a projection, whatever
/// its scalar. Dispatch happens once per projection and phase.
protocol ProjectionDynamics: AnyObject {
    var name: String { get }
    var sourceIndex: Int { get }
    var targetIndex: Int { get }
    var variable: TargetVariable { get }
    var preCount: Int { get }
    var postCount: Int { get }
    var synapseCount: Int { get }
    var ringDelaySteps: Int { get }
    var isPlastic: Bool { get }
    var isRewarded: Bool { get }
    var bytesPerSynapse: Double { get }
    var learningRate: Float { get set }
    var weightValues: [Float] { get }
    var connections: [(pre: Int, post: Int)] { get }
    /// Each synapse's delay in steps, in CSR order.
    var delaySteps: [Int] { get }
    var synapseVariables: [String] { get }
    func synapse(pre: Int, post: Int) -> Int?
    func value(of variable: String, synapse: Int) -> Double?

    /// Phase 3a.
    func propagate(_ spikes: SpikeList, step: Int64)
    /// Phase 3c.
    func learnFromTargetSpikes(_ spikes: SpikeList, step: Int64)
    func reward(_ r: Double)
    func restoreInitialState()
    func copyWeights(into destination: UnsafeMutableBufferPointer<Float>)
    func prepare(_ values: [Float], index: Int) throws(WeightError) -> PreparedWeights
    func install(_ prepared: PreparedWeights)
    func forEachConnection(_ body: (_ pre: UInt32, _ post: UInt32) -> Void)
}

/// Boxes a projection for an `ObjectTable`, as `PopulationHandle` does a population.
/// The step calls it through its concrete type (see `PopulationHandle`).
final class ProjectionHandle {
    let projection: any ProjectionDynamics
    private let typed: Typed
    /// The indices of its populations, read in every step without a call.
    let source: Int, target: Int

    /// Unowned: `projection` keeps it alive, and a call retains nothing.
    private enum Typed {
        case float32(Unmanaged<Projection<Float>>), float64(Unmanaged<Projection<Double>>)
    }

    init(_ projection: any ProjectionDynamics) {
        self.projection = projection
        source = projection.sourceIndex
        target = projection.targetIndex
        typed = switch projection {
        case let q as Projection<Float>: .float32(.passUnretained(q))
        case let q as Projection<Double>: .float64(.passUnretained(q))
        default: fatalError("a projection computes in Float or Double")
        }
    }

    @inline(__always)
    func propagate(_ spikes: SpikeList, step: Int64) {
        switch typed {
        case .float32(let q): q._withUnsafeGuaranteedRef { $0.propagate(spikes, step: step) }
        case .float64(let q): q._withUnsafeGuaranteedRef { $0.propagate(spikes, step: step) }
        }
    }

    @inline(__always)
    func learnFromTargetSpikes(_ spikes: SpikeList, step: Int64) {
        switch typed {
        case .float32(let q): q._withUnsafeGuaranteedRef { $0.learnFromTargetSpikes(spikes, step: step) }
        case .float64(let q): q._withUnsafeGuaranteedRef { $0.learnFromTargetSpikes(spikes, step: step) }
        }
    }

    /// Between steps, on the stepping thread: no lookup, no lock.
    @inline(__always)
    func install(_ prepared: PreparedWeights) {
        switch typed {
        case .float32(let q): q._withUnsafeGuaranteedRef { $0.install(prepared) }
        case .float64(let q): q._withUnsafeGuaranteedRef { $0.install(prepared) }
        }
    }

    @inline(__always)
    func copyWeights(into destination: UnsafeMutableBufferPointer<Float>) {
        switch typed {
        case .float32(let q): q._withUnsafeGuaranteedRef { $0.copyWeights(into: destination) }
        case .float64(let q): q._withUnsafeGuaranteedRef { $0.copyWeights(into: destination) }
        }
    }
}

/// Weights that cannot be set: wrong count, non-finite values, unknown projection.
public struct WeightError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A network description that cannot be built, with what would be valid.
public struct NetworkBuildError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
