import Neural
#if canImport(Glibc)
import Glibc
#endif

/// Reads network description files (YAML with unit suffixes; see
/// `docs/network-file.md`) into a `NetworkSpec`, refusing anything invalid
/// before a single step runs.
public enum NetworkFile {
    public static let topKeys = ["name", "dt", "seed", "precision", "populations", "projections", "rewards"]

    /// Loads and validates `path`. Throws `ConfigurationError` listing every problem.
    public static func load(path: String) throws -> NetworkSpec {
        let text: String
        do {
            text = try readText(path)
        } catch {
            throw ConfigurationError(problems: [Problem(file: path, line: nil, keyPath: "", message: "cannot read the file: \(error)")])
        }
        return try parse(yaml: text, file: path)
    }

    public static func parse(yaml: String, file: String) throws -> NetworkSpec {
        let reader = DocumentReader(file: file)
        let spec = reader.root(yaml: yaml).flatMap { read($0, reader: reader, allowedKeys: topKeys) }
        guard let spec, reader.problems.isEmpty else { throw ConfigurationError(problems: reader.problems) }
        do {
            _ = try Network(spec)
        } catch {
            throw ConfigurationError(problems: [Problem(file: file, line: nil, keyPath: "", message: error.description)])
        }
        return spec
    }

    /// Reads a network mapping, e.g. the `network:` section of a controller configuration.
    public static func read(_ root: Entry, reader r: DocumentReader, allowedKeys: [String] = topKeys) -> NetworkSpec? {
        guard let top = r.mapping(root, allowed: allowedKeys) else { return nil }
        var spec = NetworkSpec()
        if let e = top["name"], let s = r.string(e) { spec.name = s }
        if let e = top["dt"], let x = r.quantity(e, .time, positive: true) { spec.dt = x }
        if let e = top["seed"], let x = r.integer(e, min: 0) { spec.seed = UInt64(x) }
        if let e = top["precision"], let x = r.choice(e, Precision.allCases.map(\.rawValue)) { spec.precision = Precision(rawValue: x)! }

        var sizes: [String: Int] = [:]
        var models: [String: NeuronModel] = [:]
        var declared = Set<String>()
        if let e = r.required(top, "populations", in: root, "list the populations, e.g. '- {name: exc, model: lif, size: 100, params: {...}}'"),
           let list = r.sequence(e) {
            if list.isEmpty { r.report(e, "at least one population is needed") }
            // Names of invalid populations too, so that their projections are
            // not reported a second time as naming an unknown population.
            for item in list {
                if case .mapping(let m) = item.node, let n = m["name"]?.string { declared.insert(n) }
            }
            for item in list {
                guard let p = population(item, r) else { continue }
                if sizes[p.name] != nil {
                    r.report(item, "population name '\(p.name)' is used twice; names must be unique")
                    continue
                }
                sizes[p.name] = p.size
                models[p.name] = p.model
                spec.populations.append(p)
            }
        }
        // Sparse layer inputs take their source's size from the source.
        for k in spec.populations.indices {
            guard case .layer(var layer) = spec.populations[k].model else { continue }
            for j in layer.inputs.indices where layer.inputs[j].sourceSize == 0 { layer.inputs[j].sourceSize = sizes[layer.inputs[j].source] ?? 0 }
            spec.populations[k].model = .layer(layer)
        }
        if let e = top["projections"], let list = r.sequence(e) {
            for item in list {
                if let q = projection(item, r, sizes: sizes, models: models, declared: declared) { spec.projections.append(q) }
            }
        }
        if let e = top["rewards"], let list = r.sequence(e) {
            for item in list {
                if let x = pairingReward(item, r, sizes: sizes, declared: declared) { spec.rewards.append(x) }
            }
        }
        if let problem = sizeProblem(spec.sizeEstimate, memory: physicalMemory()) { r.report(root, problem) }
        return spec
    }

