#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The model of a network, separate from how it is executed (as in Brian2).
///
/// All values are in the engine's internal units: **ms, mV, nA, MΩ, Hz**
/// (so `R·I` in MΩ·nA is in mV). Files with unit suffixes are turned into
/// these values by the `NetworkFile` module.
public struct NetworkSpec: Sendable, Equatable {
    public var name: String
    /// Step of the network clock, ms.
    public var dt: Double
    public var seed: UInt64
    /// The number type of neuron state, synaptic input and weights.
    public var precision: Precision
    public var populations: [PopulationSpec]
    public var projections: [ProjectionSpec]
    /// Rewards the network earns by its own spikes (``SpikePairingRewardSpec``).
    public var rewards: [SpikePairingRewardSpec]

    public init(name: String = "network", dt: Double = 0.1, seed: UInt64 = 0, precision: Precision = .float32,
                populations: [PopulationSpec] = [], projections: [ProjectionSpec] = [],
                rewards: [SpikePairingRewardSpec] = []) {
        self.name = name
        self.dt = dt
        self.seed = seed
        self.precision = precision
        self.populations = populations
        self.projections = projections
        self.rewards = rewards
    }
}

/// A reward earned when neuron `post` fires less than `within` after neuron
/// `pre` last fired (in an earlier step), delivered `delay` later: the
/// experiment of Izhikevich (2007), "solving the distal reward problem",
/// where a reward 1–3 s after a chosen pre→post pairing must find the one
/// synapse responsible among 80,000.
public struct SpikePairingRewardSpec: Sendable, Equatable {
    public var pre: NeuronAddress
    public var post: NeuronAddress
    /// ms.
    public var within: Double
    public var reward: Double
    /// ms, drawn for each reward from the network's seed; at least one step.
    public var delay: ClosedRange<Double>

    public init(pre: NeuronAddress, post: NeuronAddress, within: Double, reward: Double, delay: ClosedRange<Double>) {
        self.pre = pre
        self.post = post
        self.within = within
        self.reward = reward
        self.delay = delay
    }
}

/// One neuron: a population's name and an index in it.
public struct NeuronAddress: Sendable, Equatable, CustomStringConvertible {
    public var population: String
    public var index: Int

    public init(population: String, index: Int) {
        self.population = population
        self.index = index
    }

    public var description: String { "\(population)[\(index)]" }
}

/// What `lif` and `izhikevich` populations and their projections compute in.
///
/// Float32 is the default for control: twice the neurons per vector, and a
/// controller does not care whether a spike comes a step later. Float64
/// accumulates as Brian2 and NEST do, so that a threshold crossing within a
/// hair of a step boundary falls in the same step as theirs. Spike sources
/// and layers (trained networks, computed in float32 as their frameworks do)
/// are the same in both.
public enum Precision: String, Sendable, Equatable, CaseIterable {
    case float32, float64
}

/// A per-neuron quantity: one value for all, one value each, or uniform draws.
public enum PerNeuron: Sendable, Equatable {
    case constant(Double)
    case values([Double])
    case uniform(Double, Double)

    func resolve(count: Int, rng: inout RandomSource) -> [Double] {
        switch self {
        case .constant(let x): return Array(repeating: x, count: count)
        case .values(let xs): return xs
        case .uniform(let lo, let hi): return (0..<count).map { _ in rng.uniform(lo, hi) }
        }
    }
}

public struct PopulationSpec: Sendable, Equatable {
    public var name: String
    public var size: Int
    public var model: NeuronModel

    public init(name: String, size: Int, model: NeuronModel) {
        self.name = name
        self.size = size
        self.model = model
    }
}

public enum NeuronModel: Sendable, Equatable {
    case lif(LIFParameters)
    case izhikevich(IzhikevichParameters)
    /// Independent Bernoulli draws each step with probability `rate · dt` (Brian2's PoissonGroup).
    case poisson(rates: PerNeuron)
    /// Explicit spike times per neuron, ms; rounded to whole steps.
    case spikeTimes([[Double]])
    /// Spikes supplied from outside before each step: the input population of an encoder.
    case input
    /// Values supplied from outside before each step (a trained network's input layer).
    case analogInput
    /// A layer of a trained network: dense inputs, forward Euler (``LayerSpec``).
    case layer(LayerSpec)

    public var name: String {
        switch self {
        case .input: "input"
        case .lif: "lif"
        case .izhikevich: "izhikevich"
        case .poisson: "poisson"
        case .spikeTimes: "spike_times"
        case .analogInput: "analog_input"
        case .layer: "layer"
        }
    }

    /// The state variables a probe may record.
    public var probeableVariables: [String] {
        switch self {
        case .lif: ["v", "g_e", "g_i"]
        case .izhikevich: ["v", "u"]
        case .poisson, .spikeTimes, .input: []
        case .analogInput: ["value"]
        case .layer(let l): l.kind.hasCurrent ? ["v", "i"] : ["v"]
        }
    }

    /// The variables a projection may target.
    public var targets: [TargetVariable] {
        switch self {
        case .lif: [.v, .ge, .gi]
        case .izhikevich: [.v]
        case .poisson, .spikeTimes, .input, .analogInput, .layer: []
        }
    }
}

