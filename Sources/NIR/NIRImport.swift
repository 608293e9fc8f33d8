import Neural

/// Turns a NIR graph into a ``NetworkSpec``: every `Input` becomes an
/// `analog_input` population, every neuron node a `layer`, and the linear
/// nodes between them (`Affine`, `Linear`, `Scale`, `Flatten`) are composed
/// into the dense inputs of the layer they feed. An `Output` fed through a
/// linear node gets an `identity` layer of its own, so it can be read.
public struct NIRImport: Sendable {
    /// How the importer reads what the file leaves open.
    public struct Options: Sendable, Equatable {
        /// Step, ms. NIR's time constants are in seconds; snnTorch writes its
        /// files for 0.1 ms (`dt = 1e-4` s hard-coded in its exporter).
        public var dt: Double
        /// nil: each node's `metadata/reset` (spikeloop's export writes it), else `to_v_reset`.
        public var reset: LayerSpec.Reset?
        public var conventions: Conventions
        public var inputs: Inputs

        public init(dt: Double = 0.1, reset: LayerSpec.Reset? = nil, conventions: Conventions = .nir, inputs: Inputs = .values) {
            self.dt = dt
            self.reset = reset
            self.conventions = conventions
            self.inputs = inputs
        }
    }

    /// What an `Input` node receives from the encoders.
    public enum Inputs: String, Sendable, Equatable, CaseIterable {
        /// Numbers (an `analog_input`, driven by `current` encoders).
        case values
        /// Spikes, 1 in the step a neuron fires (an `input`, driven by spike encoders).
        case spikes
    }

    /// What the numbers in a file mean, which depends on who wrote it (docs/nir.md).
    public enum Conventions: String, Sendable, Equatable, CaseIterable {
        /// NIR's equations as written: time constants in seconds, forward Euler
        /// at `dt` (snnTorch's files, written for `dt = 0.1 ms`).
        case nir
        /// Norse 1.1's exporter: it writes `dt · τ` for each time constant, an
        /// input adds to the synaptic current at once (not through `dt/τ_syn`),
        /// and an IF neuron adds its input to `v`; run at the `dt` it was trained at.
        case norse
    }

    public static let neuronTypes = ["LIF", "CubaLIF", "IF", "LI", "CubaLI", "I", "Integrator", "Threshold"]
    public static let linearTypes = ["Affine", "Linear", "Scale", "Flatten", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d"]
    /// Nodes that become populations: they hold state (or, Input, are set from outside).
    static let stateTypes = ["Input", "Delay"] + neuronTypes
    public static let supportedTypes = ["Input", "Output", "Delay"] + neuronTypes + linearTypes

    /// The network, and which population each `Output` node reads.
    public var network: NetworkSpec
    /// `Input` node → its `analog_input` population (the same name).
    public var inputs: [String]
    /// `Output` node → the population that holds its values.
    public var outputs: [(node: String, population: String)]

    /// Imports `bytes`, the contents of the NIR file `path`.
    public init(bytes: [UInt8], path: String, options: Options = Options()) throws(NIRError) {
        try self.init(graph: NIRGraph.read(bytes: bytes, path: path), name: Self.networkName(path), options: options, file: path)
    }

    /// Files larger than this are refused before they are read (256 MiB).
    public static let maximumFileSize = 256 << 20

    static func networkName(_ path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        return base.hasSuffix(".nir") ? String(base.dropLast(4)) : base
    }

    public init(graph: NIRGraph, name: String, options: Options, file: String) throws(NIRError) {
        guard options.dt > 0, options.dt.isFinite else { throw NIRError(file: file, "dt must be a positive time, got \(options.dt) ms") }
        var builder = Builder(graph: graph, options: options, file: file)
        try builder.build()
        network = NetworkSpec(name: name, dt: options.dt, seed: 0, populations: builder.populations)
        inputs = builder.inputNames
        outputs = builder.outputs
    }
}

/// A linear map from one population's output, by rows: row `r` holds the
/// (column, weight) entries of output `r`. Sparse, so that a convolution
/// costs its kernel, not its dense matrix.
struct Path {
    var source: String
    var columns: Int
    var rows: [[(Int, Double)]]

