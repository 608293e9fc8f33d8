import Neural

/// `model: layer` and `model: analog_input` populations in network files:
/// the layers of a trained network (docs/nir.md), as `spikeloop import`
/// writes them and a user edits them. Parameters are NIR's unitless numbers,
/// except times, which carry units; weights are inline rows or `.npy` files
/// beside the network file.
extension NetworkFile {
    static let layerKeys = ["kind", "reset", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in", "delay", "v_initial"]

    static func layer(name: String, size: Int, params paramsEntry: Entry?, inputs inputsEntry: Entry?, item: Entry,
                      _ r: DocumentReader) -> PopulationSpec? {
        guard let paramsEntry, let p = r.mapping(paramsEntry, allowed: layerKeys) else {
            if paramsEntry == nil { r.report(item, "a layer needs params with its kind, e.g. params: {kind: lif, tau_mem: 1 ms, …}") }
            return nil
        }
        let kinds = LayerSpec.Kind.allCases.map(\.rawValue)
        guard let kindName = r.required(p, "kind", in: paramsEntry, "one of \(kinds.joined(separator: ", "))").flatMap({ r.choice($0, kinds) }),
              let kind = LayerSpec.Kind(rawValue: kindName) else { return nil }
        var spec = LayerSpec(kind: kind)
        if let e = p["reset"], let v = r.choice(e, LayerSpec.Reset.allCases.map(\.rawValue)) { spec.reset = LayerSpec.Reset(rawValue: v)! }
        var invalid = false
        /// A value for all neurons or a list of one per neuron; times need a unit.
        func values(_ key: String, _ dimension: PhysicalDimension?, required: Bool) -> [Double] {
            guard let e = p[key] else {
                if required {
                    r.report(at: paramsEntry, "\(paramsEntry.path).\(key)", "missing; a \(kindName) layer needs it")
                    invalid = true
                }
                return []
            }
            func one(_ x: Entry) -> Double? { dimension.map { r.quantity(x, $0) } ?? r.number(x) }
            if case .sequence = e.node, let items = r.sequence(e) {
                guard items.count == size else {
                    r.report(e, "\(items.count) values for \(size) neurons; give one value or one per neuron")
                    invalid = true
                    return []
                }
                let xs = items.compactMap(one)
                if xs.count != size { invalid = true }
                return xs
            }
            guard let x = one(e) else { invalid = true; return [] }
            return Array(repeating: x, count: size)
        }
        spec.tauMem = values("tau_mem", .time, required: kind.leaks)
        spec.tauSyn = values("tau_syn", .time, required: kind.hasCurrent)
        spec.wIn = kind.hasCurrent ? (p["w_in"] == nil ? Array(repeating: 1, count: size) : values("w_in", nil, required: true)) : []
        spec.r = kind.hasMembrane ? values("r", nil, required: true) : []
        spec.vInitial = kind.hasMembrane && p["v_initial"] != nil ? values("v_initial", nil, required: true) : []
        spec.vLeak = kind.leaks ? (p["v_leak"] == nil ? Array(repeating: 0, count: size) : values("v_leak", nil, required: true)) : []
        spec.vThreshold = kind.spikes ? values("v_threshold", nil, required: true) : []
        spec.vReset = kind.spikes && kind != .threshold ? (p["v_reset"] == nil ? Array(repeating: 0, count: size) : values("v_reset", nil, required: true)) : []
        spec.delay = kind == .delay ? values("delay", .time, required: true) : []
        let unused = p.keys.filter { key in
            switch key {
            case "kind", "reset": return false
            case "tau_mem", "v_leak": return !kind.leaks
            case "tau_syn", "w_in": return !kind.hasCurrent
            case "r", "v_initial": return !kind.hasMembrane
            case "v_threshold": return !kind.spikes
            case "v_reset": return !kind.spikes || kind == .threshold
            case "delay": return kind != .delay
            default: return true
            }
        }
        for key in unused.sorted() { r.report(p[key]!, "a \(kindName) layer has no \(key)"); invalid = true }

        guard let inputsEntry else {
            r.report(item, "a layer needs inputs: - {from: POPULATION, weights: FILE.npy or rows}")
            return nil
        }
        guard let list = r.sequence(inputsEntry) else { return nil }
        for item in list {
            guard let input = layerInput(item, size: size, r) else { invalid = true; continue }
            spec.inputs.append(input)
        }
        guard !invalid else { return nil }
        return PopulationSpec(name: name, size: size, model: .layer(spec))
    }

    /// `{from: POP, weights: FILE.npy | [[row], …], sparse: FILE.npy, bias: FILE.npy | [list]}`.
    /// The source's size is the weights' column count (checked against the
    /// population when the network is built).
    static func layerInput(_ item: Entry, size: Int, _ r: DocumentReader) -> LayerInput? {
        guard let k = r.mapping(item, allowed: ["from", "weights", "sparse", "bias"]) else { return nil }
        guard let source = r.required(k, "from", in: item, "the population this input comes from").flatMap(r.string) else { return nil }
        var input: LayerInput?
        switch (k["weights"], k["sparse"]) {
        case (let w?, nil):
            guard let (shape, values) = matrix(w, r) else { return nil }
            guard shape.count == 2, shape[0] == size else {
                r.report(w, "shape \(shape); must be [\(size), source size] (one row per neuron of the layer)")
                return nil
            }
            input = LayerInput(source: source, dense: values, sourceSize: shape[1])
        case (nil, let s?):
            // [n, 3] rows of (row, column, weight); the source's size is one more than the largest column
            // unless `weights` says otherwise — here it is taken from the `from` population when built.
            guard let (shape, values) = matrix(s, r) else { return nil }
            guard shape.count == 2, shape[1] == 3 else { r.report(s, "shape \(shape); must be [entries, 3]: (row, column, weight)"); return nil }
            var rows: [UInt32] = [], columns: [UInt32] = [], weights: [Float] = []
            for e in 0..<shape[0] {
                let (row, column) = (values[3 * e], values[3 * e + 1])
                guard row >= 0, column >= 0, row < Float(size), row == row.rounded(), column == column.rounded(), column < Float(1 << 28) else {
                    r.report(s, "entry \(e): (\(row), \(column)) is not a (row, column) pair of the layer's \(size) rows")
                    return nil
                }
                rows.append(UInt32(row))
                columns.append(UInt32(column))
                weights.append(values[3 * e + 2])
            }
            input = LayerInput(source: source, sourceSize: 0, rows: rows, columns: columns, weights: weights)
        default:
            r.report(item, "give weights (a [\(size), source size] matrix) or sparse ([entries, 3]), one of them")
            return nil
        }
        if let b = k["bias"] {
            guard let (shape, values) = matrix(b, r) else { return nil }
            guard values.count == size else { r.report(b, "shape \(shape); must hold \(size) values, one per neuron"); return nil }
            input?.bias = values
        }
        return input
    }

    /// An inline list (of numbers or of rows) or a `.npy` file beside the network file.
    static func matrix(_ e: Entry, _ r: DocumentReader) -> (shape: [Int], values: [Float])? {
        if case .scalar = e.node, let name = r.string(e) {
            guard name.hasSuffix(".npy") else { r.report(e, "'\(name)': give a .npy file or inline rows"); return nil }
            let path = name.hasPrefix("/") ? name : directory(of: r.file) + name
            do {
                let array = try NPYArray(bytes: try readBytes(path, limit: 1 << 30))
                return (array.shape, array.values)
            } catch {
                r.report(e, "\(path): \(error)")
                return nil
            }
        }
        guard let items = r.sequence(e) else { return nil }
        if let first = items.first, case .sequence = first.node {
            var values: [Float] = []
            var width: Int?
            for row in items {
                guard let xs = r.sequence(row) else { return nil }
                if let width, xs.count != width { r.report(row, "\(xs.count) values; the first row has \(width)"); return nil }
                width = xs.count
                for x in xs { guard let v = r.number(x) else { return nil }; values.append(Float(v)) }
            }
            return ([items.count, width ?? 0], values)
        }
        var values: [Float] = []
        for x in items { guard let v = r.number(x) else { return nil }; values.append(Float(v)) }
        return ([values.count], values)
    }

    static func directory(of file: String) -> String {
        guard let slash = file.lastIndex(of: "/") else { return "" }
        return String(file[...slash])
    }
}
