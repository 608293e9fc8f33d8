import Foundation
import Neural
import SwiftProtobuf

/// A trained ReLU network (ONNX) converted into a spiking one (Diehl et al.
/// 2015; Rueckauer et al. 2017): every ReLU becomes a layer of
/// integrate-and-fire neurons with threshold 1 and **reset by subtraction**,
/// biases become constant input currents, and each layer's weights are
/// normalised by a high percentile of the ANN's activations on calibration
/// data, so that a neuron's firing rate per step approximates its ReLU
/// activation divided by that percentile.
///
/// The graph is first written as a NIR graph (`Affine`, `Conv2d`,
/// `AvgPool2d`, `Flatten`, `IF`) and then loaded by ``NIRImport``: one loader
/// serves both, and a converted network can be exported to NIR.
public struct ANNConversion: Sendable {
    public enum Readout: String, Sendable, CaseIterable {
        /// The last layer is IF neurons too; the class is the most spikes.
        case spikes
        /// The last layer integrates its input without spiking (NIR `I`):
        /// after `n` steps its `v` is `n` times the ANN's output (an argmax
        /// over a window: classification).
        case membrane
        /// The last layer is a leaky integrator (NIR `LI`, `readoutTau`): its
        /// `v` follows the ANN's output, for a `membrane` decoder (control).
        case leaky
    }

    public struct Options: Sendable {
        public var dt: Double = 0.1
        /// Rueckauer et al.'s robust normalisation: the 99.9th percentile.
        public var percentile: Double = 99.9
        public var readout: Readout = .spikes
        /// ms, for the `leaky` readout.
        public var readoutTau: Double = 1
        /// Each IF neuron's `v` at the start, as a fraction of its threshold.
        /// From 0 an IF neuron's spike count after `t` steps is the floor of
        /// `t·a` for a rate `a`; from ½ it is `t·a` rounded, which halves the
        /// expected error at every `t` (Bu et al. 2022, "Optimal ANN-SNN
        /// conversion for high-accuracy and ultra-low-latency SNNs").
        public var initialMembrane: Double = 0.5
        /// Hz: the input becomes a `poisson` population that a value `x` drives
        /// at `x · inputRate` (a rate encoder's output), and the first layers'
        /// weights are divided by `inputRate · dt`, a spike's expected count
        /// per step at `x = 1`; nil: analog input (current into the first layer).
        public var inputRate: Double?
        public init() {}
    }

    public static let supportedOperators = ["Gemm", "MatMul", "Add", "Relu", "Conv", "AveragePool", "Flatten",
                                            "Reshape", "BatchNormalization", "Identity", "Dropout", "Cast", "Softmax"]

    public var network: NetworkSpec
    /// The population whose spikes or `v` is the output.
    public var output: String
    /// λ of each converted layer: the activation percentile its weights were divided by.
    public var scales: [(layer: String, lambda: Double)]
    public var inputShape: [Int]

    /// Converts the ONNX model in `bytes` (the file `path`); `calibration`
    /// holds input samples, each flattened in the input's order.
    public init(onnx bytes: [UInt8], path: String, calibration: [[Float]], options: Options = Options()) throws(NIRError) {
        let model: Onnx_ModelProto
        do { model = try Onnx_ModelProto(serializedBytes: bytes) } catch {
            throw NIRError(file: path, "is not an ONNX model (it does not parse as onnx.ModelProto: truncated, or another format)")
        }
        var lowering = try Lowering(graph: model.graph, file: path, readout: options.readout, dt: options.dt, readoutTau: options.readoutTau)
        try lowering.run()
        inputShape = lowering.inputShape
        let graph = NIRGraph(nodes: Dictionary(uniqueKeysWithValues: lowering.nodes.map { ($0.name, $0) }), edges: lowering.edges, version: nil)
        var nirOptions = NIRImport.Options(dt: options.dt, reset: .subtract)
        nirOptions.inputs = .values
        var imported = try NIRImport(graph: graph, name: NIRImport.networkName(path.replacingOccurrences(of: ".onnx", with: "")),
                                     options: nirOptions, file: path)
        output = imported.outputs.first!.population
        let size = lowering.inputShape.reduce(1, *)
        guard !calibration.isEmpty else { throw NIRError(file: path, "no calibration samples: give inputs the network will see (--calibration FILE.npy)") }
        if let bad = calibration.firstIndex(where: { $0.count != size }) {
            throw NIRError(file: path, "calibration sample \(bad) has \(calibration[bad].count) values; the model's input has \(size) (shape \(lowering.inputShape))")
        }
        scales = try Self.normalise(&imported.network, calibration: calibration, percentile: options.percentile,
                                    output: output, readout: options.readout, file: path)
        Self.shape(&imported.network, options: options)
        network = imported.network
    }

