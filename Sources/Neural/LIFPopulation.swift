#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Leaky integrate-and-fire neurons in Brian2's CUBA form, integrated exactly,
/// or with conductance-based synapses (COBA), integrated by forward Euler.
///
/// CUBA: between steps the system `v, g_e, g_i` is linear with constant
/// coefficients, so one step is a fixed linear map (the closed-form
/// propagators NEST's `iaf_psc_exp` uses): no Euler error, whatever `dt`.
/// COBA: `g·(E − v)` makes the system nonlinear, and Brian2 integrates these
/// equations by forward Euler unless told otherwise; so does this population,
/// every variable from the values at the start of the step:
/// `v += dt/τ_m·(v_rest + R·I − v + g_e·(E_e − v) + g_i·(E_i − v))`,
/// `g ← g − dt/τ·g` (a synapse without a reversal potential adds `g` instead).
final class LIFPopulation<S: NeuralScalar>: SynapseHost {
    typealias Counter = S.SIMDMaskScalar

    let name: String
    let size: Int
    let parameters: LIFParameters

    // Propagators for one step of dt.
    let pvv: S, pve: S, pvi: S, pee: S, pii: S
    /// COBA: `dt/τ_m`, and each synapse's drive `g·(a − b·v)`: `a = E, b = 1` for a
    /// conductance, `a = 1, b = 0` for a current; nil for CUBA.
    let euler: (k: S, aE: S, bE: S, aI: S, bI: S)?
    let vThreshold: S, vReset: S
    /// round(t_ref / dt), at least 1 so that input in the spike's own step is dropped, as in Brian2.
    let refractorySteps: Counter

    let v: StateBuffer<S>
    let ge: StateBuffer<S>
    let gi: StateBuffer<S>
    /// Steps of refractoriness left; 0 means integrating.
    let refractory: StateBuffer<Counter>
    /// `v_rest + R·I`, where `v` settles without synaptic input. The update
    /// is written about it, `rest + (v − rest)·pvv + …`, as Brian2 writes it:
    /// the form `pvv·v + rest·(1 − pvv)` puts Float32's rounding of `pvv`
    /// into the fixed point, which it moves by `δ·pvv/(1 − pvv)`, about
    /// 0.3 µV at −50 mV with τ_m/dt = 200; around `rest` the error shrinks
    /// with `v − rest` instead.
    let rest: StateBuffer<S>
    private let initialV: [S]
    /// `v_rest + R·I_ext` per neuron and `R`, to add injected current.
    private let baseRest: [S]
    private let currentGain: S
    private let spikeIndices: StateBuffer<UInt32>
    private(set) var spikeCount = 0
    /// Delay rings per target variable, present only when some projection into it has a delay.
    var ringV: DelayRing<S>?, ringE: DelayRing<S>?, ringI: DelayRing<S>?

    /// Resting potential of the padding lanes, mV.
    static var padding: S { -1e6 }

    init(name: String, size: Int, parameters p: LIFParameters, dt: Double, rng: inout RandomSource) {
        self.name = name
        self.size = size
        self.parameters = p
        let decayM = exp(-dt / p.tauM)
        func coupling(_ tau: Double?) -> Double {
            guard let tau else { return 0 }
            if abs(tau - p.tauM) < 1e-12 * tau { return dt / p.tauM * decayM }
            return tau / (tau - p.tauM) * (exp(-dt / tau) - decayM)
        }
        if p.conductanceBased {
            pvv = 0
            pve = 0
            pvi = 0
            pee = p.tauE.map { S(1 - dt / $0) } ?? 0
            pii = p.tauI.map { S(1 - dt / $0) } ?? 0
            euler = (S(dt / p.tauM), S(p.eE ?? 1), p.eE == nil ? 0 : 1, S(p.eI ?? 1), p.eI == nil ? 0 : 1)
        } else {
            pvv = S(decayM)
            pve = S(coupling(p.tauE))
            pvi = S(coupling(p.tauI))
            pee = p.tauE.map { S(exp(-dt / $0)) } ?? 0
            pii = p.tauI.map { S(exp(-dt / $0)) } ?? 0
            euler = nil
        }
        vThreshold = S(p.vThreshold)
        vReset = S(p.vReset)
        // Beyond 2³¹ steps a refractory period is forever, which is what it says.
        refractorySteps = Counter(exactly: max(1, (p.tRef / dt).rounded())) ?? .max

        v = StateBuffer(count: size, filling: Self.padding)
        ge = StateBuffer(count: size, filling: 0)
        gi = StateBuffer(count: size, filling: 0)
        refractory = StateBuffer(count: size, filling: 0)
        rest = StateBuffer(count: size, filling: 0)
        spikeIndices = StateBuffer(count: size, filling: 0)

        let currents = p.iExt.resolve(count: size, rng: &rng)
        for j in 0..<rest.count {
            // Padding neurons rest far below any threshold, so they never spike.
            rest[j] = j < size ? S(p.vRest + p.rM * currents[j]) : Self.padding
        }
        let restBuffer = rest
        baseRest = (0..<size).map { restBuffer[$0] }
        currentGain = S(p.rM)
        initialV = (p.vInit ?? .constant(p.vRest)).resolve(count: size, rng: &rng).map { S($0) }
        restoreInitialState()
    }

