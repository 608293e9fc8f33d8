#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The vector width of the state update. Buffers are padded to 16 neurons; on
/// CPUs with narrower vectors the compiler splits each operation.
typealias FloatLanes = SIMD16<Float>
typealias IntLanes = SIMD16<Int32>

/// Whether any lane of `mask` is set. The standard library's `any(_:)` reduces
/// through a generic `min()` that is not inlined here (a fifth of CUBA's and
/// COBA's run time, measured with perf); eight 64-bit ORs are not.
@inline(__always)
func anyLane(_ mask: SIMDMask<IntLanes>) -> Bool {
    let w = unsafeBitCast(mask, to: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64).self)
    return (w.0 | w.1 | w.2 | w.3 | w.4 | w.5 | w.6 | w.7) != 0
}

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
final class LIFPopulation: CurrentSink {
    let name: String
    let size: Int
    let parameters: LIFParameters

    // Propagators for one step of dt.
    let pvv: Float, pve: Float, pvi: Float, pee: Float, pii: Float
    /// COBA: `dt/τ_m`, and each synapse's drive `g·(a − b·v)`: `a = E, b = 1` for a
    /// conductance, `a = 1, b = 0` for a current; nil for CUBA.
    let euler: (k: Float, aE: Float, bE: Float, aI: Float, bI: Float)?
    let vThreshold: Float, vReset: Float
    /// round(t_ref / dt), at least 1 so that input in the spike's own step is dropped, as in Brian2.
    let refractorySteps: Int32

    let v: StateBuffer<Float>
    let ge: StateBuffer<Float>
    let gi: StateBuffer<Float>
    /// Steps of refractoriness left; 0 means integrating.
    let refractory: StateBuffer<Int32>
    /// `v_rest + R·I`, where `v` settles without synaptic input. The update
    /// is written about it, `rest + (v − rest)·pvv + …`, as Brian2 writes it:
    /// the form `pvv·v + rest·(1 − pvv)` puts Float32's rounding of `pvv`
    /// into the fixed point, which it moves by `δ·pvv/(1 − pvv)`, about
    /// 0.3 µV at −50 mV with τ_m/dt = 200; around `rest` the error shrinks
    /// with `v − rest` instead.
    let rest: StateBuffer<Float>
    private let initialV: [Float]
    /// `v_rest + R·I_ext` per neuron and `R`, to add injected current.
    private let baseRest: [Float]
    private let currentGain: Float
    private let spikeIndices: StateBuffer<UInt32>
    private(set) var spikeCount = 0
    /// Delay rings per target variable, present only when some projection into it has a delay.
    var ringV: DelayRing?, ringE: DelayRing?, ringI: DelayRing?