    static func identity(_ source: String, size: Int) -> Path {
        Path(source: source, columns: size, rows: (0..<size).map { [($0, 1.0)] })
    }

    /// `W · self`, W given by its rows over this map's outputs; nil when the
    /// result would hold more than `maximumEntries` entries.
    func applying(_ w: [[(Int, Double)]]) -> Path? {
        var accumulator = [Double](repeating: 0, count: columns)
        var touched: [Int] = []
        var mark = [Bool](repeating: false, count: columns)
        var total = 0
        var out: [[(Int, Double)]] = []
        out.reserveCapacity(w.count)
        for entries in w {
            for (k, x) in entries where x != 0 {
                for (c, y) in rows[k] {
                    if !mark[c] { mark[c] = true; touched.append(c) }
                    accumulator[c] += x * y
                }
            }
            out.append(touched.sorted().map { ($0, accumulator[$0]) })
            total += touched.count
            for c in touched { accumulator[c] = 0; mark[c] = false }
            touched.removeAll(keepingCapacity: true)
            if total > maximumEntries { return nil }
        }
        return Path(source: source, columns: columns, rows: out)
    }
}

/// What flows out of a node: a sum of linear maps of populations, plus a
/// constant, and the shape NIR gives it (channels first, row-major).
struct Signal {
    var shape: [Int]
    var paths: [Path]
    var bias: [Double]
    var size: Int { bias.count }

    /// `W · self + b`; nil when a composed map grows beyond `maximumEntries`.
    func applying(_ w: [[(Int, Double)]], bias b: [Double]?, shape: [Int]) -> Signal? {
        let bias = w.enumerated().map { r, entries in entries.reduce(b?[r] ?? 0) { $0 + $1.1 * self.bias[$1.0] } }
        var composed: [Path] = []
        for p in paths {
            guard let q = p.applying(w) else { return nil }
            composed.append(q)
        }
        return Signal(shape: shape, paths: composed, bias: bias)
    }
}

private struct Builder {
    let graph: NIRGraph
    let options: NIRImport.Options
    let file: String
    var populations: [PopulationSpec] = []
    var inputNames: [String] = []
    var outputs: [(node: String, population: String)] = []
    private var predecessors: [String: [String]] = [:]
    private var shapes: [String: [Int]] = [:]
    private var signals: [String: Signal] = [:]
    private var resolving: Set<String> = []

    init(graph: NIRGraph, options: NIRImport.Options, file: String) {
        self.graph = graph
        self.options = options
        self.file = file
        for (from, to) in graph.edges { predecessors[to, default: []].append(from) }
    }

    func node(_ name: String) -> NIRNode { graph.nodes[name]! }

