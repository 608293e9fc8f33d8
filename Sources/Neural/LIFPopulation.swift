import LIFKernel
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
    let name: String
    let size: Int
    let parameters: LIFParameters

    /// COBA: integrated by forward Euler.
    let conductance: Bool
    let vReset: S
    /// round(t_ref / dt), at least 1 so that input in the spike's own step is
    /// dropped, as in Brian2; `Int64.max` (never ends) beyond the whole
    /// numbers the scalar holds exactly (2²⁴ steps in float32, 2⁵³ in float64).
    let refractorySteps: Int64

    let v: StateBuffer<S>
    let ge: StateBuffer<S>
    let gi: StateBuffer<S>
    /// Steps of refractoriness left, whole numbers in the scalar (the kernel's
    /// masks come from one float compare); 0 means integrating.
    let refractory: StateBuffer<S>
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
    /// The same and the initial `v` as drawn, before rounding to `S` (NIR export).
    let restingState: (rest: [Double], v: [Double])?
    private let spikeIndices: StateBuffer<UInt32>
    private(set) var spikeCount = 0
    /// The kernel's arguments (`LIFStep`): its buffers and its constants.
    private let kernel: LIFStepFunction = S.lifStep
    private let kernelBuffers: UnsafeMutablePointer<UnsafeMutableRawPointer>
    private let kernelConstants: StateBuffer<S>
    /// `LIFStep`'s form: COBA or CUBA, and whether every neuron rests alike
    /// (then the kernel does not read `rest`; injected current ends that).
    private var kernelForm = 0
    /// Delay rings per target variable, present only when some projection into it has a delay.
    var ringV: DelayRing<S>?, ringE: DelayRing<S>?, ringI: DelayRing<S>?

    /// Resting potential of the padding lanes, mV.
    static var padding: S { -1e6 }

    init(name: String, size: Int, parameters p: LIFParameters, dt: Double, rng: inout RandomSource) {
        self.name = name
        self.size = size
        self.parameters = p
        let decayM = p.membraneDecay(dt: dt)
        func coupling(_ tau: Double?) -> Double { tau.map { p.coupling(synapseTau: $0, dt: dt) } ?? 0 }
        // The kernel's constants (`LIFStep`): the propagators for one step of dt
        // (pvv, pve, pvi, pee, pii), v_threshold, and for COBA `dt/τ_m` and each
        // synapse's drive `g·(a − b·v)`: `a = E, b = 1` for a conductance,
        // `a = 1, b = 0` for a current.
        let constants: [Double]
        conductance = p.conductanceBased
        if conductance {
            constants = [0, 0, 0, p.tauE.map { 1 - dt / $0 } ?? 0, p.tauI.map { 1 - dt / $0 } ?? 0, p.vThreshold,
                         dt / p.tauM, p.eE ?? 1, p.eE == nil ? 0 : 1, p.eI ?? 1, p.eI == nil ? 0 : 1, 0]
        } else {
            constants = [decayM, coupling(p.tauE), coupling(p.tauI), p.tauE.map { exp(-dt / $0) } ?? 0,
                         p.tauI.map { exp(-dt / $0) } ?? 0, p.vThreshold, 0, 0, 0, 0, 0, 0]
        }
        vReset = S(p.vReset)
        let steps = max(1, (p.tRef / dt).rounded())
        refractorySteps = steps <= Double(1 << (S.significandBitCount + 1)) ? Int64(steps) : .max

        v = StateBuffer(count: size, filling: Self.padding)
        ge = StateBuffer(count: size, filling: 0)
        gi = StateBuffer(count: size, filling: 0)
        refractory = StateBuffer(count: size, filling: 0)
        rest = StateBuffer(count: size, filling: 0)
        spikeIndices = StateBuffer(count: size, filling: 0)
        kernelBuffers = .allocate(capacity: 6)
        for (k, buffer) in [UnsafeMutableRawPointer(v.base), UnsafeMutableRawPointer(ge.base), UnsafeMutableRawPointer(gi.base),
                            UnsafeMutableRawPointer(refractory.base), UnsafeMutableRawPointer(rest.base),
                            UnsafeMutableRawPointer(spikeIndices.base)].enumerated() {
            (kernelBuffers + k).initialize(to: buffer)
        }
        kernelConstants = StateBuffer(count: constants.count, filling: 0)
        for (k, x) in constants.enumerated() { kernelConstants[k] = S(x) }

        let currents = p.iExt.resolve(count: size, rng: &rng)
        let restValues = currents.map { p.vRest + p.rM * $0 }
        for j in 0..<rest.count {
            // Padding neurons rest far below any threshold, so they never spike.
            rest[j] = j < size ? S(restValues[j]) : Self.padding
        }
        let restBuffer = rest
        baseRest = (0..<size).map { restBuffer[$0] }
        currentGain = S(p.rM)
        let vValues = (p.vInit ?? .constant(p.vRest)).resolve(count: size, rng: &rng)
        initialV = vValues.map { S($0) }
        restingState = (restValues, vValues)
        restoreInitialState()
    }

    deinit { kernelBuffers.deallocate() }

    var spikes: SpikeList { SpikeList(indices: UnsafePointer(spikeIndices.base), count: spikeCount) }

    /// Phases 1 and 2 in the LIF kernel built for this CPU (LIFKernelBuild).
    func updateAndThreshold(step: Int64) {
        spikeCount = kernel(kernelBuffers, UnsafeRawPointer(kernelConstants.base), v.count, kernelForm, refractorySteps)
    }

    /// Injected current (nA) on top of `i_ext`, from the next step on.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func inject(_ neuron: Int, nanoamps: Float) {
        guard neuron >= 0, neuron < size else { return }
        let value = baseRest.withUnsafeBufferPointer { $0[neuron] } + currentGain * S(nanoamps)
        rest[neuron] = value
        if value != kernelConstants[11] { kernelForm &= ~LIFStep.uniformRest }
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
        var uniform = true
        for j in 0..<size {
            v[j] = initialV[j]
            rest[j] = baseRest[j]
            uniform = uniform && rest[j] == rest[0]
        }
        ge.fill(0)
        gi.fill(0)
        refractory.fill(0)
        spikeCount = 0
        kernelConstants[11] = rest[0]
        kernelForm = (conductance ? LIFStep.conductance : 0) | (uniform ? LIFStep.uniformRest : 0)
            | (parameters.eE != nil && parameters.eI != nil ? LIFStep.bothConductances : 0)
        ringV?.clear()
        ringE?.clear()
        ringI?.clear()
    }
}