    /// Resting potential of the padding lanes, mV.
    static let padding: Float = -1e6

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
            pee = p.tauE.map { Float(1 - dt / $0) } ?? 0
            pii = p.tauI.map { Float(1 - dt / $0) } ?? 0
            euler = (Float(dt / p.tauM), Float(p.eE ?? 1), p.eE == nil ? 0 : 1, Float(p.eI ?? 1), p.eI == nil ? 0 : 1)
        } else {
            pvv = Float(decayM)
            pve = Float(coupling(p.tauE))
            pvi = Float(coupling(p.tauI))
            pee = p.tauE.map { Float(exp(-dt / $0)) } ?? 0
            pii = p.tauI.map { Float(exp(-dt / $0)) } ?? 0
            euler = nil
        }
        vThreshold = Float(p.vThreshold)
        vReset = Float(p.vReset)
        // Beyond 2³¹ steps a refractory period is forever, which is what it says.
        refractorySteps = Int32(exactly: max(1, (p.tRef / dt).rounded())) ?? .max

        v = StateBuffer(count: size, filling: Self.padding)
        ge = StateBuffer(count: size, filling: 0)
        gi = StateBuffer(count: size, filling: 0)
        refractory = StateBuffer(count: size, filling: 0)
        rest = StateBuffer(count: size, filling: 0)
        spikeIndices = StateBuffer(count: size, filling: 0)

        let currents = p.iExt.resolve(count: size, rng: &rng)
        for j in 0..<rest.count {
            // Padding neurons rest far below any threshold, so they never spike.
            rest[j] = Float(j < size ? p.vRest + p.rM * currents[j] : Double(Self.padding))
        }
        let restBuffer = rest
        baseRest = (0..<size).map { restBuffer[$0] }
        currentGain = Float(p.rM)
        initialV = (p.vInit ?? .constant(p.vRest)).resolve(count: size, rng: &rng).map(Float.init)
        restoreInitialState()
    }

    var spikes: SpikeList { SpikeList(indices: UnsafePointer(spikeIndices.base), count: spikeCount) }

    func updateAndThreshold(step: Int64) {
        let pvv = FloatLanes(repeating: pvv), pve = FloatLanes(repeating: pve)
        let pvi = FloatLanes(repeating: pvi), pee = FloatLanes(repeating: pee)
        let pii = FloatLanes(repeating: pii), threshold = FloatLanes(repeating: vThreshold)
        let conductance = euler != nil
        let k = FloatLanes(repeating: euler?.k ?? 0)
        let aE = FloatLanes(repeating: euler?.aE ?? 0), bE = FloatLanes(repeating: euler?.bE ?? 0)
        let aI = FloatLanes(repeating: euler?.aI ?? 0), bI = FloatLanes(repeating: euler?.bI ?? 0)
        let vp = UnsafeMutableRawPointer(v.base), gep = UnsafeMutableRawPointer(ge.base)
        let gip = UnsafeMutableRawPointer(gi.base), rp = UnsafeMutableRawPointer(refractory.base)
        let dp = UnsafeRawPointer(rest.base)
        let out = spikeIndices.base
        let refractorySteps = refractorySteps
        let refractory = refractory.base, voltage = v.base, vThreshold = vThreshold
        var n = 0
        var offset = 0
        let bytes = v.count * 4
        while offset < bytes {
            let v0 = vp.load(fromByteOffset: offset, as: FloatLanes.self)
            let e0 = gep.load(fromByteOffset: offset, as: FloatLanes.self)
            let i0 = gip.load(fromByteOffset: offset, as: FloatLanes.self)
            let r0 = rp.load(fromByteOffset: offset, as: IntLanes.self)
            let c = dp.load(fromByteOffset: offset, as: FloatLanes.self)
            // 1. State update; v is frozen while refractory ("unless refractory").
            //    Masks are built with integer arithmetic: SIMD's generic
            //    `replacing(with:where:)` runs lane by lane.
            let counted = r0 &- 1
            let r1 = counted & ~(counted &>> 31)  // max(r0 − 1, 0)
            let integrating = (r1 &- 1) &>> 31  // all ones where r1 == 0
            let updated: FloatLanes
            if conductance {
                let drive = (c - v0) + e0 * (aE - bE * v0) + i0 * (aI - bI * v0)
                updated = v0 + k * drive
            } else {
                updated = c + (v0 - c) * pvv + pve * e0 + pvi * i0
            }
            let vBits = (bits(updated) & integrating) | (bits(v0) & ~integrating)
            let v1 = unsafeBitCast(vBits, to: FloatLanes.self)
            vp.storeBytes(of: v1, toByteOffset: offset, as: FloatLanes.self)
            gep.storeBytes(of: pee * e0, toByteOffset: offset, as: FloatLanes.self)
            gip.storeBytes(of: pii * i0, toByteOffset: offset, as: FloatLanes.self)
            rp.storeBytes(of: r1, toByteOffset: offset, as: IntLanes.self)
            // 2. Threshold, v > v_threshold. A spiking neuron is refractory from
            //    now on, so input delivered later in this step is dropped.
            let fire = (v1 .> threshold) .& (r1 .== IntLanes.zero)  // vector-vector forms: the scalar overloads run lane by lane
            if anyLane(fire) {
                // Rare: re-test lane by lane from memory, which keeps the mask
                // above a pure vector compare.
                let first = offset / 4
                for j in first..<first + FloatLanes.scalarCount where voltage[j] > vThreshold && refractory[j] == 0 {
                    out[n] = UInt32(j)
                    refractory[j] = refractorySteps
                    n += 1
                }
            }
            offset += MemoryLayout<FloatLanes>.size
        }
        spikeCount = n
    }

    @inline(__always)
    private func bits(_ x: FloatLanes) -> IntLanes { unsafeBitCast(x, to: IntLanes.self) }

    /// Injected current (nA) on top of `i_ext`, from the next step on.
    @inline(__always)
    func inject(_ neuron: Int, nanoamps: Float) {
        guard neuron >= 0, neuron < size else { return }
        rest[neuron] = baseRest.withUnsafeBufferPointer { $0[neuron] } + currentGain * nanoamps
    }

    func deliverDelayed(step: Int64) {
        ringV?.drain(step: step, into: v.base, refractory: refractory.base, count: size)
        ringE?.drain(step: step, into: ge.base, refractory: nil, count: size)
        ringI?.drain(step: step, into: gi.base, refractory: nil, count: size)
    }

    var receivesDelayed: Bool { ringV != nil || ringE != nil || ringI != nil }
    var resetsAfterSpike: Bool { true }

    func resetSpiked() {
        let out = spikeIndices.base
        for k in 0..<spikeCount { v[Int(out[k])] = vReset }
    }

    func attachRing(_ ring: DelayRing, to variable: TargetVariable) {
        switch variable {
        case .v: ringV = ring
        case .ge: ringE = ring
        case .gi: ringI = ring
        }
    }

    func synapticTarget(_ variable: TargetVariable) -> SynapticTarget? {
        switch variable {
        case .v: SynapticTarget(variable: v.base, refractory: refractory.base, ring: ringV)
        case .ge: parameters.tauE == nil ? nil : SynapticTarget(variable: ge.base, refractory: nil, ring: ringE)
        case .gi: parameters.tauI == nil ? nil : SynapticTarget(variable: gi.base, refractory: nil, ring: ringI)
        }
    }

    var probeableVariables: [String] { ["v", "g_e", "g_i"] }

    func value(of variable: String, neuron: Int) -> Float? {
        guard neuron >= 0, neuron < size else { return nil }
        switch variable {
        case "v": return v[neuron]
        case "g_e": return ge[neuron]
        case "g_i": return gi[neuron]
        default: return nil
        }
    }

    func restoreInitialState() {
        for j in 0..<size {
            v[j] = initialV[j]
            rest[j] = baseRest[j]
        }
        ge.fill(0)
        gi.fill(0)
        refractory.fill(0)
        spikeCount = 0
        for ring in [ringV, ringE, ringI] { ring?.clear() }
    }
}