    /// `{pre: exc[0], post: exc[1], within: 20 ms, reward: 10, delay: {uniform: [1 s, 3 s]}}`.
    static func pairingReward(_ item: Entry, _ r: DocumentReader, sizes: [String: Int], declared: Set<String>) -> SpikePairingRewardSpec? {
        guard let keys = r.mapping(item, allowed: ["pre", "post", "within", "reward", "delay"]) else { return nil }
        func neuron(_ key: String) -> NeuronAddress? {
            guard let e = r.required(keys, key, in: item, "a neuron, e.g. \(key): exc[0]"), let text = r.string(e) else { return nil }
            let parts = text.split(separator: "[", maxSplits: 1)
            guard parts.count == 2, parts[1].hasSuffix("]"), let index = Int(parts[1].dropLast()), index >= 0 else {
                r.report(e, "expected POPULATION[INDEX], e.g. exc[0]")
                return nil
            }
            let name = String(parts[0])
            guard let size = sizes[name] else {
                // An invalid population has its own report.
                if !declared.contains(name) { r.report(e, "no population named '\(name)'; defined: \(declared.sorted().joined(separator: ", "))") }
                return nil
            }
            guard index < size else {
                r.report(e, "index \(index) is outside '\(name)' (0..<\(size))")
                return nil
            }
            return NeuronAddress(population: name, index: index)
        }
        let pre = neuron("pre"), post = neuron("post")
        let within = r.required(keys, "within", in: item, "a time, e.g. within: 20 ms").flatMap { r.quantity($0, .time, positive: true) }
        let reward = r.required(keys, "reward", in: item, "the reward each pairing earns, e.g. reward: 1").flatMap { r.number($0) }
        var delay: ClosedRange<Double>?
        if let e = r.required(keys, "delay", in: item, "a time or {uniform: [lo, hi]}, e.g. delay: {uniform: [1 s, 3 s]}") {
            if case .mapping = e.node {
                if let u = r.mapping(e, allowed: ["uniform"]), let b = r.required(u, "uniform", in: e, "[lo, hi]"),
                   let (lo, hi) = range(b, r, example: "uniform: [1 s, 3 s]", value: { r.quantity($0, .time, positive: true) }) {
                    delay = lo...hi
                }
            } else if let x = r.quantity(e, .time, positive: true) {
                delay = x...x
            }
        }
        guard let pre, let post, let within, let reward, let delay else { return nil }
        return SpikePairingRewardSpec(pre: pre, post: post, within: within, reward: reward, delay: delay)
    }

    /// Why a network of `estimate` cannot be built on a machine with
    /// `memory` bytes, or nil. Checked before building: a population of 10¹²
    /// or 10⁹ synapses used to end in an allocation failure.
    static func sizeProblem(_ estimate: NetworkSizeEstimate, memory: Double) -> String? {
        guard estimate.bytes > memory * 0.8 else { return nil }
        func gib(_ bytes: Double) -> String { bytes >= Double(1 << 30) ? "\(Int((bytes / Double(1 << 30)).rounded())) GiB" : "\(Int((bytes / Double(1 << 20)).rounded())) MiB" }
        func count(_ x: Double) -> String {
            x >= 1e9 ? "\((x / 1e8).rounded() / 10) billion" : x >= 1e6 ? "\((x / 1e5).rounded() / 10) million" : "\(Int(x))"
        }
        return "the network needs about \(gib(estimate.bytes)) (\(count(estimate.neurons)) neurons at ~\(Int(estimate.bytesPerNeuron)) B, "
            + "\(count(estimate.synapses)) synapses at ~\(Int(estimate.bytesPerSynapse)) B), more than 80 % of this machine's \(gib(memory)) of memory; make it smaller"
    }

    static func physicalMemory() -> Double {
        Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
    }

    // MARK: Populations

