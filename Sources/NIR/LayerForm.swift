import Neural
#if canImport(Glibc)
import Glibc
#endif

/// A hand-built network (`lif` populations joined by projections) as layers,
/// the form NIR can hold and ``NIRExport`` writes.
///
/// NIR's frameworks step by forward Euler; a `lif` population is integrated
/// exactly. The layers are chosen so that one Euler step at the network's
/// `dt` is the exact step (docs/nir.md, "Export of hand-built networks"):
/// - a `lif` population becomes a `lif` layer with `τ' = dt/(1 − β)`,
///   `β = e^(−dt/τ_m)`, and `r = 1/(1 − β)`, so its Euler step is
///   `v ← β·v + (1 − β)·rest + I`: the leak is exact and a weight is the jump
///   it gives `v`, as in the network file; voltages count from `v_rest`, so
///   that NIR's start at 0 is the rest;
/// - each current synapse (`g_e`, `g_i`) a leaky integrator made the same
///   way (it decays exactly and a weight adds to it), read by the membrane
///   with the exact propagator as weight;
/// - a delay of d ≥ 1 steps a `delay` layer of `d·dt` per target and delay.
///
/// What NIR cannot say is listed in ``Result/approximations``; what it
/// refuses (Izhikevich, conductances) throws.
public enum LayerForm {
    public struct Result {
        public var network: NetworkSpec
        /// One line per thing the layers do differently from the network.
        public var approximations: [String]
        /// The populations that feed no other population (their own synapse and
        /// delay layers aside): each gets an `Output` (``NIRExport`` gives the
        /// last layer one if there is none).
        public var outputs: Set<String>
    }