    var spikes: SpikeList { SpikeList(indices: UnsafePointer(spikeIndices.base), count: spikeCount) }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func updateAndThreshold(step: Int64) {
        typealias L = Lanes<S>
        typealias C = CounterLanes<S>
        let pvv = L(repeating: pvv), pve = L(repeating: pve)
        let pvi = L(repeating: pvi), pee = L(repeating: pee)
        let pii = L(repeating: pii), threshold = L(repeating: vThreshold)
        let conductance = euler != nil
        let k = L(repeating: euler?.k ?? 0)
        let aE = L(repeating: euler?.aE ?? 0), bE = L(repeating: euler?.bE ?? 0)
        let aI = L(repeating: euler?.aI ?? 0), bI = L(repeating: euler?.bI ?? 0)
        let signShift = C(repeating: Counter(Counter.bitWidth - 1))
        let vp = UnsafeMutableRawPointer(v.base), gep = UnsafeMutableRawPointer(ge.base)
        let gip = UnsafeMutableRawPointer(gi.base), rp = UnsafeMutableRawPointer(refractory.base)
        let dp = UnsafeRawPointer(rest.base)
        let out = spikeIndices.base
        let refractorySteps = refractorySteps
        let refractory = refractory.base, voltage = v.base, vThreshold = vThreshold
        var n = 0
        var offset = 0
        let bytes = v.count * MemoryLayout<S>.stride
        while offset < bytes {
            let v0 = vp.load(fromByteOffset: offset, as: L.self)
            let e0 = gep.load(fromByteOffset: offset, as: L.self)
            let i0 = gip.load(fromByteOffset: offset, as: L.self)
            let r0 = rp.load(fromByteOffset: offset, as: C.self)
            let c = dp.load(fromByteOffset: offset, as: L.self)
            // 1. State update; v is frozen while refractory ("unless refractory").
            //    Masks are built with integer arithmetic: SIMD's generic
            //    `replacing(with:where:)` runs lane by lane.
            let counted = r0 &- 1
            let r1 = counted & ~(counted &>> signShift)  // max(r0 − 1, 0)
            let integrating = (r1 &- 1) &>> signShift  // all ones where r1 == 0
            let updated: L
            if conductance {
                let drive = (c - v0) + e0 * (aE - bE * v0) + i0 * (aI - bI * v0)
                updated = v0 + k * drive
            } else {
                updated = c + (v0 - c) * pvv + pve * e0 + pvi * i0
            }
            let vBits = (bits(updated) & integrating) | (bits(v0) & ~integrating)
            let v1 = unsafeBitCast(vBits, to: L.self)
            vp.storeBytes(of: v1, toByteOffset: offset, as: L.self)
            gep.storeBytes(of: pee * e0, toByteOffset: offset, as: L.self)
            gip.storeBytes(of: pii * i0, toByteOffset: offset, as: L.self)
            rp.storeBytes(of: r1, toByteOffset: offset, as: C.self)
            // 2. Threshold, v > v_threshold. A spiking neuron is refractory from
            //    now on, so input delivered later in this step is dropped.
            let fire = S.lanes(v1, above: threshold) & integrating
            if anyLane(fire) {
                // Rare: re-test lane by lane from memory, which keeps the mask
                // above a pure vector compare.
                let first = offset / MemoryLayout<S>.stride
                for j in first..<first + L.scalarCount where voltage[j] > vThreshold && refractory[j] == 0 {
                    out[n] = UInt32(j)
                    refractory[j] = refractorySteps
                    n += 1
                }
            }
            offset += MemoryLayout<L>.size
        }
        spikeCount = n
    }

    @inline(__always)
    private func bits(_ x: Lanes<S>) -> CounterLanes<S> { unsafeBitCast(x, to: CounterLanes<S>.self) }

    /// Injected current (nA) on top of `i_ext`, from the next step on.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func inject(_ neuron: Int, nanoamps: Float) {
        guard neuron >= 0, neuron < size else { return }
        rest[neuron] = baseRest.withUnsafeBufferPointer { $0[neuron] } + currentGain * S(nanoamps)
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func deliverDelayed(step: Int64) {
        ringV?.drain(step: step, into: v.base, refractory: refractory.base, count: size)
        ringE?.drain(step: step, into: ge.base, refractory: nil, count: size)
        ringI?.drain(step: step, into: gi.base, refractory: nil, count: size)
    }

    var receivesDelayed: Bool { ringV != nil || ringE != nil || ringI != nil }
    var resetsAfterSpike: Bool { true }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func resetSpiked() {
        let out = spikeIndices.base
        for k in 0..<spikeCount { v[Int(out[k])] = vReset }
    }

    func attachRing(_ ring: DelayRing<S>, to variable: TargetVariable) {
        switch variable {
        case .v: ringV = ring
        case .ge: ringE = ring
        case .gi: ringI = ring
        }
    }

    func synapticTarget(_ variable: TargetVariable) -> SynapticTarget<S>? {
        switch variable {
        case .v: SynapticTarget(variable: v.base, refractory: refractory.base, ring: ringV)
        case .ge: parameters.tauE == nil ? nil : SynapticTarget(variable: ge.base, refractory: nil, ring: ringE)
        case .gi: parameters.tauI == nil ? nil : SynapticTarget(variable: gi.base, refractory: nil, ring: ringI)
        }
    }

    var probeableVariables: [String] { ["v", "g_e", "g_i"] }

    func value(of variable: String, neuron: Int) -> Double? {
        guard neuron >= 0, neuron < size else { return nil }
        switch variable {
        case "v": return v[neuron].double
        case "g_e": return ge[neuron].double
        case "g_i": return gi[neuron].double
        default: return nil
        }
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func restoreInitialState() {
        for j in 0..<size {
            v[j] = initialV[j]
            rest[j] = baseRest[j]
        }
        ge.fill(0)
        gi.fill(0)
        refractory.fill(0)
        spikeCount = 0
        ringV?.clear()
        ringE?.clear()
        ringI?.clear()
    }
}
