import Coding
import Neural
import NetworkFile

/// Reads the `encoders:` and `decoders:` sections of a controller
/// configuration (keys in docs/coding.md) and checks that every sensor and
/// motor channel is mapped exactly once.
enum CodingReader {
    static let encoderKinds = ["rate", "receptive_fields", "latency", "send_on_delta", "current", "ignore"]
    static let decoderKinds = ["windowed_rate", "filtered_rate", "population_vector", "push_pull", "winner_take_all", "membrane"]
    static let encoderKeys = ["sensor", "kind", "population", "neurons", "range", "process", "min_rate", "max_rate",
                              "width", "mapping", "dynamic_range", "window", "threshold", "thresholds",
                              "min_current", "max_current", "gains"]
    static let decoderKeys = ["motor", "kind", "population", "neurons", "range", "window", "tau", "min_rate", "max_rate",
                              "preferred", "fallback", "opposing", "opposing_neurons", "gain", "offset", "filter",
                              "rule", "group_size", "actions", "v_min", "v_max"]

    static func encoders(_ list: [Entry], _ r: DocumentReader, robot: RobotDescription, network: NetworkSpec,
                         stepsPerTick: Int, parent: Entry) -> [EncoderSpec] {
        var specs: [EncoderSpec] = []
        var mapped: [String: Entry] = [:]
        let names = robot.sensors.map(\.name)
        for item in list {
            guard let k = r.mapping(item, allowed: encoderKeys) else { continue }
            guard let sensorEntry = r.required(k, "sensor", in: item, "a sensor channel of the robot: \(names.joined(separator: ", "))"),
                  let sensor = r.string(sensorEntry) else { continue }
            guard let channel = robot.sensors.first(where: { $0.name == sensor }) else {
                r.report(sensorEntry, "the robot has no sensor '\(sensor)'; sensors: \(names.joined(separator: ", "))")
                continue
            }
            if mapped[sensor] != nil {
                r.report(sensorEntry, "sensor '\(sensor)' is mapped twice; map each sensor exactly once")
                continue
            }
            mapped[sensor] = item
            guard let kind = r.required(k, "kind", in: item, "one of \(encoderKinds.joined(separator: ", "))").flatMap({ r.choice($0, encoderKinds) }) else { continue }
            if kind == "ignore" { continue }
            guard let population = r.required(k, "population", in: item, "the population this sensor drives").flatMap(r.string) else { continue }
            let range = k["range"].flatMap { RobotDescription.readRange($0, r) } ?? (channel.min, channel.max)
            let neurons = k["neurons"].flatMap { slice($0, r) }
            let process = k["process"].flatMap { r.choice($0, EncoderSpec.Process.allCases.map(\.rawValue)) }.flatMap(EncoderSpec.Process.init) ?? .poisson
            func rate(_ key: String) -> Double? { k[key].flatMap { r.quantity($0, .rate, nonNegative: true) } }
            func need<T>(_ key: String, _ what: String, _ read: (Entry) -> T?) -> T? {
                guard let e = k[key] else { r.report(at: item, item.child(key), "missing; \(kind) needs \(what)"); return nil }
                return read(e)
            }
            var spec: EncoderSpec.Kind?
            switch kind {
            case "rate":
                if let maxRate = need("max_rate", "max_rate, e.g. 200 Hz", { r.quantity($0, .rate, nonNegative: true) }) {
                    spec = .rate(.init(process: process, minRate: rate("min_rate") ?? 0, maxRate: maxRate))
                }
            case "receptive_fields":
                if let maxRate = need("max_rate", "max_rate, e.g. 200 Hz", { r.quantity($0, .rate, nonNegative: true) }) {
                    spec = .receptiveFields(.init(process: process, maxRate: maxRate, width: k["width"].flatMap { r.number($0) }))
                }
            case "latency":
                var mapping: EncoderSpec.Latency.Mapping = .linear
                if let m = k["mapping"].flatMap({ r.choice($0, ["linear", "logarithmic"]) }), m == "logarithmic" {
                    guard let d = need("dynamic_range", "dynamic_range (> 1) for a logarithmic mapping", { r.number($0) }) else { continue }
                    mapping = .logarithmic(dynamicRange: d)
                }
                spec = .latency(.init(mapping: mapping, window: k["window"].flatMap { r.quantity($0, .time, positive: true) }))
            case "send_on_delta":
                if let e = k["threshold"], let x = r.number(e) { spec = .sendOnDelta(.init(threshold: x)) }
                else if let e = k["thresholds"], let items = r.sequence(e) {
                    let xs = items.compactMap { r.number($0) }
                    if xs.count == items.count { spec = .sendOnDelta(.init(thresholds: xs)) }
                } else { r.report(at: item, item.child("threshold"), "missing; send_on_delta needs threshold (or thresholds: [...]) in the sensor's unit") }
            case "current":
                if let maxCurrent = need("max_current", "max_current, e.g. 2 nA", { r.quantity($0, .current) }) {
                    let gains = k["gains"].flatMap { e -> [Double]? in
                        guard let items = r.sequence(e) else { return nil }
                        let xs = items.compactMap { r.number($0) }
                        return xs.count == items.count ? xs : nil
                    }
                    spec = .current(.init(minCurrent: k["min_current"].flatMap { r.quantity($0, .current) } ?? 0, maxCurrent: maxCurrent, gains: gains))
                }
            default: break
            }
            guard let spec else { continue }
            let encoder = EncoderSpec(channel: sensor, population: population, neurons: neurons,
                                      min: Double(range.0), max: Double(range.1), kind: spec)
            let problems = encoder.problems(in: network, stepsPerTick: stepsPerTick)
            for p in problems { r.report(at: k[p.key] ?? item, item.child(p.key), p.message) }
            if problems.isEmpty { specs.append(encoder) }
        }
        for s in robot.sensors where mapped[s.name] == nil {
            r.report(parent, "sensor '\(s.name)' has no encoder; map every sensor once (kind: ignore to leave one unused)")
        }
        return specs
    }