    static let models = ["lif", "izhikevich", "poisson", "spike_times", "input", "analog_input", "layer"]
    static let lifKeys = ["tau_m", "v_rest", "v_threshold", "v_reset", "t_ref", "tau_e", "tau_i", "r_m", "i_ext", "e_e", "e_i"]
    static let izhikevichKeys = ["preset", "a", "b", "c", "d", "i_ext", "i_noise"]

    static func population(_ item: Entry, _ r: DocumentReader) -> PopulationSpec? {
        guard let keys = r.mapping(item, allowed: ["name", "model", "size", "params", "init", "inputs"]) else { return nil }
        let name = r.required(keys, "name", in: item, "give the population a name").flatMap(r.string)
        let model = r.required(keys, "model", in: item, "one of \(models.joined(separator: ", "))").flatMap { r.choice($0, models) }
        // Neuron indices are 32-bit.
        let size = r.required(keys, "size", in: item, "the number of neurons").flatMap { r.integer($0, min: 1, max: Int(Int32.max)) }
        guard let name, let model, let size else { return nil }
        let paramsEntry = keys["params"]
        let initEntry = keys["init"]
        func params(_ allowed: [String]) -> [String: Entry] {
            guard let e = paramsEntry else { return [:] }
            return r.mapping(e, allowed: allowed) ?? [:]
        }
        let paramsPath = item.child("params")
        if model != "layer", let e = keys["inputs"] { r.report(e, "only a layer has inputs; other populations receive projections") }

        switch model {
        case "lif":
            let p = params(lifKeys)
            func need(_ key: String, _ dim: PhysicalDimension, positive: Bool = false) -> Double? {
                guard let e = p[key] else {
                    r.report(at: paramsEntry ?? item, "\(paramsPath).\(key)", "missing; lif needs tau_m, v_rest, v_threshold and v_reset, e.g. \(key): \(dim.example)")
                    return nil
                }
                return r.quantity(e, dim, positive: positive)
            }
            let tauM = need("tau_m", .time, positive: true)
            let vRest = need("v_rest", .voltage), vTh = need("v_threshold", .voltage), vReset = need("v_reset", .voltage)
            var invalid = false
            func optional(_ key: String, _ dim: PhysicalDimension, positive: Bool = false, nonNegative: Bool = false) -> Double? {
                guard let e = p[key] else { return nil }
                let x = r.quantity(e, dim, nonNegative: nonNegative, positive: positive)
                if x == nil { invalid = true }
                return x
            }
            let tRef = optional("t_ref", .time, nonNegative: true) ?? 0
            let tauE = optional("tau_e", .time, positive: true)
            let tauI = optional("tau_i", .time, positive: true)
            let rM = optional("r_m", .resistance, positive: true) ?? 1
            let eE = optional("e_e", .voltage), eI = optional("e_i", .voltage)
            for (key, reversal, tau) in [("e_e", eE, tauE), ("e_i", eI, tauI)] where reversal != nil && tau == nil {
                r.report(p[key]!, "a reversal potential needs the synapse's time constant: add \(key == "e_e" ? "tau_e" : "tau_i")")
                invalid = true
            }
            var iExt: PerNeuron = .constant(0)
            if let e = p["i_ext"] {
                if let x = perNeuron(e, .current, size: size, r) { iExt = x } else { invalid = true }
            }
            var vInit: PerNeuron?
            if let e = initEntry, let ik = r.mapping(e, allowed: ["v"]), let ve = ik["v"] {
                vInit = perNeuron(ve, .voltage, size: size, r)
                if vInit == nil { invalid = true }
            }
            if let vTh, let vReset, vReset >= vTh {
                r.report(at: p["v_reset"], "\(paramsPath).v_reset", "must be below v_threshold (\(vTh.compact) mV), or the neuron would fire again right after its refractory period")
                invalid = true
            }
            guard let tauM, let vRest, let vTh, let vReset, !invalid else { return nil }
            return PopulationSpec(name: name, size: size, model: .lif(LIFParameters(
                tauM: tauM, vRest: vRest, vThreshold: vTh, vReset: vReset, tRef: tRef,
                tauE: tauE, tauI: tauI, rM: rM, iExt: iExt, vInit: vInit, eE: eE, eI: eI)))

        case "izhikevich":
            let p = params(izhikevichKeys)
            var base: IzhikevichParameters?
            if let e = p["preset"] {
                if let n = r.choice(e, IzhikevichParameters.presets.map(\.name)) { base = IzhikevichParameters.preset(n) }
                else { return nil }
            }
            let a = p["a"].flatMap { r.number($0) } ?? base?.a
            let b = p["b"].flatMap { r.number($0) } ?? base?.b
            let c = p["c"].flatMap { r.quantity($0, .voltage) } ?? base?.c
            let d = p["d"].flatMap { r.number($0) } ?? base?.d
            for (key, value) in [("a", a), ("b", b), ("c", c), ("d", d)] where value == nil && p[key] == nil {
                r.report(at: paramsEntry ?? item, "\(paramsPath).\(key)", "missing; give a preset (\(IzhikevichParameters.presets.map(\.name).joined(separator: ", "))) or a, b, c and d")
            }
            let iExt = p["i_ext"].map { perNeuron($0, size: size, r, example: "10") { r.number($0) } } ?? .constant(0)
            var vInit: PerNeuron?
            if let e = initEntry, let ik = r.mapping(e, allowed: ["v"]), let ve = ik["v"] { vInit = perNeuron(ve, .voltage, size: size, r) }
            var iNoise: CurrentNoise?
            var noiseValid = true
            if let e = p["i_noise"] {
                iNoise = currentNoise(e, r)
                noiseValid = iNoise != nil
            }
            guard let a, let b, let c, let d, let iExt, noiseValid else { return nil }
            return PopulationSpec(name: name, size: size, model: .izhikevich(
                IzhikevichParameters(a: a, b: b, c: c, d: d, iExt: iExt, vInit: vInit, iNoise: iNoise)))

        case "poisson":
            let p = params(["rate"])
            guard let e = p["rate"] else {
                r.report(at: paramsEntry ?? item, "\(paramsPath).rate", "missing; a poisson population needs a rate, e.g. rate: 20 Hz")
                return nil
            }
            guard let rates = perNeuron(e, .rate, size: size, r, nonNegative: true) else { return nil }
            return PopulationSpec(name: name, size: size, model: .poisson(rates: rates))

        case "input":
            if let e = paramsEntry { r.report(e, "an input population has no parameters; an encoder drives it") }
            return PopulationSpec(name: name, size: size, model: .input)
        case "analog_input":
            if let e = paramsEntry { r.report(e, "an analog_input has no parameters; a current encoder sets its values") }
            return PopulationSpec(name: name, size: size, model: .analogInput)
        case "layer":
            return layer(name: name, size: size, params: paramsEntry, inputs: keys["inputs"], item: item, r)
        case "spike_times":
            let p = params(["times"])
            guard let e = p["times"] else {
                r.report(at: paramsEntry ?? item, "\(paramsPath).times", "missing; one list of times per neuron, e.g. times: [[1 ms, 5 ms], [3 ms]]")
                return nil
            }
            guard let lists = r.sequence(e) else { return nil }
            if lists.count != size { r.report(e, "\(lists.count) lists of times for \(size) neurons; give one list per neuron") }
            var times: [[Double]] = []
            for l in lists {
                guard let ts = r.sequence(l) else { continue }
                times.append(ts.compactMap { r.quantity($0, .time, nonNegative: true) })
            }
            return PopulationSpec(name: name, size: size, model: .spikeTimes(times))
        default:
            return nil
        }
    }

