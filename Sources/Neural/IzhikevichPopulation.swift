/// Izhikevich (2003) neurons, integrated by forward Euler at the network's dt.
///
/// The model is non-linear, so there is no closed form; at dt ≤ 0.1 ms Euler
/// reproduces the paper's firing patterns (the paper itself used 1 ms half-steps).
final class IzhikevichPopulation: PopulationDynamics {
    let name: String
    let size: Int
    private let a: Float, b: Float, c: Float, d: Float, dt: Float
    private let v: StateBuffer<Float>
    private let u: StateBuffer<Float>
    private let current: StateBuffer<Float>
    private let initialV: [Float]
    private let spikeIndices: StateBuffer<UInt32>
    private(set) var spikeCount = 0
    private var ringV: DelayRing?

    /// Izhikevich's spike cut-off, mV.
    static let peak: Float = 30

    init(name: String, size: Int, parameters p: IzhikevichParameters, dt: Double, rng: inout RandomSource) {
        self.name = name
        self.size = size
        a = Float(p.a); b = Float(p.b); c = Float(p.c); d = Float(p.d); self.dt = Float(dt)
        v = StateBuffer(count: size, filling: 0)
        u = StateBuffer(count: size, filling: 0)
        current = StateBuffer(count: size, filling: 0)
        spikeIndices = StateBuffer(count: size, filling: 0)
        let currents = p.iExt.resolve(count: size, rng: &rng)
        for j in 0..<size { current[j] = Float(currents[j]) }
        initialV = (p.vInit ?? .constant(-65)).resolve(count: size, rng: &rng).map(Float.init)
        restoreInitialState()
    }

    var spikes: SpikeList { SpikeList(indices: UnsafePointer(spikeIndices.base), count: spikeCount) }

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

    func deliverDelayed(step: Int64) {
        ringV?.drain(step: step, into: v.base, refractory: nil, count: size)
    }

    var receivesDelayed: Bool { ringV != nil }
    var resetsAfterSpike: Bool { true }

    func resetSpiked() {
        for k in 0..<spikeCount {
            let j = Int(spikeIndices[k])
            v[j] = c
            u[j] += d
        }
    }

    func synapticTarget(_ variable: TargetVariable) -> SynapticTarget? {
        variable == .v ? SynapticTarget(variable: v.base, refractory: nil, ring: ringV) : nil
    }

    func attachRing(_ ring: DelayRing, to variable: TargetVariable) {
        if variable == .v { ringV = ring }
    }

    var probeableVariables: [String] { ["v", "u"] }

    func value(of variable: String, neuron: Int) -> Float? {
        guard neuron >= 0, neuron < size else { return nil }
        switch variable {
        case "v": return v[neuron]
        case "u": return u[neuron]
        default: return nil
        }
    }

    func restoreInitialState() {
        for j in 0..<size {
            v[j] = initialV[j]
            u[j] = b * initialV[j]
        }
        spikeCount = 0
        ringV?.clear()
    }
}