    static func decoders(_ list: [Entry], _ r: DocumentReader, robot: RobotDescription, network: NetworkSpec,
                         stepsPerTick: Int, parent: Entry) -> [DecoderSpec] {
        var specs: [DecoderSpec] = []
        var mapped: [String: Entry] = [:]
        let names = robot.motors.map(\.name)
        for item in list {
            guard let k = r.mapping(item, allowed: decoderKeys) else { continue }
            guard let motorEntry = r.required(k, "motor", in: item, "a motor channel of the robot: \(names.joined(separator: ", "))"),
                  let motor = r.string(motorEntry) else { continue }
            guard let channel = robot.motors.first(where: { $0.name == motor }) else {
                r.report(motorEntry, "the robot has no motor '\(motor)'; motors: \(names.joined(separator: ", "))")
                continue
            }
            if mapped[motor] != nil {
                r.report(motorEntry, "motor '\(motor)' is mapped twice; map each motor exactly once")
                continue
            }
            mapped[motor] = item
            guard let kind = r.required(k, "kind", in: item, "one of \(decoderKinds.joined(separator: ", "))").flatMap({ r.choice($0, decoderKinds) }),
                  let population = r.required(k, "population", in: item, "the population this motor is read from").flatMap(r.string) else { continue }
            let range = k["range"].flatMap { RobotDescription.readRange($0, r) } ?? (channel.min, channel.max)
            let neurons = k["neurons"].flatMap { slice($0, r) }
            func need<T>(_ key: String, _ what: String, _ read: (Entry) -> T?) -> T? {
                guard let e = k[key] else { r.report(at: item, item.child(key), "missing; \(kind) needs \(what)"); return nil }
                return read(e)
            }
            let minRate = k["min_rate"].flatMap { r.quantity($0, .rate, nonNegative: true) }
            let fallback = k["fallback"].flatMap { r.number($0) }
            var spec: DecoderSpec.Kind?
            switch kind {
            case "windowed_rate":
                if let w = need("window", "a window, e.g. window: 50 ms or window: {ticks: 20}", { window($0, r) }),
                   let maxRate = need("max_rate", "max_rate, e.g. 100 Hz", { r.quantity($0, .rate, nonNegative: true) }) {
                    spec = .windowedRate(.init(window: w, minRate: minRate ?? 0, maxRate: maxRate))
                }
            case "filtered_rate":
                if let tau = need("tau", "tau, e.g. 20 ms", { r.quantity($0, .time, positive: true) }),
                   let maxRate = need("max_rate", "max_rate, e.g. 100 Hz", { r.quantity($0, .rate, nonNegative: true) }) {
                    spec = .filteredRate(.init(tau: tau, minRate: minRate ?? 0, maxRate: maxRate))
                }
            case "population_vector":
                if let tau = need("tau", "tau, e.g. 20 ms", { r.quantity($0, .time, positive: true) }) {
                    let preferred = k["preferred"].flatMap { numbers($0, r) }
                    spec = .populationVector(.init(tau: tau, preferred: preferred, minRate: minRate ?? 1, fallback: fallback))
                }
            case "push_pull":
                if let opposing = need("opposing", "the opposing population", { r.string($0) }),
                   let gain = need("gain", "gain, in motor units per Hz", { r.number($0) }),
                   let filter = need("filter", "filter: {tau: 20 ms} or {window: 50 ms}", { rateFilter($0, r) }) {
                    spec = .pushPull(.init(opposing: opposing, opposingNeurons: k["opposing_neurons"].flatMap { slice($0, r) },
                                           gain: gain, offset: k["offset"].flatMap { r.number($0) }, filter: filter))
                }
            case "winner_take_all":
                if let actions = need("actions", "actions: one motor value per group", { numbers($0, r) }) {
                    let rule = k["rule"].flatMap { r.choice($0, DecoderSpec.WinnerTakeAll.Rule.allCases.map(\.rawValue)) }
                        .flatMap(DecoderSpec.WinnerTakeAll.Rule.init) ?? .firstSpike
                    spec = .winnerTakeAll(.init(rule: rule, groupSize: k["group_size"].flatMap { r.integer($0, min: 1) } ?? 1,
                                                actions: actions, fallback: fallback))
                }
            case "membrane":
                if let lo = need("v_min", "v_min, e.g. -70 mV", { r.quantity($0, .voltage) }),
                   let hi = need("v_max", "v_max, e.g. -50 mV", { r.quantity($0, .voltage) }) {
                    spec = .membrane(.init(vMin: lo, vMax: hi))
                }
            default: break
            }
            guard let spec else { continue }
            let decoder = DecoderSpec(channel: motor, population: population, neurons: neurons,
                                      min: Double(range.0), max: Double(range.1), kind: spec)
            let problems = decoder.problems(in: network, stepsPerTick: stepsPerTick)
            for p in problems { r.report(at: k[p.key] ?? item, item.child(p.key), p.message) }
            if problems.isEmpty { specs.append(decoder) }
        }
        for m in robot.motors where mapped[m.name] == nil {
            r.report(parent, "motor '\(m.name)' has no decoder; map every motor exactly once")
        }
        return specs
    }