    public static func layers(of network: Network, file: String) throws(NIRError) -> Result {
        let spec = network.spec
        let dt = network.dt
        var notes: [String] = []
        var names = NodeNames(taken: spec.populations.map(\.name))
        func fresh(_ base: String) -> String { names.fresh(base) }
        func refuse(_ message: String) -> NIRError { NIRError(file: file, message + "; nothing was exported") }

        // The synapses into each (population, variable), grouped by delay.
        var arriving: [String: [TargetVariable: [Int: [LayerInput]]]] = [:]
        for (k, q) in spec.projections.enumerated() {
            guard let source = spec.populations.first(where: { $0.name == q.source }) else { continue }
            if let rule = q.plasticity {
                let kind = if case .stdp = rule { "stdp" } else { "reward_stdp" }
                notes.append("projection '\(q.name)' learns (\(kind)); its weights are exported as they are now: NIR has no learning rule")
            }
            let pairs = network.connections(ofProjection: k)
            let weights = network.weights(ofProjection: k)
            let delays = network.delaySteps(ofProjection: k)
            var byDelay: [Int: LayerInput] = [:]
            for s in pairs.indices {
                byDelay[delays[s], default: LayerInput(source: q.source, sourceSize: source.size, rows: [], columns: [], weights: [])]
                    .append(row: pairs[s].post, column: pairs[s].pre, weight: weights[s])
            }
            for (d, input) in byDelay { arriving[q.target, default: [:]][q.variable, default: [:]][d, default: []].append(input) }
        }

        var populations: [PopulationSpec] = []
        let feeding = Set(spec.projections.filter { $0.source != $0.target }.map(\.source))
        var outputs = Set<String>()
        /// Inputs of `variable` in `target`: the undelayed ones, and one delay layer per delay.
        func inputs(_ target: String, _ variable: TargetVariable, size: Int) -> [LayerInput] {
            var result: [LayerInput] = []
            for (d, group) in (arriving[target]?[variable] ?? [:]).sorted(by: { $0.key < $1.key }) {
                if d == 0 { result += group; continue }
                let name = fresh("\(target).\(variable.rawValue).delay\(d)")
                populations.append(PopulationSpec(name: name, size: size, model: .layer(
                    LayerSpec(kind: .delay, delay: Array(repeating: Double(d) * dt, count: size), inputs: group))))
                result.append(.identity(from: name, size: size))
            }
            return result
        }

        for (index, p) in spec.populations.enumerated() {
            switch p.model {
            case .input, .poisson, .analogInput, .layer:
                populations.append(p)
            case .spikeTimes:
                notes.append("population '\(p.name)' (spike_times) becomes an Input: its times are not in NIR; they come from outside (encoders, simulate --input-values)")
                populations.append(PopulationSpec(name: p.name, size: p.size, model: .input))
            case .izhikevich:
                throw refuse("population '\(p.name)' is an izhikevich population: NIR has no quadratic neuron (its neuron nodes are LIF, CubaLIF, IF, LI, CubaLI, I, Threshold)")
            case .lif(let params):
                if params.conductanceBased {
                    throw refuse("population '\(p.name)' has conductance-based synapses (e_e/e_i): NIR's neuron nodes take currents only; export it with current synapses (no e_e, e_i)")
                }
                let n = p.size
                guard let state = network.restingState(ofPopulation: index) else { continue }
                let refractory = (params.tRef / dt).rounded()
                if refractory >= 2 {
                    notes.append("population '\(p.name)': t_ref \(params.tRef) ms is dropped (v held \(Int(refractory) - 1) step(s) after a spike): NIR has no refractory period")
                }
                let beta = params.membraneDecay(dt: dt)
                var membrane = inputs(p.name, .v, size: n)
                for (variable, tau) in [(TargetVariable.ge, params.tauE), (.gi, params.tauI)] {
                    guard let tau, arriving[p.name]?[variable] != nil else { continue }
                    let alpha = exp(-dt / tau)
                    let synapse = inputs(p.name, variable, size: n)
                    let name = fresh("\(p.name).\(variable.rawValue)")
                    populations.append(PopulationSpec(name: name, size: n, model: .layer(LayerSpec(
                        kind: .leakyIntegrator, tauMem: Array(repeating: dt / (1 - alpha), count: n),
                        r: Array(repeating: 1 / (1 - alpha), count: n), vLeak: Array(repeating: 0, count: n), inputs: synapse))))
                    membrane.append(.identity(from: name, size: n, weight: Float(params.coupling(synapseTau: tau, dt: dt))))
                }
                if !feeding.contains(p.name) { outputs.insert(p.name) }
                // Voltages from v_rest, so that NIR's start at 0 is the population's rest.
                let initial = state.v.map { $0 - params.vRest }
                populations.append(PopulationSpec(name: p.name, size: n, model: .layer(LayerSpec(
                    kind: .lif, tauMem: Array(repeating: dt / (1 - beta), count: n), r: Array(repeating: 1 / (1 - beta), count: n),
                    vLeak: state.rest.map { $0 - params.vRest }, vThreshold: Array(repeating: params.vThreshold - params.vRest, count: n),
                    vReset: Array(repeating: params.vReset - params.vRest, count: n),
                    vInitial: initial.allSatisfy { $0 == 0 } ? [] : initial, inputs: membrane))))
            }
        }
        if !spec.rewards.isEmpty { notes.append("the network's rewards (rewards:) are dropped: NIR has no reward") }
        var layers = spec
        layers.populations = populations
        layers.projections = []
        layers.rewards = []
        return Result(network: layers, approximations: notes, outputs: outputs)
    }
}

extension LayerInput {
    /// `x` from `source` into the neuron of the same index, times `weight`.
    static func identity(from source: String, size: Int, weight: Float = 1) -> LayerInput {
        LayerInput(source: source, sourceSize: size, rows: (0..<size).map { UInt32($0) },
                   columns: (0..<size).map { UInt32($0) }, weights: Array(repeating: weight, count: size))
    }

    mutating func append(row: Int, column: Int, weight: Float) {
        rows.append(UInt32(row))
        columns.append(UInt32(column))
        weights.append(weight)
    }
}

/// Names for new nodes that no population or earlier node has.
struct NodeNames {
    private var taken: Set<String>
    init(taken: [String]) { self.taken = Set(taken) }

    /// `base`, or `base2`, `base3`, … if it is taken.
    mutating func fresh(_ base: String) -> String {
        var name = base, k = 1
        while taken.contains(name) { k += 1; name = "\(base)\(k)" }
        taken.insert(name)
        return name
    }
}
