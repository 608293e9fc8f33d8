#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a projection's weights change with activity (docs/plasticity.md).
public enum Plasticity: Sendable, Equatable {
    case stdp(STDPRule)
    case rewardSTDP(RewardSTDPRule)

    /// The spike-timing part of either rule.
    public var timing: STDPRule {
        switch self {
        case .stdp(let rule): rule
        case .rewardSTDP(let rule): rule.timing
        }
    }
}

/// Reward-modulated STDP (Izhikevich 2007; NEST's `stdp_dopamine_synapse`):
/// the STDP change goes into an eligibility trace `c` per synapse instead of
/// the weight, and the weight follows the reward signal `d`:
///
///     dc/dt = −c/τ_c + (STDP events),   dd/dt = −d/τ_d + Σ r_k·δ(t − t_k)/τ_d,
///     dw/dt = c·(d − b)
///
/// A reward `r` delivered before a step adds `r/τ_d` to `d` (one dopamine
/// spike of NEST is a reward of 1); `b` is the baseline, in the unit of `d`
/// (1/ms). Between steps the weight is integrated exactly. The timing rule
/// must be additive; its bounds clip the weight.
///
/// With `baselineTau`, `b` starts at `baseline` and follows the mean of `d`
/// (`db/dt = (d − b)/τ_b`, held over a step): the weight follows the reward
/// above what was expected. A reward that is positive on average whatever the
/// network does (a task's bias) then stops strengthening whatever happens to
/// be active (Frémaux, Sprekeler & Gerstner 2010: R-STDP needs the reward's
/// mean removed).
public struct RewardSTDPRule: Sendable, Equatable {
    public var timing: STDPRule
    public var tauC: Double
    public var tauD: Double
    public var baseline: Double
    /// ms; nil: the baseline is constant.
    public var baselineTau: Double?

    public init(timing: STDPRule, tauC: Double, tauD: Double, baseline: Double = 0, baselineTau: Double? = nil) {
        self.timing = timing
        self.tauC = tauC
        self.tauD = tauD
        self.baseline = baseline
        self.baselineTau = baselineTau
    }
}

/// Pair-based spike-timing-dependent plasticity in Brian2's `Synapses` form:
///
///     on_pre:  g_post += w;  x_pre = x_pre·e^(−Δt/τ_pre) + a_pre;   w = clip(w + x_post·f_dep(w), w_min, w_max)
///     on_post:               x_post = x_post·e^(−Δt/τ_post) + a_post; w = clip(w + x_pre·f_pot(w), w_min, w_max)
///
/// `a_post` is usually negative (depression). Values are in the engine's
/// units: `a_pre`, `a_post` and the bounds in mV (the weight's unit), the
/// time constants in ms.
public struct STDPRule: Sendable, Equatable {
    /// Which earlier spikes a trace remembers.
    public enum Pairing: String, Sendable, CaseIterable {
        /// Every earlier spike: the trace adds `a` at each spike (Brian2's example).
        case allToAll = "all_to_all"
        /// The latest spike only: the trace is set to `a` at each spike.
        case nearest
    }

    /// How a change scales with the weight.
    public enum Update: String, Sendable, CaseIterable {
        /// `f = 1`: hard bounds only.
        case additive
        /// Soft bounds: potentiation scaled by `(w_max − w)/(w_max − w_min)`,
        /// depression by `(w − w_min)/(w_max − w_min)`.
        case multiplicative
    }

    public var aPre: Double
    public var aPost: Double
    public var tauPre: Double
    public var tauPost: Double
    public var wMin: Double
    public var wMax: Double
    public var pairing: Pairing
    public var update: Update

    public init(aPre: Double, aPost: Double, tauPre: Double, tauPost: Double, wMin: Double, wMax: Double,
                pairing: Pairing = .allToAll, update: Update = .additive) {
        self.aPre = aPre
        self.aPost = aPost
        self.tauPre = tauPre
        self.tauPost = tauPost
        self.wMin = wMin
        self.wMax = wMax
        self.pairing = pairing
        self.update = update
    }
}

/// The state STDP adds to one projection, and the two halves of its rule.
///
/// Traces are kept lazily, as Brian2's `(event-driven)` variables are: a
/// trace stores its value at its last update and the step of that update, and
/// is decayed to the present only when read, by a factor from a table built
/// once (`e^(−k·dt/τ)` for k steps, in Float64 and then rounded), so that a
/// trace costs nothing on steps without spikes and never accumulates rounding
/// step after step.
///
/// The presynaptic trace is one per presynaptic neuron when all delays are
/// equal (every synapse of a neuron then sees the same arrivals) and one per
/// synapse otherwise. The postsynaptic trace is one per target neuron.
final class STDPState<S: NeuralScalar> {
    let aPre: S, aPost: S, wMin: S, wMax: S
    let nearest: Bool
    let multiplicative: Bool
    private let inverseRange: S