    /// What the normalised network starts from, and how its input arrives.
    static func shape(_ spec: inout NetworkSpec, options: Options) {
        let inputs = Set(spec.populations.filter { $0.model == .analogInput }.map(\.name))
        let perSpike = options.inputRate.map { 1 / ($0 * spec.dt / 1000) }
        for k in spec.populations.indices {
            switch spec.populations[k].model {
            case .analogInput where perSpike != nil:
                spec.populations[k].model = .poisson(rates: .constant(0))
            case .layer(var l):
                if l.kind == .integrateAndFire && options.initialMembrane != 0 {
                    l.vInitial = l.vThreshold.map { $0 * options.initialMembrane }
                }
                if let perSpike {
                    for j in l.inputs.indices where inputs.contains(l.inputs[j].source) {
                        l.inputs[j].weights = l.inputs[j].weights.map { $0 * Float(perSpike) }
                    }
                }
                spec.populations[k].model = .layer(l)
            default:
                break
            }
        }
    }

    /// The ANN's activations, layer by layer (each layer a ReLU of its inputs,
    /// the output without one), on every calibration sample; then each
    /// layer's weights × λ(source)/λ(layer) and bias / λ(layer).
    static func normalise(_ spec: inout NetworkSpec, calibration: [[Float]], percentile: Double, output: String,
                          readout: Readout, file: String) throws(NIRError) -> [(layer: String, lambda: Double)] {
        var activations: [String: [Float]] = [:]  // all samples, concatenated
        var values: [String: [[Float]]] = [:]
        for p in spec.populations {
            switch p.model {
            case .analogInput:
                values[p.name] = calibration
            case .layer(let l):
                let relu = !(p.name == output && readout != .spikes)
                var out: [[Float]] = []
                for s in calibration.indices {
                    var y = [Float](repeating: 0, count: p.size)
                    for input in l.inputs {
                        let x = values[input.source]![s]
                        for e in input.weights.indices { y[Int(input.rows[e])] += input.weights[e] * x[Int(input.columns[e])] }
                        for j in input.bias.indices { y[j] += input.bias[j] }
                    }
                    out.append(relu ? y.map { max(0, $0) } : y)
                }
                values[p.name] = out
                activations[p.name] = out.flatMap { $0 }
            default:
                throw NIRError(file: file, "population '\(p.name)': only layers are converted")
            }
        }
        var lambda: [String: Double] = [:]
        for p in spec.populations where activations[p.name] != nil {
            let positive = activations[p.name]!.filter { $0 > 0 }.sorted()
            let k = Int((percentile / 100 * Double(positive.count - 1)).rounded())
            lambda[p.name] = positive.isEmpty ? 1 : Double(positive[max(0, min(positive.count - 1, k))])
        }
        for k in spec.populations.indices {
            guard case .layer(var l) = spec.populations[k].model else { continue }
            let name = spec.populations[k].name
            // The membrane readout keeps the ANN's scale: v grows by its output each step.
            let own = name == output && readout != .spikes ? 1 : lambda[name]!
            for j in l.inputs.indices {
                let from = lambda[l.inputs[j].source] ?? 1
                l.inputs[j].weights = l.inputs[j].weights.map { Float(Double($0) * from / own) }
                l.inputs[j].bias = l.inputs[j].bias.map { Float(Double($0) / own) }
            }
            spec.populations[k].model = .layer(l)
        }
        return spec.populations.compactMap { p in lambda[p.name].map { (p.name, $0) } }
    }
}