    /// `{uniform: [lo, hi], every: 1 ms}`: Izhikevich's `i_noise`, plain numbers.
    static func currentNoise(_ e: Entry, _ r: DocumentReader) -> CurrentNoise? {
        let example = "e.g. i_noise: {uniform: [-6.5, 6.5], every: 1 ms}"
        guard case .mapping = e.node else { r.report(e, "expected {uniform: [lo, hi]} and optionally every: TIME, \(example)"); return nil }
        guard let keys = r.mapping(e, allowed: ["uniform", "every"]),
              let u = r.required(keys, "uniform", in: e, "the range of the noise current, \(example)"),
              let (lo, hi) = range(u, r, example: "uniform: [-6.5, 6.5]", value: { r.number($0) }) else { return nil }
        var every: Double?
        if let x = keys["every"] {
            guard let t = r.quantity(x, .time, positive: true) else { return nil }
            every = t
        }
        return CurrentNoise(lo: lo, hi: hi, every: every)
    }

    /// `[lo, hi]` with lo ≤ hi: the value of a `uniform:` key.
    static func range(_ u: Entry, _ r: DocumentReader, example: String, value: (Entry) -> Double?) -> (lo: Double, hi: Double)? {
        guard let bounds = r.sequence(u), bounds.count == 2 else {
            r.report(u, "expected [lo, hi], e.g. \(example)")
            return nil
        }
        guard let lo = value(bounds[0]), let hi = value(bounds[1]) else { return nil }
        if lo > hi { r.report(u, "lo must not exceed hi"); return nil }
        return (lo, hi)
    }