    private let preDecay: DecayTable<S>
    private let postDecay: DecayTable<S>
    /// Indexed by presynaptic neuron, or by synapse when delays differ.
    private let preTrace: StateBuffer<S>
    private let preLast: StateBuffer<Int64>
    let preTracePerSynapse: Bool
    private let postTrace: StateBuffer<S>
    private let postLast: StateBuffer<Int64>

    /// R-STDP only: the eligibility traces (per synapse) that STDP changes
    /// instead of the weights, and the reward signal.
    let eligibility: Eligibility<S>?

    /// Scales every weight change; 0 freezes the weights (traces still run).
    var learningRate: S = 1

    /// Synapses by target neuron (CSC beside the projection's CSR): for each
    /// target, the CSR index of each synapse onto it and its presynaptic neuron.
    private let columnStart: StateBuffer<UInt32>
    private let columnSynapse: StateBuffer<UInt32>
    private let columnPre: StateBuffer<UInt32>

    init(plasticity: Plasticity, dt: Double, preCount: Int, postCount: Int, synapseCount: Int,
         perSynapsePreTrace: Bool, rowStart: StateBuffer<UInt32>, post: StateBuffer<UInt32>) {
        let rule = plasticity.timing
        if case .rewardSTDP(let r) = plasticity {
            eligibility = Eligibility(rule: r, dt: dt, synapseCount: synapseCount)
        } else {
            eligibility = nil
        }
        aPre = S(rule.aPre)
        aPost = S(rule.aPost)
        wMin = S(rule.wMin)
        wMax = S(rule.wMax)
        nearest = rule.pairing == .nearest
        multiplicative = rule.update == .multiplicative
        inverseRange = rule.wMax > rule.wMin ? S(1 / (rule.wMax - rule.wMin)) : 0
        preDecay = DecayTable(tau: rule.tauPre, dt: dt)
        postDecay = DecayTable(tau: rule.tauPost, dt: dt)
        preTracePerSynapse = perSynapsePreTrace
        let preSlots = perSynapsePreTrace ? synapseCount : preCount
        preTrace = StateBuffer(count: max(1, preSlots), filling: 0)
        preLast = StateBuffer(count: max(1, preSlots), filling: 0)
        postTrace = StateBuffer(count: postCount, filling: 0)
        postLast = StateBuffer(count: postCount, filling: 0)

        columnStart = StateBuffer(count: postCount + 1, filling: 0)
        columnSynapse = StateBuffer(count: max(1, synapseCount), filling: 0)
        columnPre = StateBuffer(count: max(1, synapseCount), filling: 0)
        for s in 0..<synapseCount { columnStart[Int(post[s]) + 1] += 1 }
        for j in 0..<postCount { columnStart[j + 1] += columnStart[j] }
        var fill = (0..<postCount).map { Int(columnStart[$0]) }
        for i in 0..<preCount {
            for s in Int(rowStart[i])..<Int(rowStart[i + 1]) {
                let j = Int(post[s])
                columnSynapse[fill[j]] = UInt32(s)
                columnPre[fill[j]] = UInt32(i)
                fill[j] += 1
            }
        }
    }

    /// Bytes per synapse this state adds (traces per synapse, the by-target index).
    func bytesPerSynapse(synapseCount: Int) -> Double {
        guard synapseCount > 0 else { return 0 }
        let trace = Double(MemoryLayout<S>.stride)
        return 8 + (preTracePerSynapse ? trace + 8 : 0) + 4 * Double(columnStart.count) / Double(synapseCount)
            + (eligibility == nil ? 0 : Eligibility<S>.bytesPerSynapse)
    }

    func restoreInitialState() {
        eligibility?.restoreInitialState()
        preTrace.fill(0)
        preLast.fill(0)
        postTrace.fill(0)
        postLast.fill(0)
    }

    /// A presynaptic spike arrives in `step` at trace slot `slot` (its
    /// neuron, or its synapse when delays differ): the trace takes it. Once
    /// per arriving spike and slot, before `depress` of its synapses.
    @inline(__always)
    func preSpike(slot: Int, step: Int64) {
        preTrace[slot] = nearest ? aPre : preTrace[slot] * preDecay[step - preLast[slot]] + aPre
        preLast[slot] = step
    }

    /// After synapse `s` onto `j` delivered its weight in `step`: the weight
    /// meets the postsynaptic trace.
    @inline(__always)
    func depress(synapse s: Int, post j: Int, step: Int64, weights: UnsafeMutablePointer<S>) {
        change(synapse: s, by: postTrace[j] * postDecay[step - postLast[j]], potentiating: false, weights: weights)
    }

