/// Handles through which encoders drive a network from the tick loop. Each is
/// taken once at start-up (no look-ups per step) and allocates nothing.

/// Spikes for the next step of an `input` population.
public struct SpikeInput {
    let source: InputSource
    public var size: Int { source.size }
    /// Queues a spike of `neuron` for the next `step()`.
    @inline(__always) public func fire(_ neuron: Int) { source.fire(neuron) }
}

/// Injected current of a `lif` population, nA, added to its `i_ext`; or the
/// value of an `analog_input` (the number, unitless). It stays until changed.
public struct CurrentInput {
    /// Concrete, as the step calls populations (see `PopulationHandle`).
    /// Unowned, so that a call retains nothing; `population` keeps it alive.
    private enum Sink {
        case lif32(Unmanaged<LIFPopulation<Float>>), lif64(Unmanaged<LIFPopulation<Double>>), analog(Unmanaged<AnalogInput>)
    }
    private let sink: Sink
    private let population: any PopulationDynamics
    public let size: Int

    init?(_ population: any PopulationDynamics) {
        switch population {
        case let p as LIFPopulation<Float>: sink = .lif32(.passUnretained(p))
        case let p as LIFPopulation<Double>: sink = .lif64(.passUnretained(p))
        case let p as AnalogInput: sink = .analog(.passUnretained(p))
        default: return nil
        }
        self.population = population
        size = population.size
    }

    @inline(__always) public func set(_ neuron: Int, nanoamps: Float) {
        switch sink {
        case .lif32(let p): p._withUnsafeGuaranteedRef { $0.inject(neuron, nanoamps: nanoamps) }
        case .lif64(let p): p._withUnsafeGuaranteedRef { $0.inject(neuron, nanoamps: nanoamps) }
        case .analog(let p): p._withUnsafeGuaranteedRef { $0.inject(neuron, nanoamps: nanoamps) }
        }
    }
}

/// Firing rates of a `poisson` population, Hz; they stay until changed.
public struct RateInput {
    let source: PoissonSource
    let dt: Double
    public var size: Int { source.size }
    @inline(__always) public func set(_ neuron: Int, hertz: Float) { source.setRate(Double(hertz), neuron: neuron, dt: dt) }
}
