/// Handles through which encoders drive a network from the tick loop. Each is
/// taken once at start-up (no look-ups per step) and allocates nothing.

/// Spikes for the next step of an `input` population.
public struct SpikeInput {
    let source: InputSource
    public var size: Int { source.size }
    /// Queues a spike of `neuron` for the next `step()`.
    @inline(__always) public func fire(_ neuron: Int) { source.fire(neuron) }
}

/// What a current encoder drives: a `lif` population's injected current, or
/// the values of an `analog_input`.
protocol CurrentSink: PopulationDynamics {
    func inject(_ neuron: Int, nanoamps: Float)
}

/// Injected current of a `lif` population, nA, added to its `i_ext`; or the
/// value of an `analog_input` (the number, unitless). It stays until changed.
public struct CurrentInput {
    let population: any CurrentSink
    public var size: Int { population.size }
    @inline(__always) public func set(_ neuron: Int, nanoamps: Float) { population.inject(neuron, nanoamps: nanoamps) }
}

/// Firing rates of a `poisson` population, Hz; they stay until changed.
public struct RateInput {
    let source: PoissonSource
    let dt: Double
    public var size: Int { source.size }
    @inline(__always) public func set(_ neuron: Int, hertz: Float) { source.setRate(Double(hertz), neuron: neuron, dt: dt) }
}