    mutating func build() throws(NIRError) {
        for n in graph.nodes.values.sorted(by: { $0.name < $1.name }) where !NIRImport.supportedTypes.contains(n.type) {
            throw n.error(nil, "type '\(n.type)' is not supported; supported: \(NIRImport.supportedTypes.joined(separator: ", "))")
        }
        let inputs = graph.nodes.values.filter { $0.type == "Input" }.map(\.name).sorted()
        guard !inputs.isEmpty else { throw NIRError(file: file, "the graph has no Input node") }
        for name in inputs where predecessors[name] != nil {
            throw node(name).error(nil, "an Input cannot have incoming edges (from \(predecessors[name]!.sorted()))")
        }
        // Populations in depth-first order from the inputs: every forward edge
        // goes from an earlier to a later population; the rest are recurrent.
        var successors: [String: [String]] = [:]
        for (from, to) in graph.edges { successors[from, default: []].append(to) }
        var order: [String] = []
        var visited: Set<String> = []
        func visit(_ name: String) {
            guard visited.insert(name).inserted else { return }
            for next in (successors[name] ?? []).sorted() { visit(next) }
            order.append(name)
        }
        for name in inputs { visit(name) }
        order.reverse()
        let unreached = graph.nodes.keys.filter { !visited.contains($0) }.sorted()
        guard unreached.isEmpty else {
            throw node(unreached[0]).error(nil, "is not reached from any Input")
        }

        for name in order where NIRImport.stateTypes.contains(node(name).type) {
            shapes[name] = try populationShape(node(name))
        }
        // A layer whose parameters are all scalars (Norse writes them so) has
        // the shape of what feeds it; in this order that is known already.
        for name in order where node(name).type != "Input" && shapes[name] == [1] {
            if let from = predecessors[name]?.sorted().first, let fed = try? signal(of: from) { shapes[name] = fed.shape }
        }
        signals.removeAll()  // built while shapes were still being found
        for name in order {
            let n = node(name)
            let size = shapes[name]?.reduce(1, *) ?? 0
            if n.type == "Input" {
                populations.append(PopulationSpec(name: name, size: size, model: options.inputs == .spikes ? .input : .analogInput))
                inputNames.append(name)
            } else if NIRImport.stateTypes.contains(n.type) {
                let input = try inputSignal(of: name, size: size)
                populations.append(PopulationSpec(name: name, size: size, model: .layer(try layer(n, input: input))))
            }
        }
        for name in order where node(name).type == "Output" {
            let feeding = predecessors[name] ?? []
            guard !feeding.isEmpty else { throw node(name).error(nil, "nothing feeds this Output") }
            if feeding.count == 1, shapes[feeding[0]] != nil, node(feeding[0]).type != "Input" {
                outputs.append((name, feeding[0]))
                continue
            }
            let size = try signal(of: feeding[0]).size
            let input = try inputSignal(of: name, size: size)
            guard populations.allSatisfy({ $0.name != name }) else {
                throw node(name).error(nil, "its name is taken by another population")
            }
            populations.append(PopulationSpec(name: name, size: size, model: .layer(LayerSpec(kind: .identity, inputs: layerInputs(input)))))
            outputs.append((name, name))
        }
        guard !outputs.isEmpty else { throw NIRError(file: file, "the graph has no Output node") }
    }

    /// The shape of a node with state: an Input's `shape`, else that of its
    /// largest parameter array (NIR gives every parameter the layer's shape).
    private func populationShape(_ n: NIRNode) throws(NIRError) -> [Int] {
        if n.type == "Input" {
            let (_, shape) = try n.numbers(n.has("shape") ? "shape" : "input_type")
            guard !shape.isEmpty, shape.allSatisfy({ $0 >= 1 && $0 <= 1e15 && $0 == $0.rounded() }) else {
                throw n.error("shape", "must list whole sizes of at least 1, got \(shape)")
            }
            let dims = shape.map { Int($0) }
            guard let count = elementCount(dims), count <= maximumPopulation else {
                throw n.error("shape", "\(dims) is too large to run (at most \(maximumPopulation) values)")
            }
            return dims
        }
        var best: [Int] = [1]
        for f in ["tau", "tau_mem", "tau_syn", "r", "v_threshold", "threshold", "v_leak", "delay"] where n.has(f) {
            let (shape, values) = try n.numbers(f)
            if values.count > best.reduce(1, *) { best = shape }
        }
        guard best.reduce(1, *) <= maximumPopulation else {
            throw n.error(nil, "\(best) neurons are too many to run (at most \(maximumPopulation))")
        }
        return best
    }

    /// The sum of everything that enters `name`, checked to have `size` values.
    private mutating func inputSignal(of name: String, size: Int) throws(NIRError) -> Signal {
        var total = Signal(shape: [size], paths: [], bias: Array(repeating: 0, count: size))
        for from in predecessors[name] ?? [] {
            let s = try signal(of: from)
            guard s.size == size else {
                throw node(name).error(nil, "receives \(s.size) values from '\(from)' but has \(size) neurons")
            }
            total.paths += s.paths
            for k in 0..<size { total.bias[k] += s.bias[k] }
        }
        return total
    }