    /// A scalar, a list with one value per neuron, or `{uniform: [lo, hi]}`.
    static func perNeuron(_ e: Entry, _ dim: PhysicalDimension, size: Int, _ r: DocumentReader, nonNegative: Bool = false) -> PerNeuron? {
        perNeuron(e, size: size, r, example: dim.example) { r.quantity($0, dim, nonNegative: nonNegative) }
    }

    /// The same for values read by `value` (plain numbers, e.g. Izhikevich's `i_ext`).
    static func perNeuron(_ e: Entry, size: Int, _ r: DocumentReader, example: String,
                          value: (Entry) -> Double?) -> PerNeuron? {
        switch e.node {
        case .scalar:
            return value(e).map { .constant($0) }
        case .sequence:
            guard let items = r.sequence(e) else { return nil }
            if items.count != size {
                r.report(e, "\(items.count) values for \(size) neurons; give one value, one per neuron, or {uniform: [lo, hi]}")
                return nil
            }
            let values = items.compactMap(value)
            return values.count == size ? .values(values) : nil
        case .mapping:
            guard let keys = r.mapping(e, allowed: ["uniform"]), let u = keys["uniform"],
                  let (lo, hi) = range(u, r, example: "uniform: [-60 mV, -50 mV]", value: value) else { return nil }
            return .uniform(lo, hi)
        default:
            r.report(e, "expected a value such as '\(example)', a list, or {uniform: [lo, hi]}")
            return nil
        }
    }

    // MARK: Projections

    static let rules = ["all_to_all", "one_to_one", "fixed_probability", "fixed_indegree", "list"]

