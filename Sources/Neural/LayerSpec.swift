/// A layer of a network trained elsewhere (a neuron node of a NIR graph),
/// with the dense inputs that feed it.
///
/// NIR's equations are continuous in time and its quantities have no units:
/// `v`, thresholds and currents are plain numbers, and time constants are in
/// seconds (here converted to ms, like every time of the engine). A layer is
/// stepped by forward Euler at the network's `dt`, the discretisation the
/// training frameworks use (docs/nir.md):
///
///     i ← i + dt/τ_syn · (w_in·I − i)              (cuba kinds; otherwise i = I)
///     v ← v + dt/τ_mem · (v_leak − v + r·i)        (leaky kinds)
///     v ← v + dt · r · i                            (if, integrator; dt in s)
///     z = v > v_threshold;  then v ← v_reset        (spiking kinds)
///
/// where `I` is the sum of the layer's inputs in this step: `W·x + b` over
/// every input, `x` the source's output as the layer reads it. Layers run in
/// the network's population order and read what their sources hold at that
/// moment, so an input from an earlier population carries this step's output
/// (no delay between layers) and one from a later population, or from the
/// layer itself, the previous step's (recurrent edges).
public struct LayerSpec: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// Leaky integrate-and-fire (NIR `LIF`).
        case lif
        /// Current-based LIF (NIR `CubaLIF`): a synaptic current between input and membrane.
        case cubaLIF = "cuba_lif"
        /// Integrate-and-fire without leak (NIR `IF`).
        case integrateAndFire = "if"
        /// Leaky integrator, no spikes; its output is `v` (NIR `LI`).
        case leakyIntegrator = "li"
        /// Current-based leaky integrator (NIR `CubaLI`).
        case cubaLI = "cuba_li"
        /// Pure integrator, output `v` (NIR `I`).
        case integrator
        /// Stateless `z = I > threshold` (NIR `Threshold`).
        case threshold
        /// Stateless `v = I`: a linear readout (an `Affine` that feeds an `Output`).
        case identity
        /// `v(t) = I(t − delay)`, per element, in whole steps (NIR `Delay`).
        case delay

        public var spikes: Bool { [.lif, .cubaLIF, .integrateAndFire, .threshold].contains(self) }
        public var hasCurrent: Bool { self == .cubaLIF || self == .cubaLI }
        public var leaks: Bool { [.lif, .cubaLIF, .leakyIntegrator, .cubaLI].contains(self) }
        /// Kinds whose `v` is state carried from step to step.
        public var hasMembrane: Bool { ![.threshold, .identity, .delay].contains(self) }
    }

    /// What a spike does to `v`.
    public enum Reset: String, Sendable, Equatable, CaseIterable {
        /// `v ← v_reset` in the spike's step (NIR's equations).
        case toReset = "to_v_reset"
        /// `v_threshold − v_reset` is subtracted in the next step's update, after
        /// the leak (snnTorch's default, `reset_mechanism="subtract"`).
        case subtract
        /// The next step's update is replaced by `v ← v_reset`: the input of
        /// that step is lost (snnTorch's `Synaptic`, `RLeaky` and `RSynaptic`
        /// with `reset_mechanism="zero"`; its `Leaky` follows `to_v_reset`).
        case toResetNextStep = "to_v_reset_next_step"
    }

    public var kind: Kind
    /// Membrane and synaptic time constants, ms, one per neuron (empty where the kind has none).
    public var tauMem: [Double]
    public var tauSyn: [Double]
    public var r: [Double]
    public var vLeak: [Double]
    public var vThreshold: [Double]
    public var vReset: [Double]
    public var wIn: [Double]
    /// ms, one per element (`delay` kind); rounded to whole steps.
    public var delay: [Double]
    /// `v` at the start and after each reset of the network's state, one per
    /// neuron; empty: 0, as the training frameworks start. A converted IF layer
    /// starts at half its threshold, so that spike counts round instead of
    /// truncating (docs/conversion.md).
    public var vInitial: [Double]
    public var reset: Reset
    public var inputs: [LayerInput]

    public init(kind: Kind, tauMem: [Double] = [], tauSyn: [Double] = [], r: [Double] = [],
                vLeak: [Double] = [], vThreshold: [Double] = [], vReset: [Double] = [], wIn: [Double] = [],
                delay: [Double] = [], vInitial: [Double] = [], reset: Reset = .toReset, inputs: [LayerInput] = []) {
        self.delay = delay
        self.vInitial = vInitial
        self.kind = kind
        self.tauMem = tauMem
        self.tauSyn = tauSyn
        self.r = r
        self.vLeak = vLeak
        self.vThreshold = vThreshold
        self.vReset = vReset
        self.wIn = wIn
        self.reset = reset
        self.inputs = inputs
    }

    /// Problems with the parameter arrays for a layer of `size` neurons, each
    /// naming the field; empty when the layer can be built.
    public func problems(size: Int) -> [String] {
        var found: [String] = []
        func need(_ values: [Double], _ field: String, positive: Bool = false) {
            if values.count != size {
                found.append("\(field): \(values.count) values for \(size) neurons")
            } else if let bad = values.firstIndex(where: { !$0.isFinite || (positive && $0 <= 0) }) {
                found.append("\(field)[\(bad)] = \(values[bad]): must be \(positive ? "positive and " : "")finite")
            }
        }
        if kind.leaks { need(tauMem, "tau_mem", positive: true); need(vLeak, "v_leak") }
        if kind.hasCurrent { need(tauSyn, "tau_syn", positive: true); need(wIn, "w_in") }
        if kind.hasMembrane { need(r, "r") }
        if kind == .delay {
            need(delay, "delay")
            if let bad = delay.firstIndex(where: { $0 < 0 }) { found.append("delay[\(bad)] = \(delay[bad]): must not be negative") }
        }
        if kind.spikes { need(vThreshold, "v_threshold") }
        if !vInitial.isEmpty {
            if kind.hasMembrane { need(vInitial, "v_initial") } else { found.append("v_initial: a \(kind.rawValue) layer has no membrane") }
        }
        if kind.spikes && kind != .threshold { need(vReset, "v_reset") }
        for input in inputs { found += input.problems(size: size) }
        return found
    }
}

