/// Izhikevich (2003) neurons, integrated by forward Euler at the network's dt.
///
/// The model is non-linear, so there is no closed form; at dt ≤ 0.1 ms Euler
/// reproduces the paper's firing patterns (the paper itself used 1 ms half-steps).
///
/// The step is evaluated in the order of Brian2's generated code, and its
/// two constants are computed as Brian2 computes them (from dt in seconds,
/// divided by a millisecond): some firing patterns are chaotic under Euler
/// (docs/network-file.md), and only the same rounding keeps a float64 run on
/// Brian2's spikes.
final class IzhikevichPopulation<S: NeuralScalar>: SynapseHost {
    let name: String
    let size: Int
    private let b: S, c: S, d: S
    /// `dt/ms` and `a·dt/ms`, the factors of the Euler step.
    private let kV: S, kU: S
    private let v: StateBuffer<S>
    private let u: StateBuffer<S>
    private let current: StateBuffer<S>
    private let initialV: [S]
    /// `i_ext` plus the noise current, redrawn every `noiseSteps` steps.
    private let noisyCurrent: StateBuffer<S>?
    private let noiseLo: Double, noiseSpan: Double, noiseSteps: Int64
    /// The noise's generator as built, for `restoreInitialState`.
    private let initialNoiseRNG: RandomSource
    private var noiseRNG: RandomSource
    private let spikeIndices: StateBuffer<UInt32>
    private(set) var spikeCount = 0
    private var ringV: DelayRing<S>?

    /// Izhikevich's spike cut-off, mV.
    static var peak: S { 30 }

    init(name: String, size: Int, parameters p: IzhikevichParameters, dt: Double, seed: UInt64, rng: inout RandomSource) {
        self.name = name
        self.size = size
        b = S(p.b); c = S(p.c); d = S(p.d)
        let millisecond = 0.001, seconds = dt * millisecond
        kV = S(seconds / millisecond)
        kU = S(p.a * seconds / millisecond)
        v = StateBuffer(count: size, filling: 0)
        u = StateBuffer(count: size, filling: 0)
        current = StateBuffer(count: size, filling: 0)
        spikeIndices = StateBuffer(count: size, filling: 0)
        let currents = p.iExt.resolve(count: size, rng: &rng)
        for j in 0..<size { current[j] = S(currents[j]) }
        initialV = (p.vInit ?? .constant(-65)).resolve(count: size, rng: &rng).map { S($0) }
        noisyCurrent = p.iNoise.map { _ in StateBuffer(count: size, filling: 0) }
        noiseLo = p.iNoise?.lo ?? 0
        noiseSpan = (p.iNoise?.hi ?? 0) - noiseLo
        noiseSteps = max(1, Int64(((p.iNoise?.every ?? dt) / dt).rounded()))
        initialNoiseRNG = RandomSource(seed: seed, stream: "noise/\(name)")
        noiseRNG = initialNoiseRNG
        restoreInitialState()
    }

    var spikes: SpikeList { SpikeList(indices: UnsafePointer(spikeIndices.base), count: spikeCount) }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func updateAndThreshold(step: Int64) {
        guard let noisyCurrent else { return update(step: step, current: current.base) }
        if step % noiseSteps == 0 {
            for j in 0..<size { noisyCurrent[j] = current[j] + S(noiseLo + noiseSpan * noiseRNG.uniform()) }
        }
        update(step: step, current: noisyCurrent.base)
    }

    /// One Euler step with `current` (i_ext, plus the noise if any) and the threshold.
    @inline(__always)
    private func update(step: Int64, current: UnsafeMutablePointer<S>) {
        var n = 0
        for j in 0..<size {
            let vj = v[j], uj = u[j]
            let drive: S = 140 + ((current[j] + 0.04 * (vj * vj)) + 5 * vj)
            let v1 = kV * (drive - uj) + vj
            u[j] = kU * (b * vj - uj) + uj
            v[j] = v1
            if v1 >= Self.peak {
                spikeIndices[n] = UInt32(j)
                n += 1
            }
        }
        spikeCount = n
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func deliverDelayed(step: Int64) {
        ringV?.drain(step: step, into: v.base, refractory: nil, count: size)
    }

    var receivesDelayed: Bool { ringV != nil }
    var resetsAfterSpike: Bool { true }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func resetSpiked() {
        for k in 0..<spikeCount {
            let j = Int(spikeIndices[k])
            v[j] = c
            u[j] += d
        }
    }

    func synapticTarget(_ variable: TargetVariable) -> SynapticTarget<S>? {
        variable == .v ? SynapticTarget(variable: v.base, refractory: nil, ring: ringV) : nil
    }

    func attachRing(_ ring: DelayRing<S>, to variable: TargetVariable) {
        if variable == .v { ringV = ring }
    }

    var probeableVariables: [String] { ["v", "u"] }

    func value(of variable: String, neuron: Int) -> Double? {
        guard neuron >= 0, neuron < size else { return nil }
        switch variable {
        case "v": return v[neuron].double
        case "u": return u[neuron].double
        default: return nil
        }
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func restoreInitialState() {
        for j in 0..<size {
            v[j] = initialV[j]
            u[j] = b * initialV[j]
        }
        spikeCount = 0
        ringV?.clear()
        noiseRNG = initialNoiseRNG
    }
}