    /// The timing rule's change `x` of synapse `s`: into its eligibility
    /// (reward_stdp), or into its weight, soft-bounded if multiplicative.
    @inline(__always)
    private func change(synapse s: Int, by x: S, potentiating: Bool, weights: UnsafeMutablePointer<S>) {
        if let eligibility {
            eligibility.update(s, weights: weights)
            eligibility.add(x.double, synapse: s)
            return
        }
        let w = weights[s]
        let change = multiplicative ? x * (potentiating ? wMax - w : w - wMin) * inverseRange : x
        weights[s] = min(wMax, max(wMin, w + change * learningRate))
    }

    /// Target neurons `spikes` fired in `step`, after every arrival of the
    /// step: each postsynaptic trace takes its spike, and every synapse onto
    /// the neuron meets its presynaptic trace.
    func postSpikes(_ spikes: SpikeList, step: Int64, weights: UnsafeMutablePointer<S>) {
        let columns = columnStart.base, synapses = columnSynapse.base, pres = columnPre.base
        let bySynapse = preTracePerSynapse
        for k in 0..<spikes.count {
            let j = Int(spikes.indices[k])
            postTrace[j] = nearest ? aPost : postTrace[j] * postDecay[step - postLast[j]] + aPost
            postLast[j] = step
            for c in Int(columns[j])..<Int(columns[j + 1]) {
                let s = Int(synapses[c])
                let slot = bySynapse ? s : Int(pres[c])
                change(synapse: s, by: preTrace[slot] * preDecay[step - preLast[slot]], potentiating: true, weights: weights)
            }
        }
    }
}

/// R-STDP's eligibility traces and reward signal, and the weights they drive.
///
/// The weights are integrated **lazily**: a synapse's weight and `c` are
/// brought up to date only when the synapse is used (a spike arrives, its
/// target fires) or read, so a step costs nothing per synapse. This is exact:
/// between two uses `c` only decays, `c(n) = c_a·α^(n−a)` (α = e^(−dt/τ_c)),
/// so the per-step changes `c(n)·k(n)` sum to `c_a·α^(−a)·(G(n) − G(a))`,
/// where `k(n)` is the step's factor (`d·τ_s(1 − e^(−dt/τ_s)) − b·τ_c(1 − e^(−dt/τ_c))`,
/// times the learning rate) and `G(m) = Σ_{n<m} α^n·k(n)` one running sum for
/// the whole projection. Clipping the sum once equals clipping every step as
/// long as the path is monotone, that is while `k` keeps its sign: so the sum
/// runs in **segments** of one sign of `k`, at most about 2 τ_c long (which
/// bounds α^(−a) by e², keeping the cancellation in `G(n) − G(a)` to a few
/// ulps), and every synapse is brought up to date at a segment's end.
///
/// `c` and the sums are Float64, and a weight takes each change rounded once:
/// a per-step Float32 version was 7e-4 off NEST after 2 s, as the weight moves
/// by less than an ulp on most steps.
final class Eligibility<S: NeuralScalar> {
    /// `c` as of the synapse's last update, after that step's timing events.
    private let c: StateBuffer<Double>
    /// That update's step, counted from the segment's first step.
    private let touched: StateBuffer<Int32>
    private let count: Int
    private let wMin: Double, wMax: Double
    /// The reward signal `d`, 1/ms.
    private(set) var d = 0.0
    /// The baseline `b`, 1/ms: constant, or following `d` by `bFollow` per step.
    private(set) var b: Double
    private let tauD: Double, initialBaseline: Double, bFollow: Double
    private let dDecay: Double
    /// ∫₀^dt e^(−t/τ_c)·e^(−t/τ_d) dt and ∫₀^dt e^(−t/τ_c) dt, ms.
    private let overlap: Double, cIntegral: Double

    /// Steps of the current segment integrated so far: the step under way.
    private var now = 0
    /// At most this many steps per segment.
    private let segmentLength: Int
    /// The sign of `k` in this segment (0 while every `k` was 0).
    private var segmentSign = 0.0
    /// `G(m)` for m = 0…now, `α^m` and `α^(−m)` for m = 0…segmentLength.
    private let sums: StateBuffer<Double>
    private let decay: StateBuffer<Double>
    private let growth: StateBuffer<Double>

