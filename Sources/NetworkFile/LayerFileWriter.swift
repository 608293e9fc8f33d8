import Neural

/// Writes a network of layers (what a NIR graph becomes) as a network file
/// that ``NetworkFile`` reads back to the same ``NetworkSpec``: parameters in
/// the YAML, weights of more than a few entries in `.npy` files beside it.
public enum LayerFileWriter {
    /// Weights and biases with at most this many entries stay inline.
    static let inlineLimit = 64

    /// The YAML text and the `.npy` files (names relative to the YAML's folder)
    /// for `spec`; `stem` prefixes the file names. Fails for populations that
    /// are not layers or inputs (hand-built networks are written by hand).
    public static func write(_ spec: NetworkSpec, stem: String, header: String) throws(NetworkBuildError) -> (yaml: String, files: [(name: String, bytes: [UInt8])]) {
        var files: [(name: String, bytes: [UInt8])] = []
        var y = header.split(separator: "\n", omittingEmptySubsequences: false).map { "# " + $0 }.joined(separator: "\n") + "\n"
        y += "name: \(quoted(spec.name))\ndt: \(number(spec.dt)) ms\nseed: \(spec.seed)\npopulations:\n"
        for p in spec.populations {
            y += "  - name: \(quoted(p.name))\n"
            switch p.model {
            case .analogInput:
                y += "    model: analog_input\n    size: \(p.size)\n"
            case .input:
                y += "    model: input\n    size: \(p.size)\n"
            case .poisson(.constant(let hz)):
                // A rate-coded input: the encoder sets the rates.
                y += "    model: poisson\n    size: \(p.size)\n    params: {rate: \(number(hz)) Hz}\n"
            case .layer(let l):
                y += "    model: layer\n    size: \(p.size)\n    params:\n      kind: \(l.kind.rawValue)\n"
                if l.kind.spikes && l.kind != .threshold { y += "      reset: \(l.reset.rawValue)\n" }
                for (key, values, unit) in [("tau_mem", l.tauMem, " ms"), ("tau_syn", l.tauSyn, " ms"), ("r", l.r, ""),
                                            ("v_leak", l.vLeak, ""), ("v_threshold", l.vThreshold, ""), ("v_reset", l.vReset, ""),
                                            ("w_in", l.wIn, ""), ("delay", l.delay, " ms"), ("v_initial", l.vInitial, "")] where !values.isEmpty {
                    y += "      \(key): " + (Set(values).count == 1 ? number(values[0]) + unit : "[" + values.map { number($0) + unit }.joined(separator: ", ") + "]") + "\n"
                }
                y += "    inputs:\n"
                for input in l.inputs {
                    y += "      - from: \(quoted(input.source))\n"
                    let base = fileName("\(stem).\(p.name).\(input.source)")
                    if input.weights.count == p.size * input.sourceSize, isRowMajor(input, rows: p.size) {
                        if input.weights.count <= inlineLimit {
                            let rows = (0..<p.size).map { r in "[" + input.weights[r * input.sourceSize..<(r + 1) * input.sourceSize].map { number($0) }.joined(separator: ", ") + "]" }
                            y += "        weights: [" + rows.joined(separator: ", ") + "]\n"
                        } else {
                            files.append((base + ".weights.npy", NPYArray(shape: [p.size, input.sourceSize], values: input.weights).bytes))
                            y += "        weights: \(base).weights.npy\n"
                        }
                    } else {
                        let entries = input.weights.indices.flatMap { [Float(input.rows[$0]), Float(input.columns[$0]), input.weights[$0]] }
                        files.append((base + ".sparse.npy", NPYArray(shape: [input.weights.count, 3], values: entries).bytes))
                        y += "        sparse: \(base).sparse.npy\n"
                    }
                    if !input.bias.isEmpty {
                        if input.bias.count <= inlineLimit {
                            y += "        bias: [" + input.bias.map { number($0) }.joined(separator: ", ") + "]\n"
                        } else {
                            files.append((base + ".bias.npy", NPYArray(shape: [input.bias.count], values: input.bias).bytes))
                            y += "        bias: \(base).bias.npy\n"
                        }
                    }
                }
            default:
                throw NetworkBuildError("population '\(p.name)' is a \(p.model.name); only layers and inputs are written")
            }
        }
        return (y, files)
    }

    /// Entry k is (k / columns, k % columns): the dense form `LayerInput(dense:)` makes.
    static func isRowMajor(_ input: LayerInput, rows: Int) -> Bool {
        let c = max(input.sourceSize, 1)
        return input.rows.indices.allSatisfy { Int(input.rows[$0]) == $0 / c && Int(input.columns[$0]) == $0 % c }
    }

    /// The shortest text that reads back to the same Double.
    static func number(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : "\(x)"
    }

    static func quoted(_ s: String) -> String {
        "\"" + s.flatMap { $0 == "\"" || $0 == "\\" ? ["\\", $0] : [$0] } + "\""
    }

    /// Floats as Float prints them (shortest round trip), integers without ".0".
    static func number(_ x: Float) -> String {
        x == x.rounded() && abs(x) < 1e7 ? String(Int(x)) : "\(x)"
    }

    static func fileName(_ s: String) -> String {
        String(s.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" ? $0 : "_" })
    }
}
