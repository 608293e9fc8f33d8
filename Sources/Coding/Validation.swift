import Neural

/// One inconsistency in an encoder or decoder description. `key` is the
/// configuration key it concerns, relative to the encoder's or decoder's entry
/// (`max_rate`, `neurons`, `opposing`, …), so that the configuration parser
/// can name the file, line and full key path.
public struct CodingProblem: Sendable, Equatable, CustomStringConvertible {
    public var key: String
    public var message: String

    public init(key: String, message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { "\(key): \(message)" }
}

/// Thrown when an encoder or decoder cannot be built for a network; carries
/// every problem found, not only the first.
public struct CodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `encoder 'CHANNEL'` or `decoder 'CHANNEL'`.
    public var subject: String
    public var problems: [CodingProblem]

    public var description: String {
        problems.map { "\(subject): \($0)" }.joined(separator: "\n")
    }
}

/// Collects problems; shared by the encoder and decoder checks.
struct ProblemList {
    var items: [CodingProblem] = []

    mutating func add(_ key: String, _ message: String) {
        items.append(CodingProblem(key: key, message: message))
    }

    mutating func finite(_ x: Double, _ key: String, _ what: String) {
        if !x.isFinite { add(key, "\(what) must be a finite number, got \(x)") }
    }

    mutating func positive(_ x: Double, _ key: String, _ what: String) {
        if !(x > 0 && x.isFinite) { add(key, "\(what) must be > 0, got \(x)") }
    }

    mutating func range(min: Double, max: Double, what: String) {
        finite(min, "min", "the \(what) minimum")
        finite(max, "max", "the \(what) maximum")
        if min.isFinite, max.isFinite, !(min < max) {
            add("max", "the \(what) range needs min < max, got [\(min), \(max)]")
        }
    }

    mutating func rate(_ hz: Double, _ key: String, dt: Double) {
        if !(hz >= 0 && hz.isFinite) {
            add(key, "a rate must be ≥ 0 Hz, got \(hz) Hz")
        } else if hz * dt / 1000 > 1 {
            add(key, "\(hz) Hz is above one spike per step (1/dt = \(1000 / dt) Hz)")
        }
    }

    /// The population named `name` and the slice of it, or nil (with a problem).
    mutating func slice(of name: String, _ neurons: Range<Int>?, in network: NetworkSpec,
                        populationKey: String, neuronsKey: String) -> (model: NeuronModel, slice: Range<Int>)? {
        guard let population = network.populations.first(where: { $0.name == name }) else {
            let names = network.populations.map { "'\($0.name)'" }.joined(separator: ", ")
            add(populationKey, "no population named '\(name)'; the network has \(names.isEmpty ? "none" : names)")
            return nil
        }
        let all = 0..<population.size
        guard let neurons else { return (population.model, all) }
        guard !neurons.isEmpty, neurons.lowerBound >= 0, neurons.upperBound <= population.size else {
            add(neuronsKey, "neurons \(neurons.lowerBound)..<\(neurons.upperBound) are not a non-empty part of '\(name)', which has neurons 0..<\(population.size)")
            return nil
        }
        return (population.model, neurons)
    }

    mutating func filter(_ f: DecoderSpec.RateFilter, key: String, dt: Double) {
        switch f {
        case .exponential(let tau): positive(tau, key == "filter" ? "filter.tau" : key, "tau")
        case .window(let w): window(w, key: key == "filter" ? "filter.window" : key, dt: dt)
        }
    }

    mutating func window(_ w: DecoderSpec.Window, key: String, dt: Double) {
        switch w {
        case .ticks(let n):
            if n < 1 { add(key, "a window needs at least 1 tick, got \(n)") }
        case .milliseconds(let ms):
            if !(ms.isFinite && (ms / dt).rounded() >= 1) {
                add(key, "a window needs at least one step (dt = \(dt) ms), got \(ms) ms")
            }
        }
    }
}

