/// A built network: preallocated state for every population and projection,
/// advanced one `dt` at a time by `step()`.
///
/// ## The schedule of one step
///
/// The same order as Brian2's default schedule, so results can be checked
/// against it spike for spike:
///
/// 1. **State update** of every population, exact for linear models; `v` of a
///    refractory neuron is left as it is.
/// 2. **Threshold**: a non-refractory neuron with `v > v_threshold` spikes; the
///    spike belongs to this step (time `t = step · dt`) and the neuron is
///    refractory from this moment.
/// 3. **Synaptic propagation**: each spike is delivered `round(delay / dt)`
///    steps later, a zero delay in this same step; then the delayed input due
///    now is added. Direct increments of a refractory neuron's `v` are dropped.
///    A plastic projection delivers each arrival at its current weight and
///    then updates it from the postsynaptic trace (Brian2's `on_pre`); after
///    every projection has delivered, the spikes of this step's targets update
///    the synapses onto them (Brian2's `on_post`, which runs after all `on_pre`).
/// 4. **Reset** of the neurons that spiked, which then stay refractory for
///    `round(t_ref / dt)` steps.
///
/// Phases 1 and 2 run fused, population by population: neither reads another
/// population's state, so this equals running them one after the other.
///
/// `step()` allocates nothing, takes no locks and dispatches once per
/// population and projection, never per neuron.
public final class Network {
    public let spec: NetworkSpec
    /// ms.
    public let dt: Double
    /// Steps done since the start (or the last `restoreInitialState()`); time is derived from it.
    public private(set) var stepIndex: Int64 = 0

    let populations: [any PopulationDynamics]
    let projections: [any ProjectionDynamics]
    /// The populations again and the projections, for the step and the
    /// readers of its spikes (no reference counting).
    private let populationTable: ObjectTable<PopulationHandle>
    private let projectionTable: ObjectTable<ProjectionHandle>
    /// The projections whose weights learn from their targets' spikes (phase 3c).
    private let plasticTable: ObjectTable<ProjectionHandle>
    private let rewardedTable: ObjectTable<ProjectionHandle>
    /// The populations that phases 3b and 4 have work for.
    private let deliveringTable: ObjectTable<PopulationHandle>
    private let resettingTable: ObjectTable<PopulationHandle>
    /// Rewards earned by the network's own spikes.
    private let pairingRewards: ObjectTable<SpikePairingReward>

