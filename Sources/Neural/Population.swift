/// What the network's step needs from a population. Dispatch through this
/// protocol happens once per population and phase, never per neuron.
protocol PopulationDynamics: AnyObject {
    var name: String { get }
    var size: Int { get }
    /// Spikes emitted in the current step (valid from the threshold phase on).
    var spikes: SpikeList { get }

    /// Phases 1 and 2: state update, then threshold. Fused into one pass per
    /// population, which is equivalent because neither reads another population.
    func updateAndThreshold(step: Int64)
    /// Phase 3, second half: add the delayed input due in this step.
    func deliverDelayed(step: Int64)
    /// Phase 4: reset the neurons that spiked in this step.
    func resetSpiked()
    /// Whether phases 3b and 4 have anything to do for this population; the
    /// step skips the call otherwise (a small network's tick is mostly calls).
    var receivesDelayed: Bool { get }
    var resetsAfterSpike: Bool { get }

    /// Probe access by variable name (`v`, `g_e`, `g_i`, `u`), outside the step.
    func value(of variable: String, neuron: Int) -> Double?
    var probeableVariables: [String] { get }
    /// Back to the state right after the network was built.
    func restoreInitialState()
    /// Values that layers read instead of spikes (an `analog_input`, a layer
    /// without spikes); nil for populations whose output is their spikes.
    var analogOutput: UnsafePointer<Float>? { get }
    /// A LIF population's `v_rest + R·I_ext` and initial `v` per neuron, as
    /// built (drawn values included); nil for other models.
    var restingState: (rest: [Double], v: [Double])? { get }
}

extension PopulationDynamics {
    var analogOutput: UnsafePointer<Float>? { nil }
    var restingState: (rest: [Double], v: [Double])? { nil }
}

/// A population that projections add into, computing in `Scalar`.
protocol SynapseHost<Scalar>: PopulationDynamics {
    associatedtype Scalar: NeuralScalar
    func synapticTarget(_ variable: TargetVariable) -> SynapticTarget<Scalar>?
    /// Gives the variable a delay ring; called while the network is built.
    func attachRing(_ ring: DelayRing<Scalar>, to variable: TargetVariable)
}

/// Where a projection adds its weights: the postsynaptic variable, the
/// refractory counters that gate direct `v` increments, and the delay ring.
struct SynapticTarget<S: NeuralScalar> {
    let variable: UnsafeMutablePointer<S>
    /// Non-nil for `v` of a model with refractoriness: increments are dropped
    /// while the counter is non-zero.
    let refractory: UnsafeMutablePointer<S>?
    let ring: DelayRing<S>?
}

/// Accumulates delayed synaptic input: slot `s % length` holds what arrives in step `s`.
final class DelayRing<S: NeuralScalar> {
    let length: Int
    let width: Int
    private let slots: StateBuffer<S>
    private let dirty: StateBuffer<UInt8>

    init(maxDelaySteps: Int, width: Int) {
        length = maxDelaySteps + 1
        self.width = width
        slots = StateBuffer(count: length * width, filling: 0)
        dirty = StateBuffer(count: length, filling: 0)
    }

    @inline(__always)
    func slot(forStep step: Int64) -> UnsafeMutablePointer<S> {
        let s = Int(step % Int64(length))
        dirty[s] = 1
        return slots.base + s * width
    }

    /// Adds the slot due in `step` to `variable` (skipping refractory neurons
    /// when `refractory` is given) and clears it.
    func drain(step: Int64, into variable: UnsafeMutablePointer<S>,
               refractory: UnsafeMutablePointer<S>?, count: Int) {
        let s = Int(step % Int64(length))
        guard dirty[s] != 0 else { return }
        dirty[s] = 0
        let slot = slots.base + s * width
        if let refractory {
            for j in 0..<count where refractory[j] == 0 { variable[j] += slot[j] }
        } else {
            for j in 0..<count { variable[j] += slot[j] }
        }
        slot.update(repeating: 0, count: count)
    }

    func clear() {
        slots.fill(0)
        dirty.fill(0)
    }
}