extension EncoderSpec {
    /// Every problem that stops this encoder from driving `network` with ticks
    /// of `stepsPerTick` steps; empty when it can be built.
    public func problems(in network: NetworkSpec, stepsPerTick: Int) -> [CodingProblem] {
        var p = ProblemList()
        let dt = network.dt
        if stepsPerTick < 1 { p.add("period", "a tick needs at least one step, got \(stepsPerTick)") }
        p.range(min: min, max: max, what: "sensor")
        let target = p.slice(of: population, neurons, in: network, populationKey: "population", neuronsKey: "neurons")

        func requireModel(_ valid: [String]) {
            guard let target, !valid.contains(target.model.name) else { return }
            p.add("population", "a \(kind.name) encoder drives \(valid.map { "'\($0)'" }.joined(separator: " or ")) populations; '\(population)' is '\(target.model.name)'")
        }
        func spikeSource(_ process: Process) {
            requireModel(["input", "poisson"])
            if let target, target.model.name == "poisson", process == .regular {
                p.add("process", "a 'poisson' population draws its own Bernoulli spikes; the regular process needs an 'input' population")
            }
        }

        switch kind {
        case .rate(let r):
            spikeSource(r.process)
            p.rate(r.minRate, "min_rate", dt: dt)
            p.rate(r.maxRate, "max_rate", dt: dt)
        case .receptiveFields(let r):
            spikeSource(r.process)
            p.rate(r.maxRate, "max_rate", dt: dt)
            if let w = r.width { p.positive(w, "width", "the field width σ") }
        case .latency(let l):
            requireModel(["input"])
            if let w = l.window {
                let steps = (w / dt).rounded()
                if !(w.isFinite && steps >= 1 && Int(steps) <= Swift.max(stepsPerTick, 1)) {
                    p.add("window", "the latency window must span 1 to \(stepsPerTick) steps (one tick), got \(w) ms")
                }
            }
            if case .logarithmic(let d) = l.mapping, !(d > 1 && d.isFinite) {
                p.add("dynamic_range", "the dynamic range must be > 1, got \(d)")
            }
        case .sendOnDelta(let s):
            requireModel(["input"])
            if s.thresholds.isEmpty { p.add("thresholds", "at least one threshold is needed") }
            for θ in s.thresholds { p.positive(θ, "thresholds", "a threshold") }
            if let target, !s.thresholds.isEmpty, target.slice.count != 2 * s.thresholds.count {
                p.add("neurons", "send-on-delta with \(s.thresholds.count) threshold(s) drives \(2 * s.thresholds.count) neurons (increase, then decrease), but the slice has \(target.slice.count)")
            }
        case .current(let c):
            requireModel(["lif", "analog_input"])
            p.finite(c.minCurrent, "min_current", "min_current")
            p.finite(c.maxCurrent, "max_current", "max_current")
            if let gains = c.gains {
                for g in gains { p.finite(g, "gains", "a gain") }
                if let target, gains.count != target.slice.count {
                    p.add("gains", "one gain per driven neuron is needed: \(target.slice.count), got \(gains.count)")
                }
            }
        }
        return p.items
    }
}

extension DecoderSpec {
    /// Every problem that stops this decoder from reading `network` with ticks
    /// of `stepsPerTick` steps; empty when it can be built.
    public func problems(in network: NetworkSpec, stepsPerTick: Int) -> [CodingProblem] {
        var p = ProblemList()
        let dt = network.dt
        if stepsPerTick < 1 { p.add("period", "a tick needs at least one step, got \(stepsPerTick)") }
        p.range(min: min, max: max, what: "motor")
        let source = p.slice(of: population, neurons, in: network, populationKey: "population", neuronsKey: "neurons")

        func rates(_ lo: Double, _ hi: Double) {
            p.finite(lo, "min_rate", "min_rate")
            p.finite(hi, "max_rate", "max_rate")
            if lo.isFinite, hi.isFinite, lo == hi { p.add("max_rate", "min_rate and max_rate must differ, both are \(lo) Hz") }
        }
        func inRange(_ x: Double?, _ key: String) {
            guard let x else { return }
            p.finite(x, key, key)
        }

        switch kind {
        case .windowedRate(let w):
            p.window(w.window, key: "window", dt: dt)
            rates(w.minRate, w.maxRate)
        case .filteredRate(let f):
            p.positive(f.tau, "tau", "tau")
            rates(f.minRate, f.maxRate)
        case .populationVector(let v):
            p.positive(v.tau, "tau", "tau")
            if let preferred = v.preferred {
                for μ in preferred { p.finite(μ, "preferred", "a preferred value") }
                if let source, preferred.count != source.slice.count {
                    p.add("preferred", "one preferred value per read neuron is needed: \(source.slice.count), got \(preferred.count)")
                }
            }
            if !(v.minRate >= 0 && v.minRate.isFinite) { p.add("min_rate", "min_rate must be ≥ 0 Hz, got \(v.minRate)") }
            inRange(v.fallback, "fallback")
        case .pushPull(let q):
            _ = p.slice(of: q.opposing, q.opposingNeurons, in: network, populationKey: "opposing", neuronsKey: "opposing_neurons")
            p.finite(q.gain, "gain", "gain")
            inRange(q.offset, "offset")
            p.filter(q.filter, key: "filter", dt: dt)
        case .winnerTakeAll(let w):
            if w.groupSize < 1 {
                p.add("group_size", "group_size must be ≥ 1, got \(w.groupSize)")
            } else if let source {
                let n = source.slice.count
                if n % w.groupSize != 0 {
                    p.add("group_size", "group_size \(w.groupSize) does not divide the \(n) read neurons")
                } else if w.actions.count != n / w.groupSize {
                    p.add("actions", "one action per group is needed: \(n / w.groupSize), got \(w.actions.count)")
                }
            }
            for a in w.actions { p.finite(a, "actions", "an action") }
            inRange(w.fallback, "fallback")
        case .membrane(let m):
            if let source, !["lif", "izhikevich", "layer"].contains(source.model.name) {
                p.add("population", "membrane readout needs a 'lif', 'izhikevich' or 'layer' population; '\(population)' is '\(source.model.name)'")
            }
            p.finite(m.vMin, "v_min", "v_min")
            p.finite(m.vMax, "v_max", "v_max")
            if m.vMin.isFinite, m.vMax.isFinite, m.vMin == m.vMax { p.add("v_max", "v_min and v_max must differ, both are \(m.vMin) mV") }
        }
        return p.items
    }
}