    public init(_ spec: NetworkSpec) throws(NetworkBuildError) {
        self.spec = spec
        dt = spec.dt
        guard dt > 0, dt.isFinite else { throw NetworkBuildError("dt must be a positive time, got \(dt) ms") }
        var seen = Set<String>()
        var built: [any PopulationDynamics] = []
        for p in spec.populations {
            guard seen.insert(p.name).inserted else { throw NetworkBuildError("population '\(p.name)' is defined twice") }
            guard p.size > 0 else { throw NetworkBuildError("population '\(p.name)': size must be ≥ 1, got \(p.size)") }
            var rng = RandomSource(seed: spec.seed, stream: "population/\(p.name)")
            // The LIF kernel finds spikes among refractory neurons too: they hold v_reset.
            if case .lif(let params) = p.model, params.vReset > params.vThreshold {
                throw NetworkBuildError("population '\(p.name)': v_reset \(params.vReset) mV is above v_threshold \(params.vThreshold) mV; it must not be (the neuron would fire again whenever its refractory period ends, whatever its input)")
            }
            switch (p.model, spec.precision) {
            case (.lif(let params), .float32):
                built.append(LIFPopulation<Float>(name: p.name, size: p.size, parameters: params, dt: dt, rng: &rng))
            case (.lif(let params), .float64):
                built.append(LIFPopulation<Double>(name: p.name, size: p.size, parameters: params, dt: dt, rng: &rng))
            case (.izhikevich(let params), .float32):
                built.append(IzhikevichPopulation<Float>(name: p.name, size: p.size, parameters: params, dt: dt, seed: spec.seed, rng: &rng))
            case (.izhikevich(let params), .float64):
                built.append(IzhikevichPopulation<Double>(name: p.name, size: p.size, parameters: params, dt: dt, seed: spec.seed, rng: &rng))
            case (.poisson(let rates), _):
                built.append(PoissonSource(name: p.name, size: p.size, rates: rates, dt: dt, seed: spec.seed, rng: &rng))
            case (.spikeTimes(let times), _):
                built.append(SpikeTimesSource(name: p.name, times: times, dt: dt))
            case (.input, _):
                built.append(InputSource(name: p.name, size: p.size))
            case (.analogInput, _):
                built.append(AnalogInput(name: p.name, size: p.size))
            case (.layer(let layer), _):
                let problems = layer.problems(size: p.size)
                guard problems.isEmpty else {
                    throw NetworkBuildError("population '\(p.name)': \(problems.joined(separator: "; "))")
                }
                if layer.kind == .delay {
                    // The line holds (longest delay + 1) steps of every element.
                    let longest = (layer.delay.max() ?? 0) / dt
                    guard (longest.rounded() + 1) * Double(p.size) <= Double(1 << 28) else {
                        throw NetworkBuildError("population '\(p.name)': a delay of \(layer.delay.max()!) ms over \(p.size) elements needs more than 2^28 stored values; too large to run")
                    }
                    built.append(DelayLayer(name: p.name, size: p.size, spec: layer, dt: dt))
                } else {
                    built.append(LayerPopulation(name: p.name, size: p.size, spec: layer, dt: dt))
                }
            }
        }
        for case let layer as any LayerBinding in built {
            var sources: [any PopulationDynamics] = []
            for input in layer.spec.inputs {
                guard let source = built.first(where: { $0.name == input.source }) else {
                    throw NetworkBuildError("population '\(layer.name)': input from '\(input.source)', which is no population")
                }
                guard source.size == input.sourceSize else {
                    throw NetworkBuildError("population '\(layer.name)': input from '\(input.source)' has \(input.sourceSize) columns; '\(input.source)' has \(source.size) neurons")
                }
                sources.append(source)
            }
            layer.bind(sources)
        }
        populations = built
        populationTable = ObjectTable(built.map(PopulationHandle.init))

        let made = switch spec.precision {
        case .float32: try Self.connect(Float.self, spec, populations)
        case .float64: try Self.connect(Double.self, spec, populations)
        }
        projections = made
        projectionTable = ObjectTable(made.map(ProjectionHandle.init))
        plasticTable = ObjectTable(projectionTable.objects.filter(\.projection.isPlastic))
        rewardedTable = ObjectTable(projectionTable.objects.filter(\.projection.isRewarded))
        deliveringTable = ObjectTable(populationTable.objects.filter { $0.population.receivesDelayed })
        resettingTable = ObjectTable(populationTable.objects.filter { $0.population.resetsAfterSpike })
        var rules: [SpikePairingReward] = []
        for (k, r) in spec.rewards.enumerated() {
            rules.append(try SpikePairingReward(r, index: k, dt: dt, seed: spec.seed, populations: built))
        }
        if !rules.isEmpty && rewardedTable.count == 0 {
            throw NetworkBuildError("rewards: no projection learns from rewards; give one `plasticity: {rule: reward_stdp, ...}`")
        }
        pairingRewards = ObjectTable(rules)
    }

    /// Builds the projections in the populations' scalar, gives each target
    /// variable a delay ring long enough for its largest delay, and binds.
    private static func connect<S: NeuralScalar>(_: S.Type, _ spec: NetworkSpec, _ populations: [any PopulationDynamics])
        throws(NetworkBuildError) -> [any ProjectionDynamics] {
        let dt = spec.dt
        var made: [Projection<S>] = []
        for q in spec.projections {
            guard let s = spec.populations.firstIndex(where: { $0.name == q.source }) else {
                throw NetworkBuildError("projection '\(q.name)': no population named '\(q.source)'")
            }
            guard let t = spec.populations.firstIndex(where: { $0.name == q.target }) else {
                throw NetworkBuildError("projection '\(q.name)': no population named '\(q.target)'")
            }
            let model = spec.populations[t].model
            guard model.targets.contains(q.variable) else {
                throw NetworkBuildError("projection '\(q.name)': a \(model.name) population has no target '\(q.variable.rawValue)'; valid: \(model.targets.map(\.rawValue))")
            }
            guard let host = populations[t] as? any SynapseHost<S>, host.synapticTarget(q.variable) != nil else {
                throw NetworkBuildError("projection '\(q.name)': target '\(q.variable.rawValue)' of '\(q.target)' needs \(q.variable == .ge ? "tau_e" : "tau_i")")
            }
            made.append(try Projection<S>(spec: q, sourceIndex: s, targetIndex: t,
                                       preCount: populations[s].size, postCount: populations[t].size,
                                       dt: dt, seed: spec.seed))
        }
        for (t, population) in populations.enumerated() {
            guard let host = population as? any SynapseHost<S> else { continue }
            for variable in TargetVariable.allCases {
                let longest = made.filter { $0.targetIndex == t && $0.variable == variable }
                    .map(\.ringDelaySteps).max() ?? 0
                if longest > 0 { host.attachRing(DelayRing<S>(maxDelaySteps: longest, width: population.size), to: variable) }
            }
        }
        for q in made { q.bind((populations[q.targetIndex] as! any SynapseHost<S>).synapticTarget(q.variable)!) }
        return made
    }