/// An input of a layer: `W·x + b` from the output `x` of `source` (spikes
/// as 0/1, or the values of an `analog_input` or a layer without spikes).
/// `W` is given by its entries, so that a convolution stays as small as its
/// kernel; the engine stores it dense when most entries are present.
public struct LayerInput: Sendable, Equatable {
    public var source: String
    public var sourceSize: Int
    /// Entry `k` is `W[rows[k]][columns[k]] = weights[k]`; a pair may repeat (the entries add).
    public var rows: [UInt32]
    public var columns: [UInt32]
    public var weights: [Float]
    /// One per neuron of the layer, or empty.
    public var bias: [Float]

    public init(source: String, sourceSize: Int, rows: [UInt32], columns: [UInt32], weights: [Float], bias: [Float] = []) {
        self.source = source
        self.sourceSize = sourceSize
        self.rows = rows
        self.columns = columns
        self.weights = weights
        self.bias = bias
    }

    /// From a dense row-major `[layer size][source size]` matrix (NIR's `weight`).
    public init(source: String, dense: [Float], sourceSize: Int, bias: [Float] = []) {
        let count = dense.count
        self.init(source: source, sourceSize: sourceSize,
                  rows: (0..<count).map { UInt32($0 / max(sourceSize, 1)) },
                  columns: (0..<count).map { UInt32($0 % max(sourceSize, 1)) }, weights: dense, bias: bias)
    }

    func problems(size: Int) -> [String] {
        var found: [String] = []
        if rows.count != weights.count || columns.count != weights.count {
            found.append("input from '\(source)': \(rows.count) rows and \(columns.count) columns for \(weights.count) weights")
        } else if let bad = rows.indices.first(where: { Int(rows[$0]) >= size || Int(columns[$0]) >= sourceSize }) {
            found.append("input from '\(source)': entry (\(rows[bad]), \(columns[bad])) outside \(size)×\(sourceSize)")
        } else if let bad = weights.firstIndex(where: { !$0.isFinite }) {
            found.append("input from '\(source)': weight[\(rows[bad])][\(columns[bad])] = \(weights[bad]) is not finite")
        }
        if !bias.isEmpty && bias.count != size { found.append("input from '\(source)': \(bias.count) biases for \(size) neurons") }
        if let bad = bias.firstIndex(where: { !$0.isFinite }) {
            found.append("input from '\(source)': bias[\(bad)] = \(bias[bad]) is not finite")
        }
        return found
    }
}