    /// What leaves `name`: a population's output itself, or a linear node's map of its inputs.
    private mutating func signal(of name: String) throws(NIRError) -> Signal {
        if let shape = shapes[name] {
            let size = shape.reduce(1, *)
            return Signal(shape: shape, paths: [.identity(name, size: size)], bias: Array(repeating: 0, count: size))
        }
        if let done = signals[name] { return done }
        let n = node(name)
        guard NIRImport.linearTypes.contains(n.type) else {
            throw n.error(nil, "an \(n.type) cannot feed another node")
        }
        guard resolving.insert(name).inserted else {
            throw n.error(nil, "is on a cycle of linear nodes with no neuron layer in it (the recurrence has no state to step)")
        }
        defer { resolving.remove(name) }
        let feeding = predecessors[name] ?? []
        guard !feeding.isEmpty else { throw n.error(nil, "nothing feeds this node") }
        var inSize: Int?
        var total: Signal?
        for from in feeding {
            let s = try signal(of: from)
            if let inSize, inSize != s.size { throw n.error(nil, "its inputs differ in size (\(inSize) and \(s.size) from '\(from)')") }
            inSize = s.size
            if var t = total {
                t.paths += s.paths
                for k in 0..<t.size { t.bias[k] += s.bias[k] }
                total = t
            } else {
                total = s
            }
        }
        let result = try LinearNode(n).apply(to: total!)
        signals[name] = result
        return result
    }

    private func apply(_ w: [Double], rows: Int, columns: Int, to x: [Double]) -> [Double] {
        (0..<rows).map { r in (0..<columns).reduce(0.0) { $0 + w[r * columns + $1] * x[$1] } }
    }

    private func layerInputs(_ signal: Signal) -> [LayerInput] {
        var bySource: [String: (columns: Int, rows: [UInt32], cols: [UInt32], weights: [Float])] = [:]
        var order: [String] = []
        for p in signal.paths {
            if bySource[p.source] == nil { order.append(p.source); bySource[p.source] = (p.columns, [], [], []) }
            for (r, entries) in p.rows.enumerated() {
                for (c, w) in entries where w != 0 {
                    bySource[p.source]!.rows.append(UInt32(r))
                    bySource[p.source]!.cols.append(UInt32(c))
                    bySource[p.source]!.weights.append(Float(w))
                }
            }
        }
        var inputs = order.map { s in
            let m = bySource[s]!
            return LayerInput(source: s, sourceSize: m.columns, rows: m.rows, columns: m.cols, weights: m.weights)
        }
        if signal.bias.contains(where: { $0 != 0 }), !inputs.isEmpty { inputs[0].bias = signal.bias.map(Float.init) }
        return inputs
    }