    /// Advances the network by one `dt` (see the schedule above).
    public func step() {
        let k = stepIndex
        let populations = populationTable
        if pairingRewards.count > 0 {
            var due = 0.0
            pairingRewards.forEach { due += $0.take(step: k) }
            if due != 0 { reward(due) }
        }
        populations.forEach { $0.updateAndThreshold(step: k) }
        projectionTable.forEach { q in q.propagate(populations.with(q.source) { $0.spikes }, step: k) }
        plasticTable.forEach { q in q.learnFromTargetSpikes(populations.with(q.target) { $0.spikes }, step: k) }
        deliveringTable.forEach { $0.deliverDelayed(step: k) }
        resettingTable.forEach { $0.resetSpiked() }
        pairingRewards.forEach { $0.observe(step: k) { p in populations.with(p) { $0.spikes } } }
        stepIndex = k + 1
    }

    /// Time at the start of the next step, ms.
    public var time: Double { Double(stepIndex) * dt }

    /// Back to the state right after building: same initial values, same random streams.
    /// Weights are parameters, not state: weights set since building are kept.
    public func restoreInitialState() {
        for p in populations { p.restoreInitialState() }
        for q in projections { q.restoreInitialState() }
        for r in pairingRewards.objects { r.restoreInitialState() }
        stepIndex = 0
    }

    // MARK: - Inputs (handles taken once, used every step)

    /// Writes spikes into an `input` population; nil for other models.
    public func spikeInput(population index: Int) -> SpikeInput? {
        (populations[index] as? InputSource).map(SpikeInput.init)
    }

    /// Sets the injected current of a `lif` population or the values of an
    /// `analog_input`; nil for other models.
    public func currentInput(population index: Int) -> CurrentInput? {
        CurrentInput(populations[index])
    }

    /// Sets the rates of a `poisson` population; nil for other models.
    public func rateInput(population index: Int) -> RateInput? {
        (populations[index] as? PoissonSource).map { RateInput(source: $0, dt: dt) }
    }

    // MARK: - Inspection (outside the step)

    public var populationNames: [String] { populations.map(\.name) }
    public func populationIndex(named name: String) -> Int? { populations.firstIndex { $0.name == name } }
    public func size(ofPopulation index: Int) -> Int { populations[index].size }

    /// Spikes of a population in the step just done.
    public func spikes(ofPopulation index: Int) -> SpikeList { populationTable.with(index) { $0.spikes } }

    public func value(population: Int, variable: String, neuron: Int) -> Double? {
        populations[population].value(of: variable, neuron: neuron)
    }

    public func probeableVariables(ofPopulation index: Int) -> [String] { populations[index].probeableVariables }
    /// A LIF population's `v_rest + R·I_ext` and initial `v` per neuron, mV, as
    /// built (values drawn from the seed included); nil for other models.
    public func restingState(ofPopulation index: Int) -> (rest: [Double], v: [Double])? { populations[index].restingState }

    public var neuronCount: Int { populations.reduce(0) { $0 + $1.size } }
    public var synapseCount: Int { projections.reduce(0) { $0 + $1.synapseCount } }
    /// Entries of layers' input weights (`model: layer`): the connections of imported,
    /// converted and generated layer networks, which are not projections.
    public var layerWeightCount: Int {
        populations.reduce(0) { n, p in n + ((p as? LayerPopulation)?.spec.inputs.reduce(0) { $0 + $1.weights.count } ?? 0) }
    }
    /// "N synapses", and the layers' input weights when there are any: a
    /// network of layers (NIR, converted ANNs) has weights but no projections.
    public var connectionsDescription: String {
        let layerWeights = layerWeightCount
        return "\(synapseCount) synapses" + (layerWeights > 0 ? " and \(layerWeights) layer weights" : "")
    }
    /// Synapses of projections whose weights learn.
    public var plasticSynapseCount: Int { projections.filter(\.isPlastic).reduce(0) { $0 + $1.synapseCount } }

