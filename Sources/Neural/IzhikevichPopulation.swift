/// Izhikevich (2003) neurons, integrated by forward Euler at the network's dt.
///
/// The model is non-linear, so there is no closed form; at dt ≤ 0.1 ms Euler
/// reproduces the paper's firing patterns (the paper itself used 1 ms half-steps).
final class IzhikevichPopulation<S: NeuralScalar>: SynapseHost {
    let name: String
    let size: Int
    private let a: S, b: S, c: S, d: S, dt: S
    private let v: StateBuffer<S>
    private let u: StateBuffer<S>
    private let current: StateBuffer<S>
    private let initialV: [S]
    private let spikeIndices: StateBuffer<UInt32>
    private(set) var spikeCount = 0
    private var ringV: DelayRing<S>?

    /// Izhikevich's spike cut-off, mV.
    static var peak: S { 30 }

    init(name: String, size: Int, parameters p: IzhikevichParameters, dt: Double, rng: inout RandomSource) {
        self.name = name
        self.size = size
        a = S(p.a); b = S(p.b); c = S(p.c); d = S(p.d); self.dt = S(dt)
        v = StateBuffer(count: size, filling: 0)
        u = StateBuffer(count: size, filling: 0)
        current = StateBuffer(count: size, filling: 0)
        spikeIndices = StateBuffer(count: size, filling: 0)
        let currents = p.iExt.resolve(count: size, rng: &rng)
        for j in 0..<size { current[j] = S(currents[j]) }
        initialV = (p.vInit ?? .constant(-65)).resolve(count: size, rng: &rng).map { S($0) }
        restoreInitialState()
    }

    var spikes: SpikeList { SpikeList(indices: UnsafePointer(spikeIndices.base), count: spikeCount) }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func updateAndThreshold(step: Int64) {
        var n = 0
        for j in 0..<size {
            let vj = v[j], uj = u[j]
            let v1 = vj + dt * (0.04 * vj * vj + 5 * vj + 140 - uj + current[j])
            u[j] = uj + dt * a * (b * vj - uj)
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
    }
}