    static func projection(_ item: Entry, _ r: DocumentReader, sizes: [String: Int], models: [String: NeuronModel],
                           declared: Set<String>) -> ProjectionSpec? {
        guard let keys = r.mapping(item, allowed: ["name", "from", "to", "target", "connect", "weight", "delay", "plasticity"]) else { return nil }
        let known = declared.sorted().joined(separator: ", ")
        func population(_ key: String) -> String? {
            guard let e = r.required(keys, key, in: item, "the name of a population (\(known))"), let n = r.string(e) else { return nil }
            guard sizes[n] != nil else {
                if !declared.contains(n) { r.report(e, "no population named '\(n)'; defined: \(known)") }
                return nil
            }
            return n
        }
        let source = population("from"), target = population("to")
        let variableName = r.required(keys, "target", in: item, "the variable to add to: v, g_e or g_i").flatMap {
            r.choice($0, TargetVariable.allCases.map(\.rawValue))
        }
        var variable = variableName.flatMap(TargetVariable.init(rawValue:))
        if let target, let v = variable, let model = models[target], !model.targets.contains(v) {
            let valid = model.targets.map(\.rawValue)
            r.report(keys["target"]!, "a \(model.name) population cannot be a target of '\(v.rawValue)'; valid: \(valid.isEmpty ? "none (it is a spike source)" : valid.joined(separator: ", "))")
            variable = nil
        }
        if let target, let v = variable, case .lif(let p) = models[target] {
            if v == .ge, p.tauE == nil { r.report(keys["target"]!, "population '\(target)' has no tau_e; add tau_e to its params to use g_e"); variable = nil }
            if v == .gi, p.tauI == nil { r.report(keys["target"]!, "population '\(target)' has no tau_i; add tau_i to its params to use g_i"); variable = nil }
        }

        var rule: ConnectionRule?
        var excludeSelf = false
        if let c = r.required(keys, "connect", in: item, "a connection rule, e.g. {rule: fixed_probability, p: 0.1}"),
           let ck = r.mapping(c, allowed: ["rule", "p", "k", "pairs", "exclude_self"]) {
            if let e = ck["exclude_self"], let b = r.bool(e) { excludeSelf = b }
            switch r.required(ck, "rule", in: c, "one of \(rules.joined(separator: ", "))").flatMap({ r.choice($0, rules) }) {
            case "all_to_all": rule = .allToAll
            case "one_to_one":
                rule = .oneToOne
                if let s = source, let t = target, sizes[s] != sizes[t] {
                    r.report(c, "one_to_one needs equal sizes; '\(s)' has \(sizes[s]!) and '\(t)' has \(sizes[t]!)")
                    rule = nil
                }
            case "fixed_probability":
                if let e = r.required(ck, "p", in: c, "a probability in [0, 1]"), let p = r.number(e, min: 0, max: 1) { rule = .fixedProbability(p) }
            case "fixed_indegree":
                if let e = r.required(ck, "k", in: c, "the number of inputs per target neuron"), let k = r.integer(e, min: 0) {
                    if let s = source, let n = sizes[s], k > n {
                        r.report(e, "k = \(k) but '\(s)' has only \(n) neurons")
                    } else { rule = .fixedIndegree(k) }
                }
            case "list":
                if let e = r.required(ck, "pairs", in: c, "a list of [pre, post] index pairs"), let items = r.sequence(e) {
                    var pairs: [(Int, Int)] = []
                    var ok = true
                    for it in items {
                        guard let ij = r.sequence(it), ij.count == 2, let i = r.integer(ij[0], min: 0), let j = r.integer(ij[1], min: 0) else {
                            if case .sequence(let s) = it.node, s.count != 2 { r.report(it, "expected [pre, post]") }
                            ok = false
                            continue
                        }
                        if let s = source, let n = sizes[s], i >= n { r.report(it, "pre index \(i) is outside '\(s)' (0..<\(n))"); ok = false }
                        if let t = target, let n = sizes[t], j >= n { r.report(it, "post index \(j) is outside '\(t)' (0..<\(n))"); ok = false }
                        pairs.append((i, j))
                    }
                    if ok { rule = .list(pairs) }
                }
            default: break
            }
        }
        // Into a synapse with a reversal potential, weights are conductances (plain numbers, ≥ 0).
        var weightDimension = PhysicalDimension.voltage
        if let target, let v = variable, case .lif(let p) = models[target], (v == .ge && p.eE != nil) || (v == .gi && p.eI != nil) {
            weightDimension = .conductance
        }
        let unit = weightDimension == .conductance ? "" : " mV"
        let weight = r.required(keys, "weight", in: item, weightDimension == .conductance
                                ? "a conductance in units of the leak (a plain number ≥ 0), e.g. 0.6 or {uniform: [0.2, 0.4]}"
                                : "a weight such as '0.5 mV' or {uniform: [0.2 mV, 0.4 mV]}").flatMap {
            synapseValues($0, weightDimension, r, nonNegative: weightDimension == .conductance)
        }
        let delay = keys["delay"].map { synapseValues($0, .time, r, nonNegative: true) } ?? .constant(0)
        var plasticity: Plasticity?? = .some(nil)
        if let e = keys["plasticity"] {
            plasticity = self.plasticity(e, r, weight: weightDimension).map { .some($0) }
            if let rule = plasticity??.timing, let w = weight?.bounds, w.lo < rule.wMin || w.hi > rule.wMax {
                r.report(keys["weight"]!, "initial weights lie in [\(w.lo.compact), \(w.hi.compact)]\(unit), outside the plasticity's [w_min, w_max] = [\(rule.wMin.compact), \(rule.wMax.compact)]\(unit)")
                plasticity = nil
            } else if weightDimension == .conductance, let rule = plasticity??.timing, rule.wMin < 0 {
                r.report(keys["plasticity"]!, "w_min \(rule.wMin.compact) is negative; a conductance cannot be")
                plasticity = nil
            }
        }
        guard let source, let target, let variable, let rule, let weight, let delay, let plasticity else { return nil }
        let name = keys["name"].flatMap(r.string)
        return ProjectionSpec(name: name, source: source, target: target, variable: variable, rule: rule,
                              excludeSelf: excludeSelf, weight: weight, delay: delay, plasticity: plasticity)
    }

