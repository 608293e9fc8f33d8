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
    private enum Sink {
        case lif32(LIFPopulation<Float>), lif64(LIFPopulation<Double>), analog(AnalogInput)
    }
    private let sink: Sink
    public let size: Int

    init?(_ population: any PopulationDynamics) {
        switch population {
        case let p as LIFPopulation<Float>: sink = .lif32(p)
        case let p as LIFPopulation<Double>: sink = .lif64(p)
        case let p as AnalogInput: sink = .analog(p)
        default: return nil
        }
        size = population.size
    }

    @inline(__always) public func set(_ neuron: Int, nanoamps: Float) {
        switch sink {
        case .lif32(let p): p.inject(neuron, nanoamps: nanoamps)
        case .lif64(let p): p.inject(neuron, nanoamps: nanoamps)
        case .analog(let p): p.inject(neuron, nanoamps: nanoamps)
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