/// A noise current uniform in `lo...hi`, drawn for every neuron every
/// `every` ms (rounded to whole steps, at least one) and held in between:
/// Izhikevich's random thalamic input, `I = 13·(rand − 0.5)` each millisecond.
public struct CurrentNoise: Sendable, Equatable {
    public var lo: Double
    public var hi: Double
    /// ms; nil: every step.
    public var every: Double?

    public init(lo: Double, hi: Double, every: Double? = nil) {
        self.lo = lo
        self.hi = hi
        self.every = every
    }
}

/// Leaky integrate-and-fire, current based, Brian2's CUBA form.
public struct LIFParameters: Sendable, Equatable {
    public var tauM: Double
    public var vRest: Double
    public var vThreshold: Double
    public var vReset: Double
    public var tRef: Double
    /// Time constants of the excitatory and inhibitory synaptic variables, ms;
    /// required only when a projection targets them.
    public var tauE: Double?
    public var tauI: Double?
    /// Membrane resistance, MΩ.
    public var rM: Double
    /// Constant external current, nA.
    public var iExt: PerNeuron
    /// Initial membrane potential, mV; `nil` means `vRest`.
    public var vInit: PerNeuron?
    /// Reversal potentials, mV. With `eE`, `g_e` is a conductance in units of
    /// the leak conductance (dimensionless) that drives `g_e·(E_e − v)`;
    /// without, a voltage added to `v`'s drive (CUBA). The same for `eI`.
    /// A population with either is integrated by forward Euler (docs/network-file.md).
    public var eE: Double?
    public var eI: Double?

    /// Whether the population has conductance-based synapses (and its step is forward Euler).
    public var conductanceBased: Bool { eE != nil || eI != nil }

    /// `e^(−dt/τ_m)`: what one step of `dt` leaves of `v − rest` (CUBA, exact).
    public func membraneDecay(dt: Double) -> Double { exp(-dt / tauM) }

    /// What one step of `dt` adds to `v` per unit of a current synapse's
    /// variable (time constant `tau`) at the step's start: the exact
    /// propagator of `dv/dt = (… + g)/τ_m`, `dg/dt = −g/τ`.
    public func coupling(synapseTau tau: Double, dt: Double) -> Double {
        let decayM = membraneDecay(dt: dt)
        if abs(tau - tauM) < 1e-12 * tau { return dt / tauM * decayM }
        return tau / (tau - tauM) * (exp(-dt / tau) - decayM)
    }

    public init(tauM: Double, vRest: Double, vThreshold: Double, vReset: Double, tRef: Double = 0,
                tauE: Double? = nil, tauI: Double? = nil, rM: Double = 1,
                iExt: PerNeuron = .constant(0), vInit: PerNeuron? = nil, eE: Double? = nil, eI: Double? = nil) {
        self.eE = eE
        self.eI = eI
        self.tauM = tauM
        self.vRest = vRest
        self.vThreshold = vThreshold
        self.vReset = vReset
        self.tRef = tRef
        self.tauE = tauE
        self.tauI = tauI
        self.rM = rM
        self.iExt = iExt
        self.vInit = vInit
    }
}

/// Izhikevich (2003): `v' = 0.04v² + 5v + 140 − u + I`, `u' = a(bv − u)`;
/// at `v ≥ 30 mV`: `v ← c`, `u ← u + d`. Units as in the paper (mV, ms).
public struct IzhikevichParameters: Sendable, Equatable {
    public var a: Double
    public var b: Double
    public var c: Double
    public var d: Double
    public var iExt: PerNeuron
    public var vInit: PerNeuron?
    /// A current added to `i_ext`, drawn afresh for each neuron.
    public var iNoise: CurrentNoise?

    public init(a: Double, b: Double, c: Double, d: Double,
                iExt: PerNeuron = .constant(0), vInit: PerNeuron? = nil, iNoise: CurrentNoise? = nil) {
        self.a = a
        self.b = b
        self.c = c
        self.d = d
        self.iExt = iExt
        self.vInit = vInit
        self.iNoise = iNoise
    }

    /// The named parameter sets of Izhikevich (2003), figure 2.
    public static let presets: [(name: String, parameters: IzhikevichParameters)] = [
        ("regular_spiking", .init(a: 0.02, b: 0.2, c: -65, d: 8)),
        ("intrinsically_bursting", .init(a: 0.02, b: 0.2, c: -55, d: 4)),
        ("chattering", .init(a: 0.02, b: 0.2, c: -50, d: 2)),
        ("fast_spiking", .init(a: 0.1, b: 0.2, c: -65, d: 2)),
    ]

    public static func preset(_ name: String) -> IzhikevichParameters? {
        presets.first { $0.name == name }?.parameters
    }
}

/// The postsynaptic variable a projection adds its weights to.
public enum TargetVariable: String, Sendable, Equatable, CaseIterable {
    /// Membrane potential, directly (Brian2's `v_post += w`); ignored while refractory.
    case v
    /// Excitatory synaptic variable.
    case ge = "g_e"
    /// Inhibitory synaptic variable.
    case gi = "g_i"
}