    static let plasticityRules = ["stdp", "reward_stdp"]

    /// `plasticity: {rule: stdp, a_pre, a_post, tau_pre, tau_post, w_min, w_max, pairing, update}`;
    /// `reward_stdp` adds `tau_c`, `tau_d`, `baseline` and `baseline_tau` and takes additive updates only.
    /// `weight`: the dimension of the projection's weights (and so of `a_pre`, `a_post`, `w_min`, `w_max`).
    static func plasticity(_ e: Entry, _ r: DocumentReader, weight: PhysicalDimension = .voltage) -> Plasticity? {
        let u = weight == .conductance ? "" : " mV"
        let timingKeys = ["rule", "a_pre", "a_post", "tau_pre", "tau_post", "w_min", "w_max", "pairing", "update"]
        guard let keys = r.mapping(e, allowed: timingKeys + ["tau_c", "tau_d", "baseline", "baseline_tau"]) else { return nil }
        guard let ruleName = r.required(keys, "rule", in: e, "one of \(plasticityRules.joined(separator: ", "))")
            .flatMap({ r.choice($0, plasticityRules) }) else { return nil }
        let rewarded = ruleName == "reward_stdp"
        if !rewarded {
            for key in ["tau_c", "tau_d", "baseline", "baseline_tau"] {
                if let x = keys[key] { r.report(x, "\(key) belongs to rule reward_stdp, not stdp") }
            }
        }
        func value(_ key: String, _ dim: PhysicalDimension, _ what: String, positive: Bool = false) -> Double? {
            guard let x = r.required(keys, key, in: e, what) else { return nil }
            return r.quantity(x, dim, positive: positive)
        }
        let aPre = value("a_pre", weight, "the presynaptic trace's increment, in the weight's unit, e.g. '0.01\(u)'")
        let aPost = value("a_post", weight, "the postsynaptic trace's increment (negative for depression), e.g. '-0.0105\(u)'")
        let tauPre = value("tau_pre", .time, "the presynaptic trace's time constant, e.g. '20 ms'", positive: true)
        let tauPost = value("tau_post", .time, "the postsynaptic trace's time constant, e.g. '20 ms'", positive: true)
        let wMin = value("w_min", weight, "the smallest weight, e.g. '0\(u)'")
        let wMax = value("w_max", weight, "the largest weight, e.g. '1\(u)'")
        var pairing = STDPRule.Pairing.allToAll, update = STDPRule.Update.additive
        var ok = true
        if let x = keys["pairing"] {
            if let c = r.choice(x, STDPRule.Pairing.allCases.map(\.rawValue)) { pairing = .init(rawValue: c)! } else { ok = false }
        }
        if let x = keys["update"] {
            if let c = r.choice(x, STDPRule.Update.allCases.map(\.rawValue)) { update = .init(rawValue: c)! } else { ok = false }
        }
        var tauC: Double? = nil, tauD: Double? = nil, baseline = 0.0, baselineTau: Double? = nil
        if rewarded {
            tauC = value("tau_c", .time, "the eligibility trace's time constant, e.g. '1 s'", positive: true)
            tauD = value("tau_d", .time, "the reward signal's time constant, e.g. '200 ms'", positive: true)
            if let x = keys["baseline"] {
                if let b = r.quantity(x, .rate) { baseline = b / 1000 } else { ok = false }
            }
            if let x = keys["baseline_tau"] {
                if let t = r.quantity(x, .time, positive: true) { baselineTau = t } else { ok = false }
            }
            if update == .multiplicative {
                r.report(keys["update"]!, "reward_stdp takes additive updates only")
                ok = false
            }
        }
        guard ok, let aPre, let aPost, let tauPre, let tauPost, let wMin, let wMax else { return nil }
        guard wMin <= wMax else {
            r.report(keys["w_max"]!, "w_max \(wMax.compact)\(u) is below w_min \(wMin.compact)\(u)")
            return nil
        }
        let timing = STDPRule(aPre: aPre, aPost: aPost, tauPre: tauPre, tauPost: tauPost, wMin: wMin, wMax: wMax,
                              pairing: pairing, update: update)
        guard rewarded else { return .stdp(timing) }
        guard let tauC, let tauD else { return nil }
        return .rewardSTDP(RewardSTDPRule(timing: timing, tauC: tauC, tauD: tauD, baseline: baseline,
                                                   baselineTau: baselineTau))
    }