    private func layer(_ n: NIRNode, input: Signal) throws(NIRError) -> LayerSpec {
        let size = input.size
        let norse = options.conventions == .norse
        let dtSeconds = options.dt / 1000
        func per(_ field: String) throws(NIRError) -> [Double] { try n.perNeuron(field, size: size) }
        /// A time constant in ms; Norse's files hold `dt · τ` (both in s).
        func seconds(_ field: String) throws(NIRError) -> [Double] {
            let tau = try per(field)
            if let bad = tau.firstIndex(where: { $0 <= 0 }) { throw n.error(field, "element \(bad) is \(tau[bad]); time constants must be positive") }
            return tau.map { norse ? $0 / dtSeconds * 1000 : $0 * 1000 }
        }
        /// `w_in`, so that an input adds `w_in · I` to the current at once under Norse's conventions.
        func inputWeights(_ tauSyn: [Double]) throws(NIRError) -> [Double] {
            let w = n.has("w_in") ? try per("w_in") : Array(repeating: 1, count: size)
            return norse ? zip(w, tauSyn).map { $0 * $1 / options.dt } : w
        }
        /// `r` of IF and I, so that Norse's `v += I` holds.
        func integratorGain() throws(NIRError) -> [Double] {
            try per("r").map { norse ? $0 / dtSeconds : $0 }
        }
        func resetValues() throws(NIRError) -> [Double] { n.has("v_reset") ? try per("v_reset") : Array(repeating: 0, count: size) }
        var spec: LayerSpec
        switch n.type {
        case "LIF":
            spec = LayerSpec(kind: .lif, tauMem: try seconds("tau"), r: try per("r"), vLeak: try per("v_leak"),
                             vThreshold: try per("v_threshold"), vReset: try resetValues())
        case "CubaLIF":
            let tauSyn = try seconds("tau_syn")
            spec = LayerSpec(kind: .cubaLIF, tauMem: try seconds("tau_mem"), tauSyn: tauSyn, r: try per("r"),
                             vLeak: try per("v_leak"), vThreshold: try per("v_threshold"), vReset: try resetValues(),
                             wIn: try inputWeights(tauSyn))
        case "IF":
            spec = LayerSpec(kind: .integrateAndFire, r: try integratorGain(), vThreshold: try per("v_threshold"), vReset: try resetValues())
        case "LI":
            spec = LayerSpec(kind: .leakyIntegrator, tauMem: try seconds("tau"), r: try per("r"), vLeak: try per("v_leak"))
        case "CubaLI":
            let tauSyn = try seconds("tau_syn")
            spec = LayerSpec(kind: .cubaLI, tauMem: try seconds("tau_mem"), tauSyn: tauSyn, r: try per("r"),
                             vLeak: try per("v_leak"), wIn: try inputWeights(tauSyn))
        case "I", "Integrator":
            spec = LayerSpec(kind: .integrator, r: try integratorGain())
        case "Delay":
            let delay = try per("delay")
            if let bad = delay.firstIndex(where: { $0 < 0 }) { throw n.error("delay", "element \(bad) is \(delay[bad]); delays cannot be negative") }
            spec = LayerSpec(kind: .delay, delay: delay.map { $0 * 1000 })
        default:  // Threshold
            spec = LayerSpec(kind: .threshold, vThreshold: try per("threshold"))
        }
        if let reset = options.reset {
            spec.reset = reset
        } else {
            spec.reset = try n.resetFromMetadata() ?? .toReset
        }
        spec.vInitial = try n.initialMembraneFromMetadata(size: size)
        if !spec.vInitial.isEmpty && !spec.kind.hasMembrane { throw n.error("metadata/v_initial", "a \(n.type) node has no membrane") }
        spec.inputs = layerInputs(input)
        if spec.inputs.isEmpty { throw n.error(nil, "nothing feeds this layer") }
        return spec
    }
}

extension NIRNode {
    /// `metadata/v_initial` (spikeloop's export writes it where `v` does not start at 0); empty when absent.
    func initialMembraneFromMetadata(size: Int) throws(NIRError) -> [Double] {
        guard case .group(let metadata)? = fields["metadata"], let field = metadata["v_initial"] else { return [] }
        guard case .numbers(let shape, let values) = field, values.count == size || values.count == 1 else {
            throw error("metadata/v_initial", "must be one number or one per neuron (\(size))")
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) { throw error("metadata/v_initial", "element \(bad) of shape \(shape) is \(values[bad]); must be finite") }
        return values.count == size ? values : Array(repeating: values[0], count: size)
    }

    /// `metadata/reset`, as spikeloop's export writes it.
    func resetFromMetadata() throws(NIRError) -> LayerSpec.Reset? {
        guard case .group(let metadata)? = fields["metadata"], case .strings(_, let values)? = metadata["reset"],
              let value = values.first else { return nil }
        guard let reset = LayerSpec.Reset(rawValue: value) else {
            throw error("metadata/reset", "'\(value)'; valid: \(LayerSpec.Reset.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return reset
    }
}
