import CHDF5
import Neural
#if canImport(Glibc)
import Glibc
#endif

/// Writes a network of layers as a NIR graph, in the layout `nir.write`
/// uses, so that NIR's importers (SpiNNaker2, Xylo, Loihi, the training
/// frameworks) and ours read it. Each layer input becomes an `Affine` (or
/// `Linear`) node into the layer; layers that feed no other layer get an
/// `Output`. A layer's reset, which NIR cannot say, is kept in the node's
/// `metadata` (`reset`), where ``NIRImport`` finds it again.
///
/// A hand-built network (`lif` populations, projections) is turned into
/// layers by ``LayerForm`` first.
public enum NIRExport {
    /// Layers that feed no other layer get an `Output`, and so do `outputs`;
    /// if that is none, the last layer does.
    public static func write(_ spec: NetworkSpec, to path: String, outputs: Set<String> = []) throws(NIRError) {
        var nodes: [(name: String, type: String, fields: [(String, Field)])] = []
        var edges: [(String, String)] = []
        var fed = Set<String>()
        for p in spec.populations {
            // A layer that feeds only itself (a recurrent output layer) is still an output.
            if case .layer(let l) = p.model { for i in l.inputs where i.source != p.name { fed.insert(i.source) } }
        }
        fed.subtract(outputs)
        var names = NodeNames(taken: spec.populations.map(\.name))
        func fresh(_ base: String) -> String { names.fresh(base) }
        for p in spec.populations {
            switch p.model {
            case .analogInput, .input, .poisson:
                // A poisson input is a converted network's rate-coded input: its rates are the encoder's.
                nodes.append((p.name, "Input", [("shape", .integers([p.size]))]))
            case .layer(let l):
                if l.kind == .identity {
                    // An Affine straight into an Output of this name, as the importer made it.
                    nodes.append((p.name, "Output", [("shape", .integers([p.size]))]))
                } else {
                    var fields = try parameters(l, population: p.name, file: path)
                    // What NIR has no field for; other importers ignore it (docs/nir.md).
                    var metadata: [(String, Field)] = []
                    if l.kind.spikes && l.kind != .threshold && l.reset != .toReset { metadata.append(("reset", .string(l.reset.rawValue))) }
                    if !l.vInitial.isEmpty { metadata.append(("v_initial", .floats(shape: [p.size], values: l.vInitial))) }
                    if !metadata.isEmpty { fields.append(("metadata", .group(metadata))) }
                    nodes.append((p.name, type(of: l.kind), fields))
                }
                for (k, input) in l.inputs.enumerated() {
                    let affine = fresh("\(p.name).w\(k)")
                    var w = [Double](repeating: 0, count: p.size * input.sourceSize)
                    for e in input.weights.indices { w[Int(input.rows[e]) * input.sourceSize + Int(input.columns[e])] += Double(input.weights[e]) }
                    var fields: [(String, Field)] = [("weight", .floats(shape: [p.size, input.sourceSize], values: w))]
                    if !input.bias.isEmpty { fields.append(("bias", .floats(shape: [p.size], values: input.bias.map(Double.init)))) }
                    nodes.append((affine, input.bias.isEmpty ? "Linear" : "Affine", fields))
                    edges.append((input.source, affine))
                    edges.append((affine, p.name))
                }
                if !fed.contains(p.name), l.kind != .identity {
                    let output = fresh("\(p.name).output")
                    nodes.append((output, "Output", [("shape", .integers([p.size]))]))
                    edges.append((p.name, output))
                }
            default:
                throw NIRError(file: path, "population '\(p.name)' is a \(p.model.name) population; NIRExport.write takes networks of layers (LayerForm makes them from hand-built networks)")
            }
        }
        // NIR's reader needs an Output: where every layer feeds another (a
        // recurrent network imported from a hand-built export), the last layer's.
        if !nodes.contains(where: { $0.type == "Output" }),
           let last = spec.populations.last(where: { if case .layer = $0.model { true } else { false } }) {
            let output = fresh("\(last.name).output")
            nodes.append((output, "Output", [("shape", .integers([last.size]))]))
            edges.append((last.name, output))
        }
        try writeFile(path, nodes: nodes, edges: edges)
    }

    static func type(of kind: LayerSpec.Kind) -> String {
        switch kind {
        case .lif: "LIF"
        case .cubaLIF: "CubaLIF"
        case .integrateAndFire: "IF"
        case .leakyIntegrator: "LI"
        case .cubaLI: "CubaLI"
        case .integrator: "I"
        case .threshold: "Threshold"
        case .delay: "Delay"
        case .identity: "Output"
        }
    }