    static func synapseValues(_ e: Entry, _ dim: PhysicalDimension, _ r: DocumentReader, nonNegative: Bool) -> SynapseValues? {
        switch e.node {
        case .scalar:
            return r.quantity(e, dim, nonNegative: nonNegative).map { .constant($0) }
        case .mapping:
            guard let keys = r.mapping(e, allowed: ["uniform", "normal", "list"]) else { return nil }
            guard keys.count == 1 else {
                r.report(e, "give exactly one of uniform, normal, list")
                return nil
            }
            if let u = keys["uniform"] {
                return range(u, r, example: "uniform: [\(dim.example), \(dim.example)]") {
                    r.quantity($0, dim, nonNegative: nonNegative)
                }.map { .uniform($0.lo, $0.hi) }
            }
            if let n = keys["normal"] {
                guard let nk = r.mapping(n, allowed: ["mean", "sd", "min", "max"]) else { return nil }
                func q(_ k: String) -> Double? {
                    guard let x = r.required(nk, k, in: n, "normal needs mean, sd, min and max") else { return nil }
                    return r.quantity(x, dim, nonNegative: nonNegative || k == "sd")
                }
                guard let mean = q("mean"), let sd = q("sd"), let lo = q("min"), let hi = q("max") else { return nil }
                if lo > hi { r.report(n, "min must not exceed max"); return nil }
                return .clippedNormal(mean: mean, sd: sd, min: lo, max: hi)
            }
            if let l = keys["list"], let items = r.sequence(l) {
                let xs = items.compactMap { r.quantity($0, dim, nonNegative: nonNegative) }
                return xs.count == items.count ? .values(xs) : nil
            }
            return nil
        default:
            r.report(e, "expected a value such as '\(dim.example)', {uniform: [lo, hi]}, {normal: {...}} or {list: [...]}")
            return nil
        }
    }
}