public enum ConnectionRule: Sendable, Equatable {
    case allToAll
    case oneToOne
    case fixedProbability(Double)
    case fixedIndegree(Int)
    /// Explicit (pre, post) pairs, in the order the weight and delay lists follow.
    case list([(Int, Int)])

    public static func == (a: ConnectionRule, b: ConnectionRule) -> Bool {
        switch (a, b) {
        case (.allToAll, .allToAll), (.oneToOne, .oneToOne): return true
        case let (.fixedProbability(p), .fixedProbability(q)): return p == q
        case let (.fixedIndegree(k), .fixedIndegree(l)): return k == l
        case let (.list(x), .list(y)): return x.elementsEqual(y) { $0 == $1 }
        default: return false
        }
    }
}

/// How synaptic weights (mV) or delays (ms) are initialised.
public enum SynapseValues: Sendable, Equatable {
    case constant(Double)
    case uniform(Double, Double)
    /// Normal draws clipped to [min, max].
    case clippedNormal(mean: Double, sd: Double, min: Double, max: Double)
    /// One value per synapse, in connection order.
    case values([Double])
}

extension SynapseValues {
    /// The smallest and largest value these can produce.
    public var bounds: (lo: Double, hi: Double)? {
        switch self {
        case .constant(let x): return (x, x)
        case .uniform(let lo, let hi): return (lo, hi)
        case .clippedNormal(_, _, let lo, let hi): return (lo, hi)
        case .values(let xs): return xs.isEmpty ? nil : (xs.min()!, xs.max()!)
        }
    }
}

public struct ProjectionSpec: Sendable, Equatable {
    public var name: String
    public var source: String
    public var target: String
    public var variable: TargetVariable
    public var rule: ConnectionRule
    /// Brian2's `i != j`.
    public var excludeSelf: Bool
    public var weight: SynapseValues
    public var delay: SynapseValues
    /// How the weights change with activity; nil: they never do.
    public var plasticity: Plasticity?

    public init(name: String? = nil, source: String, target: String, variable: TargetVariable,
                rule: ConnectionRule, excludeSelf: Bool = false,
                weight: SynapseValues, delay: SynapseValues = .constant(0), plasticity: Plasticity? = nil) {
        self.plasticity = plasticity
        self.name = name ?? "\(source)->\(target)"
        self.source = source
        self.target = target
        self.variable = variable
        self.rule = rule
        self.excludeSelf = excludeSelf
        self.weight = weight
        self.delay = delay
    }
}

/// What building a network will take, estimated from its specification
/// alone, so that a network too large for the machine is refused with the
/// numbers before anything is allocated.
public struct NetworkSizeEstimate: Sendable, Equatable {
    public var neurons: Double
    /// Expected synapses (fixed_probability counts its mean).
    public var synapses: Double
    /// Expected synapses of plastic projections (counted in `synapses` too).
    public var plasticSynapses: Double = 0
    public var precision: Precision = .float32
    /// Heap bytes: about `bytesPerNeuron` each neuron, `bytesPerSynapse` each
    /// synapse, `bytesPerPlasticSynapse` more each plastic one.
    public var bytes: Double {
        neurons * bytesPerNeuron + synapses * bytesPerSynapse + plasticSynapses * bytesPerPlasticSynapse
    }

    private var wide: Bool { precision == .float64 }
    /// State, parameters, spike and delay buffers of a neuron (rounded up);
    /// float64 doubles the state and the refractory counters.
    public var bytesPerNeuron: Double { wide ? 112 : 64 }
    /// Weight, target index and delay of a synapse, plus the per-source offsets (rounded up).
    public var bytesPerSynapse: Double { wide ? 14 : 10 }
    /// What a plastic synapse adds at most: its weight even when all start
    /// equal (4; 8 in float64), the by-target index (8), a presynaptic trace
    /// and its last update step (12; 16), and reward_stdp's eligibility with
    /// the step it was last brought up to (12).
    public var bytesPerPlasticSynapse: Double { wide ? 44 : 36 }
}

extension NetworkSpec {
    public var sizeEstimate: NetworkSizeEstimate {
        let sizes = Dictionary(populations.map { ($0.name, Double($0.size)) }, uniquingKeysWith: { a, _ in a })
        var synapses = 0.0, plastic = 0.0
        for p in projections {
            let before = synapses
            let pre = sizes[p.source] ?? 0, post = sizes[p.target] ?? 0
            let pairs = pre * post - (p.excludeSelf && p.source == p.target ? pre : 0)
            switch p.rule {
            case .allToAll: synapses += pairs
            case .oneToOne: synapses += min(pre, post)
            case .fixedProbability(let q): synapses += pairs * q
            case .fixedIndegree(let k): synapses += post * Double(k)
            case .list(let pairs): synapses += Double(pairs.count)
            }
            if p.plasticity != nil { plastic += synapses - before }
        }
        return NetworkSizeEstimate(neurons: sizes.values.reduce(0, +), synapses: synapses, plasticSynapses: plastic,
                                   precision: precision)
    }
}