    /// `[first, end)` neuron indices.
    static func slice(_ e: Entry, _ r: DocumentReader) -> Range<Int>? {
        guard let b = r.sequence(e), b.count == 2, let lo = r.integer(b[0], min: 0), let hi = r.integer(b[1], min: 0) else {
            r.report(e, "expected [first, end), e.g. neurons: [0, 10]")
            return nil
        }
        guard lo < hi else { r.report(e, "first (\(lo)) must be below end (\(hi))"); return nil }
        return lo..<hi
    }

    static func numbers(_ e: Entry, _ r: DocumentReader) -> [Double]? {
        guard let items = r.sequence(e) else { return nil }
        let xs = items.compactMap { r.number($0) }
        return xs.count == items.count ? xs : nil
    }

    /// `50 ms` or `{ticks: 20}`.
    static func window(_ e: Entry, _ r: DocumentReader) -> DecoderSpec.Window? {
        if case .scalar = e.node { return r.quantity(e, .time, positive: true).map { .milliseconds($0) } }
        guard let k = r.mapping(e, allowed: ["ticks"]), let t = k["ticks"] else { return nil }
        return r.integer(t, min: 1).map { .ticks($0) }
    }

    /// `{tau: 20 ms}` or `{window: 50 ms}` / `{window: {ticks: 20}}`.
    static func rateFilter(_ e: Entry, _ r: DocumentReader) -> DecoderSpec.RateFilter? {
        guard let k = r.mapping(e, allowed: ["tau", "window"]) else { return nil }
        if let t = k["tau"] { return r.quantity(t, .time, positive: true).map { .exponential(tau: $0) } }
        if let w = k["window"] { return window(w, r).map { .window($0) } }
        r.report(e, "expected {tau: 20 ms} or {window: 50 ms}")
        return nil
    }
}