    init(rule: RewardSTDPRule, dt: Double, synapseCount: Int) {
        count = synapseCount
        c = StateBuffer(count: max(1, synapseCount), filling: 0)
        touched = StateBuffer(count: max(1, synapseCount), filling: 0)
        wMin = rule.timing.wMin
        wMax = rule.timing.wMax
        tauD = rule.tauD
        initialBaseline = rule.baseline
        b = rule.baseline
        bFollow = rule.baselineTau.map { -expm1(-dt / $0) } ?? 0
        dDecay = exp(-dt / rule.tauD)
        let tauS = rule.tauC * rule.tauD / (rule.tauC + rule.tauD)
        overlap = -tauS * expm1(-dt / tauS)
        cIntegral = -rule.tauC * expm1(-dt / rule.tauC)
        segmentLength = Int(min(Eligibility.longestSegment, max(1, (2 * rule.tauC / dt).rounded(.down))))
        sums = StateBuffer(count: segmentLength + 1, filling: 0)
        decay = StateBuffer(count: segmentLength + 1, filling: 0)
        growth = StateBuffer(count: segmentLength + 1, filling: 0)
        for m in 0...segmentLength {
            decay[m] = exp(-Double(m) * dt / rule.tauC)
            growth[m] = exp(Double(m) * dt / rule.tauC)
        }
    }

    /// Steps; bounds the sum table when τ_c is many steps long.
    static var longestSegment: Double { 16384 }

    /// Bytes per synapse: `c` and the step of its last update.
    static var bytesPerSynapse: Double { 12 }

    func restoreInitialState() {
        c.fill(0)
        touched.fill(0)
        now = 0
        segmentSign = 0
        d = 0
        b = initialBaseline
    }

    /// A reward `r` at the start of this step: `d += r/τ_d`.
    func reward(_ r: Double) { d += r / tauD }

    /// What synapse `s`'s weight `w` and `c` have come to by the step under
    /// way (before its timing events).
    @inline(__always)
    private func current(_ s: Int, weight w: S) -> (weight: S, c: Double) {
        let a = Int(touched[s])
        let ca = c[s]
        guard a != now, ca != 0 else { return (w, ca) }
        let change = ca * growth[a] * (sums[now] - sums[a])
        let weight = change == 0 ? w : S(min(wMax, max(wMin, w.double + change)))
        return (weight, ca * decay[now - a])
    }

    /// Brings synapse `s` up to the step under way; before its weight is
    /// delivered or its `c` changed.
    @inline(__always)
    func update(_ s: Int, weights: UnsafeMutablePointer<S>) {
        guard Int(touched[s]) != now else { return }
        (weights[s], c[s]) = current(s, weight: weights[s])
        touched[s] = Int32(now)
    }

    /// Adds a timing event's change to `c` of an updated synapse.
    @inline(__always)
    func add(_ x: Double, synapse s: Int) { c[s] += x }

    /// The weight of synapse `s` now, without updating it (a read changes nothing).
    func weight(_ s: Int, stored w: S) -> S { current(s, weight: w).weight }

    /// `c` of synapse `s` now.
    func trace(_ s: Int) -> Double { current(s, weight: 0).c }

    /// Brings every synapse up to the step under way.
    func updateAll(weights: UnsafeMutablePointer<S>) {
        for s in 0..<count { update(s, weights: weights) }
    }

    /// The end of a step, after its timing events: adds the step's `k` to the
    /// segment's sum (first closing the segment if `k` changed sign or the
    /// segment is full), then `d` decays and `b` follows it.
    func integrate(weights: UnsafeMutablePointer<S>, rate: S) {
        let k = (d * overlap - b * cIntegral) * rate.double
        if now == segmentLength || k * segmentSign < 0 {
            updateAll(weights: weights)
            touched.fill(0)
            now = 0
            segmentSign = 0
        }
        if segmentSign == 0, k != 0 { segmentSign = k > 0 ? 1 : -1 }
        sums[now + 1] = sums[now] + decay[now] * k
        now += 1
        b += (d - b) * bFollow
        d *= dDecay
    }
}

/// `e^(−k·dt/τ)` for k = 0, 1, … steps, computed in Float64 and tabulated up
/// to where it falls below the scalar's smallest normal (88 τ in float32, 708 τ in float64; beyond: 0) or 2²⁰ steps, past
/// which it is computed when read.
struct DecayTable<S: NeuralScalar> {
    private let factors: StateBuffer<S>
    private let length: Int
    /// The table reaches its span: anything later has decayed to 0.
    private let complete: Bool
    private let stepsPerTau: Double

    static var maxLength: Int { 1 << 20 }

    init(tau: Double, dt: Double) {
        stepsPerTau = tau / dt
        // About where e^(−k·dt/τ) leaves the scalar's normal range.
        let span: Double = S.self == Float.self ? 88 : 708
        let needed = (span * stepsPerTau).rounded(.up) + 1
        complete = needed <= Double(Self.maxLength)
        length = complete ? Int(needed) : Self.maxLength
        factors = StateBuffer(count: length, filling: 0)
        for k in 0..<length { factors[k] = S(exp(-Double(k) / stepsPerTau)) }
    }

    @inline(__always)
    subscript(elapsed: Int64) -> S {
        if elapsed < Int64(length) { return factors[Int(elapsed)] }
        return complete ? 0 : S(exp(-Double(elapsed) / stepsPerTau))
    }
}