    // MARK: - Learning (between steps)

    /// Delivers a reward to every `reward_stdp` projection before the next
    /// step (docs/plasticity.md). Allocates nothing.
    public func reward(_ r: Double) {
        rewardedTable.forEach { $0.projection.reward(r) }
    }

    /// Rewards the network's own spikes earned (`rewards:` in the network
    /// file) and those delivered so far.
    public var earnedRewards: (earned: Int, delivered: Int) {
        pairingRewards.objects.reduce((0, 0)) { ($0.0 + $1.earned, $0.1 + $1.delivered) }
    }

    /// Scales every plastic projection's weight changes (1: as written in the
    /// network file; 0: frozen, traces still run). Allocates nothing.
    public var learningRate: Float {
        get { plasticTable.count > 0 ? plasticTable.with(0) { $0.projection.learningRate } : 0 }
        set { plasticTable.forEach { $0.projection.learningRate = newValue } }
    }

    /// Synapse storage, bytes per synapse over all projections.
    public var bytesPerSynapse: Double {
        let n = synapseCount
        guard n > 0 else { return 0 }
        return projections.reduce(0) { $0 + $1.bytesPerSynapse * Double($1.synapseCount) } / Double(n)
    }

    public var projectionNames: [String] { projections.map(\.name) }
    public func projectionIndex(named name: String) -> Int? { projections.firstIndex { $0.name == name } }
    /// The CSR index of the first synapse from `pre` to `post` in a projection.
    public func synapse(ofProjection index: Int, pre: Int, post: Int) -> Int? { projections[index].synapse(pre: pre, post: post) }
    public func synapseVariables(ofProjection index: Int) -> [String] { projections[index].synapseVariables }
    /// `w` or (reward_stdp) `c` of one synapse, outside the step.
    public func value(projection: Int, variable: String, synapse: Int) -> Double? {
        projections[projection].value(of: variable, synapse: synapse)
    }
    public func weights(ofProjection index: Int) -> [Float] { projections[index].weightValues }
    public func connections(ofProjection index: Int) -> [(pre: Int, post: Int)] { projections[index].connections }
    /// Each synapse's delay in whole steps, in CSR order.
    public func delaySteps(ofProjection index: Int) -> [Int] { projections[index].delaySteps }
    public func synapseCount(ofProjection index: Int) -> Int { projections[index].synapseCount }
    public func preCount(ofProjection index: Int) -> Int { projections[index].preCount }
    public func postCount(ofProjection index: Int) -> Int { projections[index].postCount }

    /// (pre, post) of each synapse in CSR order, without building an array
    /// (connectivity hashes of large networks).
    public func forEachConnection(ofProjection index: Int, _ body: (_ pre: UInt32, _ post: UInt32) -> Void) {
        projections[index].forEachConnection(body)
    }

    // MARK: - Weights (parameters, not state: `restoreInitialState()` keeps them)

    /// Replaces the weights of a projection, in CSR order (the order of
    /// `weights(ofProjection:)`). Between steps only; may allocate.
    public func setWeights(ofProjection index: Int, _ values: [Float]) throws(WeightError) {
        install(try prepareWeights(ofProjection: index, values))
    }

    /// Checks `values` (count, finiteness) and copies them into storage the
    /// step can use. Reads nothing the step writes, so another thread may
    /// prepare while the network runs; `install` then takes them.
    public func prepareWeights(ofProjection index: Int, _ values: [Float]) throws(WeightError) -> PreparedWeights {
        guard projections.indices.contains(index) else {
            throw WeightError("no projection \(index); the network has \(projections.count)")
        }
        return try projections[index].prepare(values, index: index)
    }

    /// Takes prepared weights, between steps, on the thread that steps the
    /// network. Allocates and frees nothing (tick boundaries of the daemon).
    public func install(_ prepared: PreparedWeights) {
        projectionTable.with(prepared.projection) { $0.install(prepared) }
    }

    /// Copies a projection's weights in CSR order into `destination` (at
    /// least its synapse count long) without allocating.
    public func copyWeights(ofProjection index: Int, into destination: UnsafeMutableBufferPointer<Float>) {
        projectionTable.with(index) { $0.copyWeights(into: destination) }
    }
}