    /// NIR's fields of a layer: times back in seconds.
    static func parameters(_ l: LayerSpec, population: String, file: String) throws(NIRError) -> [(String, Field)] {
        let n = max(l.tauMem.count, l.r.count, l.vThreshold.count, l.delay.count, 1)
        /// `divisor` 1000 turns ms into s (a division, which undoes the importer's × 1000 exactly in most cases).
        func array(_ values: [Double], divisor: Double = 1) -> Field { .floats(shape: [values.count], values: values.map { $0 / divisor }) }
        switch l.kind {
        case .lif:
            return [("tau", array(l.tauMem, divisor: 1000)), ("r", array(l.r)), ("v_leak", array(l.vLeak)),
                    ("v_threshold", array(l.vThreshold)), ("v_reset", array(l.vReset))]
        case .cubaLIF:
            return [("tau_mem", array(l.tauMem, divisor: 1000)), ("tau_syn", array(l.tauSyn, divisor: 1000)), ("r", array(l.r)),
                    ("v_leak", array(l.vLeak)), ("v_threshold", array(l.vThreshold)), ("v_reset", array(l.vReset)), ("w_in", array(l.wIn))]
        case .integrateAndFire:
            return [("r", array(l.r)), ("v_threshold", array(l.vThreshold)), ("v_reset", array(l.vReset))]
        case .leakyIntegrator:
            return [("tau", array(l.tauMem, divisor: 1000)), ("r", array(l.r)), ("v_leak", array(l.vLeak))]
        case .cubaLI:
            return [("tau_mem", array(l.tauMem, divisor: 1000)), ("tau_syn", array(l.tauSyn, divisor: 1000)), ("r", array(l.r)),
                    ("v_leak", array(l.vLeak)), ("w_in", array(l.wIn))]
        case .integrator:
            return [("r", array(l.r))]
        case .threshold:
            return [("threshold", array(l.vThreshold))]
        case .delay:
            return [("delay", array(l.delay, divisor: 1000))]
        case .identity:
            throw NIRError(file: file, "population '\(population)': an identity layer (\(n) values) is written as an Output")
        }
    }

    indirect enum Field {
        case floats(shape: [Int], values: [Double])
        case integers([Int])
        case string(String)
        case group([(String, Field)])
    }

    static func writeFile(_ path: String, nodes: [(name: String, type: String, fields: [(String, Field)])],
                          edges: [(String, String)]) throws(NIRError) {
        let file = chdf5_create_file(path)
        guard file >= 0 else { throw NIRError(file: path, "cannot be created (a missing folder, or no permission?)") }
        defer { chdf5_close_file(file) }
        func fail(_ what: String) -> NIRError { NIRError(file: path, "writing \(what) failed (disk full?)") }
        func write(_ location: hid_t, _ name: String, _ field: Field, at place: String) throws(NIRError) {
            switch field {
            case .floats(let shape, let values):
                let dims = shape.map { UInt64($0) }
                // Weights as float32, as the frameworks write them; parameters as float64.
                guard chdf5_write_numbers(location, name, values, dims, Int32(dims.count), name == "weight" || name == "bias" ? 1 : 0) == 0 else { throw fail(place) }
            case .integers(let values):
                guard chdf5_write_numbers(location, name, values.map(Double.init), [UInt64(values.count)], 1, 0) == 0 else { throw fail(place) }
            case .string(let s):
                let ok = s.withCString { c -> Bool in
                    var pointers: [UnsafePointer<CChar>?] = [c]
                    return chdf5_write_strings(location, name, &pointers, nil, 0) == 0
                }
                guard ok else { throw fail(place) }
            case .group(let members):
                let group = chdf5_create_group(location, name)
                guard group >= 0 else { throw fail(place) }
                defer { chdf5_close_group(group) }
                for (key, value) in members { try write(group, key, value, at: "\(place)/\(key)") }
            }
        }
        try write(file, "version", .string("1.0.8"), at: "/version")
        let top = chdf5_create_group(file, "node")
        guard top >= 0 else { throw fail("/node") }
        defer { chdf5_close_group(top) }
        try write(top, "type", .string("NIRGraph"), at: "/node/type")
        try write(top, "nodes", .group(nodes.map { ($0.name, .group([("type", .string($0.type))] + $0.fields)) }), at: "/node/nodes")
        // Edges: an [n, 2] array of names.
        let flat = edges.flatMap { [$0.0, $0.1] }
        let storage = flat.map { strdup($0) }
        defer { storage.forEach { free($0) } }
        var pointers: [UnsafePointer<CChar>?] = storage.map { $0.map { UnsafePointer<CChar>($0) } }
        guard chdf5_write_strings(top, "edges", &pointers, [UInt64(edges.count), 2], 2) == 0 else { throw fail("/node/edges") }
    }
}