/// ONNX graph → NIR nodes.
private struct Lowering {
    let graph: Onnx_GraphProto
    let file: String
    let readout: ANNConversion.Readout
    let dt: Double
    let readoutTau: Double
    var nodes: [NIRNode] = []
    var edges: [(from: String, to: String)] = []
    var inputShape: [Int] = []
    /// Tensor name → (NIR node that produces it, its shape without the batch).
    var produced: [String: (node: String, shape: [Int])] = [:]
    /// Constants by name, parsed when an operator uses them (a model may carry
    /// others, such as a classifier's labels, that the conversion never reads).
    var initializers: [String: Onnx_TensorProto] = [:]
    /// The NIR node of the last linear op, which a following BatchNormalization folds into.
    var lastLinear: (tensor: String, index: Int)?

    init(graph: Onnx_GraphProto, file: String, readout: ANNConversion.Readout, dt: Double, readoutTau: Double) throws(NIRError) {
        self.graph = graph
        self.file = file
        self.readout = readout
        self.dt = dt
        self.readoutTau = readoutTau
        for t in graph.initializer { initializers[t.name] = t }
    }

    static func tensor(_ t: Onnx_TensorProto, file: String) throws(NIRError) -> (dims: [Int], values: [Double]) {
        let dims = t.dims.map { Int($0) }
        guard let count = elementCount(dims), count <= maximumEntries else {
            throw NIRError(file: file, "initializer '\(t.name)': shape \(dims) is negative or more than \(maximumEntries) values")
        }
        var values: [Double]
        switch t.dataType {
        case 1:  // FLOAT
            if !t.floatData.isEmpty { values = t.floatData.map(Double.init) } else {
                let raw = t.rawData
                guard raw.count == 4 * count else { throw NIRError(file: file, "initializer '\(t.name)': \(raw.count) bytes for \(count) floats") }
                values = raw.withUnsafeBytes { b in (0..<count).map { Double(Float(bitPattern: b.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).littleEndian)) } }
            }
        case 11:  // DOUBLE
            if !t.doubleData.isEmpty { values = t.doubleData } else {
                let raw = t.rawData
                guard raw.count == 8 * count else { throw NIRError(file: file, "initializer '\(t.name)': \(raw.count) bytes for \(count) doubles") }
                values = raw.withUnsafeBytes { b in (0..<count).map { Double(bitPattern: b.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self).littleEndian) } }
            }
        case 7:  // INT64 (shapes of Reshape)
            if !t.int64Data.isEmpty { values = t.int64Data.map(Double.init) } else {
                let raw = t.rawData
                guard raw.count == 8 * count else { throw NIRError(file: file, "initializer '\(t.name)': \(raw.count) bytes for \(count) int64") }
                values = raw.withUnsafeBytes { b in (0..<count).map { Double(Int64(littleEndian: b.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) } }
            }
        default:
            throw NIRError(file: file, "initializer '\(t.name)': data type \(t.dataType); float32, float64 and int64 are read")
        }
        guard values.count == count else { throw NIRError(file: file, "initializer '\(t.name)': \(values.count) values for shape \(dims)") }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw NIRError(file: file, "initializer '\(t.name)': element \(bad) is \(values[bad]); NaN and infinities cannot be converted")
        }
        return (dims, values)
    }

    func error(_ node: Onnx_NodeProto, _ message: String) -> NIRError {
        NIRError(file: file, "operator \(node.opType) (node '\(node.name.isEmpty ? node.output.first ?? "?" : node.name)'): \(message)")
    }

    func attribute(_ node: Onnx_NodeProto, _ name: String) -> Onnx_AttributeProto? { node.attribute.first { $0.name == name } }
    func int(_ node: Onnx_NodeProto, _ name: String, _ fallback: Int) -> Int { attribute(node, name).map { Int($0.i) } ?? fallback }
    func ints(_ node: Onnx_NodeProto, _ name: String) -> [Int]? { attribute(node, name).map { $0.ints.map { Int($0) } } }
    func float(_ node: Onnx_NodeProto, _ name: String, _ fallback: Double) -> Double { attribute(node, name).map { Double($0.f) } ?? fallback }

    static func numbers(_ shape: [Int], _ values: [Double]) -> HDF5Tree { .numbers(shape: shape, values: values) }

    mutating func add(_ name: String, _ type: String, _ fields: [String: HDF5Tree], from source: String) {
        var f = fields
        f["type"] = .strings(shape: [], values: [type])
        nodes.append(NIRNode(name: name, type: type, fields: f, file: file))
        edges.append((source, name))
    }

    mutating func run() throws(NIRError) {
        let inputs = graph.input.filter { initializers[$0.name] == nil }
        guard inputs.count == 1 else {
            throw NIRError(file: file, "the model has \(inputs.count) inputs (\(inputs.map(\.name))); one input is converted")
        }
        let dims = inputs[0].type.tensorType.shape.dim
        guard dims.count >= 2 else { throw NIRError(file: file, "input '\(inputs[0].name)' has rank \(dims.count); expected [batch, features…]") }
        var shape: [Int] = []
        for d in dims.dropFirst() {
            guard case .dimValue(let v)? = d.value, v > 0, v < 1 << 28 else {
                throw NIRError(file: file, "input '\(inputs[0].name)': dynamic shape \(dims.map { $0.dimParam.isEmpty ? String($0.dimValue) : $0.dimParam }) (only the batch may vary); export with a fixed sample shape")
            }
            shape.append(Int(v))
        }
        guard let inputCount = elementCount(shape), inputCount <= maximumPopulation else {
            throw NIRError(file: file, "input '\(inputs[0].name)': shape \(shape) is more than \(maximumPopulation) values; too large to run")
        }
        inputShape = shape
        nodes.append(NIRNode(name: "input", type: "Input", fields: ["type": .strings(shape: [], values: ["Input"]),
                                                                   "shape": Self.numbers([shape.count], shape.map(Double.init))], file: file))
        produced[inputs[0].name] = ("input", shape)

        // The output followed: the first graph output whose ops are all supported.
        let wanted = try chooseOutput()
        let needed = ancestors(of: wanted)
        var count = 0
        for node in graph.node where node.output.contains(where: needed.contains) {
            count += 1
            try lower(node, index: count)
        }
        guard let last = produced[wanted] else { throw NIRError(file: file, "output '\(wanted)' is not computed from the input") }
        // The readout layer after the last linear op.
        var fields: [String: HDF5Tree] = ["r": Self.numbers([1], [1 / (dt / 1000)])]
        switch readout {
        case .spikes:
            fields["v_threshold"] = Self.numbers([1], [1])
            fields["v_reset"] = Self.numbers([1], [0])
        case .leaky:
            fields = ["r": Self.numbers([1], [1]), "tau": Self.numbers([1], [readoutTau / 1000]), "v_leak": Self.numbers([1], [0])]
        case .membrane:
            break
        }
        let outputLayer = "output_layer"
        if nodes.first(where: { $0.name == last.node })?.type == "IF" && readout == .spikes {
            add("output", "Output", ["shape": Self.numbers([1], [Double(last.shape.reduce(1, *))])], from: last.node)
        } else {
            add(outputLayer, ["spikes": "IF", "membrane": "I", "leaky": "LI"][readout.rawValue]!, fields, from: last.node)
            add("output", "Output", ["shape": Self.numbers([1], [Double(last.shape.reduce(1, *))])], from: outputLayer)
        }
    }

    func producer(_ tensor: String) -> Onnx_NodeProto? { graph.node.first { $0.output.contains(tensor) } }

    func ancestors(of tensor: String) -> Set<String> {
        var seen: Set<String> = [], stack = [tensor]
        while let t = stack.popLast() {
            guard seen.insert(t).inserted, let n = producer(t) else { continue }
            stack += n.input.filter { initializers[$0] == nil && !$0.isEmpty }
        }
        return seen
    }

    func chooseOutput() throws(NIRError) -> String {
        var firstProblem: NIRError?
        for out in graph.output {
            let needed = ancestors(of: out.name)
            if let bad = graph.node.first(where: { $0.output.contains(where: needed.contains) && !ANNConversion.supportedOperators.contains($0.opType) }) {
                firstProblem = firstProblem ?? error(bad, "is not supported; supported: \(ANNConversion.supportedOperators.joined(separator: ", "))")
                continue
            }
            return out.name
        }
        throw firstProblem ?? NIRError(file: file, "the model has no output")
    }

    mutating func lower(_ node: Onnx_NodeProto, index: Int) throws(NIRError) {
        let name = "\(node.opType.lowercased())\(index)"
        let data = node.input.filter { !$0.isEmpty && initializers[$0] == nil }
        func source() throws(NIRError) -> (node: String, shape: [Int]) {
            guard data.count == 1, let s = produced[data[0]] else { throw error(node, "expects one computed input, got \(data)") }
            return s
        }
        func constant(_ k: Int, _ what: String) throws(NIRError) -> (dims: [Int], values: [Double]) {
            guard node.input.count > k, let c = initializers[node.input[k]] else { throw error(node, "its \(what) must be a constant (an initializer)") }
            return try Self.tensor(c, file: file)
        }
        switch node.opType {
        case "Identity", "Dropout", "Softmax":
            // Softmax keeps the order of the outputs: the class is the same without it.
            produced[node.output[0]] = try source()
        case "Cast":
            guard int(node, "to", 1) == 1 else { throw error(node, "casts to type \(int(node, "to", 1)); only casts to float are passed through") }
            produced[node.output[0]] = try source()
        case "Flatten", "Reshape":
            let s = try source()
            if node.opType == "Reshape" {
                let target = try constant(1, "shape").values
                guard target.count == 2, target[1] == -1 || target[1] == Double(s.shape.reduce(1, *)) else {
                    let shown = target.map { abs($0) < 1e15 && $0 == $0.rounded() ? String(Int($0)) : String($0) }
                    throw error(node, "reshapes to [\(shown.joined(separator: ", "))]; only flattening ([batch, -1]) is converted")
                }
            } else if int(node, "axis", 1) != 1 {
                throw error(node, "axis \(int(node, "axis", 1)); only axis 1 (keep the batch) is converted")
            }
            add(name, "Flatten", ["start_dim": Self.numbers([], [0]), "end_dim": Self.numbers([], [-1])], from: s.node)
            produced[node.output[0]] = (name, [s.shape.reduce(1, *)])
        case "Gemm", "MatMul":
            let s = try source()
            guard node.opType == "MatMul" || int(node, "transA", 0) == 0 else { throw error(node, "transA = 1 is not converted") }
            let b = try constant(1, "weight")
            guard b.dims.count == 2 else { throw error(node, "weight of shape \(b.dims); expected 2-D") }
            let transB = node.opType == "Gemm" && int(node, "transB", 0) == 1
            let (outputs, inputs) = transB ? (b.dims[0], b.dims[1]) : (b.dims[1], b.dims[0])
            guard inputs == s.shape.reduce(1, *) else { throw error(node, "weight \(b.dims) takes \(inputs) inputs; it receives \(s.shape.reduce(1, *))") }
            let alpha = node.opType == "Gemm" ? float(node, "alpha", 1) : 1
            var w = [Double](repeating: 0, count: outputs * inputs)
            for o in 0..<outputs { for i in 0..<inputs { w[o * inputs + i] = alpha * (transB ? b.values[o * inputs + i] : b.values[i * outputs + o]) } }
            var bias = [Double](repeating: 0, count: outputs)
            if node.opType == "Gemm", node.input.count > 2 {
                let c = try constant(2, "bias C")
                let beta = float(node, "beta", 1)
                guard c.values.count == outputs || c.values.count == 1 else { throw error(node, "bias of \(c.values.count) values for \(outputs) outputs") }
                bias = (0..<outputs).map { beta * c.values[c.values.count == 1 ? 0 : $0] }
            }
            add(name, "Affine", ["weight": Self.numbers([outputs, inputs], w), "bias": Self.numbers([outputs], bias)], from: s.node)
            produced[node.output[0]] = (name, [outputs])
            lastLinear = (node.output[0], nodes.count - 1)
        case "Add":
            // A bias after MatMul: folded into it.
            guard data.count == 1 else { throw error(node, "adds computed tensors \(data) (a residual connection?); only biases are converted") }
            let s = try source()
            let c = try constant(node.input.firstIndex { initializers[$0] != nil } ?? 1, "addend")
            guard let linear = lastLinear, produced[linear.tensor]?.node == s.node, case .numbers(let shape, var bias)? = nodes[linear.index].fields["bias"] else {
                throw error(node, "adds to something other than a Gemm/MatMul/Conv output; only biases are converted")
            }
            guard c.values.count == bias.count || c.values.count == 1 else { throw error(node, "\(c.values.count) values for \(bias.count) outputs") }
            for k in bias.indices { bias[k] += c.values[c.values.count == 1 ? 0 : k] }
            nodes[linear.index].fields["bias"] = .numbers(shape: shape, values: bias)
            produced[node.output[0]] = s
            lastLinear = (node.output[0], linear.index)
        case "Conv":
            let s = try source()
            let w = try constant(1, "weight")
            guard w.dims.count == 4 || w.dims.count == 3 else { throw error(node, "weight of shape \(w.dims); Conv1d and Conv2d are converted") }
            let dims = w.dims.count - 2
            let pads = ints(node, "pads") ?? Array(repeating: 0, count: 2 * dims)
            guard pads.count == 2 * dims, (0..<dims).allSatisfy({ pads[$0] == pads[$0 + dims] }) else {
                throw error(node, "asymmetric pads \(pads) are not converted")
            }
            if let auto = attribute(node, "auto_pad"), let mode = String(data: auto.s, encoding: .utf8), mode != "NOTSET" {
                throw error(node, "auto_pad \(mode) is not converted; export with explicit pads")
            }
            var fields: [String: HDF5Tree] = [
                "weight": Self.numbers(w.dims, w.values),
                "stride": Self.numbers([dims], (ints(node, "strides") ?? Array(repeating: 1, count: dims)).map(Double.init)),
                "padding": Self.numbers([dims], pads.prefix(dims).map(Double.init)),
                "dilation": Self.numbers([dims], (ints(node, "dilations") ?? Array(repeating: 1, count: dims)).map(Double.init)),
                "groups": Self.numbers([], [Double(int(node, "group", 1))]),
                "bias": Self.numbers([w.dims[0]], node.input.count > 2 ? try constant(2, "bias").values : Array(repeating: 0, count: w.dims[0])),
            ]
            if s.shape.count == dims + 1 { fields["input_shape"] = Self.numbers([dims], s.shape.dropFirst().map(Double.init)) }
            let nirNode = NIRNode(name: name, type: dims == 1 ? "Conv1d" : "Conv2d", fields: fields, file: file)
            let out = try LinearNode(nirNode).apply(to: Signal(shape: s.shape, paths: [], bias: Array(repeating: 0, count: s.shape.reduce(1, *))))
            add(name, dims == 1 ? "Conv1d" : "Conv2d", fields, from: s.node)
            produced[node.output[0]] = (name, out.shape)
            lastLinear = (node.output[0], nodes.count - 1)
        case "AveragePool":
            let s = try source()
            guard let kernel = ints(node, "kernel_shape"), kernel.count == 2 else { throw error(node, "kernel_shape must have 2 values (AvgPool2d)") }
            let pads = ints(node, "pads") ?? [0, 0, 0, 0]
            guard pads.count == 4, pads[0] == pads[2], pads[1] == pads[3] else { throw error(node, "asymmetric pads \(pads) are not converted") }
            if pads.contains(where: { $0 != 0 }) && int(node, "count_include_pad", 0) == 0 {
                throw error(node, "padding without count_include_pad is not converted (NIR's AvgPool2d divides by the whole kernel)")
            }
            guard int(node, "ceil_mode", 0) == 0 else { throw error(node, "ceil_mode is not converted") }
            let fields: [String: HDF5Tree] = ["kernel_size": Self.numbers([2], kernel.map(Double.init)),
                                               "stride": Self.numbers([2], (ints(node, "strides") ?? kernel).map(Double.init)),
                                               "padding": Self.numbers([2], pads.prefix(2).map(Double.init))]
            let nirNode = NIRNode(name: name, type: "AvgPool2d", fields: fields, file: file)
            let out = try LinearNode(nirNode).apply(to: Signal(shape: s.shape, paths: [], bias: Array(repeating: 0, count: s.shape.reduce(1, *))))
            add(name, "AvgPool2d", fields, from: s.node)
            produced[node.output[0]] = (name, out.shape)
        case "BatchNormalization":
            let s = try source()
            guard let linear = lastLinear, produced[linear.tensor]?.node == s.node, node.input.count >= 5 else {
                throw error(node, "follows something other than a Conv or Gemm; only batch norm after a linear layer is folded")
            }
            let (gamma, beta, mean, variance) = (try constant(1, "scale").values, try constant(2, "bias").values,
                                                 try constant(3, "mean").values, try constant(4, "variance").values)
            let epsilon = float(node, "epsilon", 1e-5)
            let channels = gamma.count
            guard case .numbers(let wShape, var w)? = nodes[linear.index].fields["weight"],
                  case .numbers(let bShape, var b)? = nodes[linear.index].fields["bias"], wShape[0] == channels else {
                throw error(node, "\(channels) channels do not match the layer before it")
            }
            let per = w.count / channels
            for c in 0..<channels {
                let k = gamma[c] / (variance[c] + epsilon).squareRoot()
                for j in 0..<per { w[c * per + j] *= k }
                b[c] = (b[c] - mean[c]) * k + beta[c]
            }
            nodes[linear.index].fields["weight"] = .numbers(shape: wShape, values: w)
            nodes[linear.index].fields["bias"] = .numbers(shape: bShape, values: b)
            produced[node.output[0]] = s
        case "Relu":
            let s = try source()
            let n = s.shape.reduce(1, *)
            add(name, "IF", ["r": Self.numbers(s.shape, Array(repeating: 1 / (dt / 1000), count: n)),
                              "v_threshold": Self.numbers(s.shape, Array(repeating: 1, count: n)),
                              "v_reset": Self.numbers(s.shape, Array(repeating: 0, count: n))], from: s.node)
            produced[node.output[0]] = (name, s.shape)
            lastLinear = nil
        default:
            throw error(node, "is not supported; supported: \(ANNConversion.supportedOperators.joined(separator: ", "))")
        }
    }
}
