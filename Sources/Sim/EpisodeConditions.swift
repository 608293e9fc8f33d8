// Where an episode starts beyond its seed: state components set exactly
// (`simulator.initial_state`) and plant parameters drawn for each episode
// (`simulator.randomize`), from the robot file or `spikeloop sim --set`.

/// Exact initial state components and per-episode parameter ranges of a
/// model; errors name the file (or `--set`), the key and what is valid.
public struct EpisodeConditions: Sendable, Equatable {
    /// State components (the model's `initialStateKeys`) every episode starts from.
    public var initialState: [String: Double] = [:]
    /// Parameters drawn uniformly in [lo, hi] for each episode, in file order.
    public var randomized: [Range] = []

    public struct Range: Sendable, Equatable {
        public var key: String
        public var lo: Double
        public var hi: Double
    }

    public init<M: SimModel>(_ p: SimParameters, model: M.Type) throws {
        if let node = p.mapping["initial_state"] {
            let here = p.location("initial_state")
            let valid = M.initialStateKeys.joined(separator: ", ")
            guard let m = node.mapping else {
                throw SimError("\(here): expected {component: value, …} of \(valid), e.g. {\(M.initialStateKeys[0]): 0.1}")
            }
            for (k, v) in m {
                let key = k.string ?? "?"
                guard M.initialStateKeys.contains(key) else { throw SimError("\(here).\(key): unknown; a \(M.modelName) starts from \(valid)") }
                guard let x = v.float, x.isFinite else {
                    throw SimError("\(here).\(key): '\(v.string ?? "")' is not a number (SI units: m, m/s, rad, rad/s)")
                }
                initialState[key] = x
            }
        }
        if let node = p.mapping["randomize"] {
            let here = p.location("randomize")
            let keys = M.parameterKeys.filter { !$0.hasPrefix("init_") }
            guard let m = node.mapping else {
                throw SimError("\(here): expected {parameter: {uniform: [lo, hi]}, …}, e.g. {\(keys[0]): {uniform: [0.9, 1.1]}}")
            }
            for (k, v) in m {
                let key = k.string ?? "?"
                guard keys.contains(key) else {
                    throw SimError("\(here).\(key): not a parameter that can vary; this model's: \(keys.joined(separator: ", "))")
                }
                guard let bounds = v.mapping?["uniform"]?.sequence, v.mapping?.count == 1, bounds.count == 2,
                      let lo = bounds[0].float, let hi = bounds[1].float, lo.isFinite, hi.isFinite, lo <= hi else {
                    throw SimError("\(here).\(key): expected {uniform: [lo, hi]} with lo ≤ hi, e.g. {uniform: [0.9, 1.1]}")
                }
                randomized.append(Range(key: key, lo: lo, hi: hi))
            }
            // Both ends must make a valid model (masses positive, …).
            for r in randomized {
                for x in [r.lo, r.hi] {
                    do { _ = try M(parameters: p.setting([(r.key, x)])) } catch let e as SimError {
                        throw SimError("\(here).\(r.key): the bound \(x) makes no valid model (\(e.description))")
                    }
                }
            }
        }
    }

    /// The parameters of the episode with this seed. Drawn from a stream of
    /// their own, so that randomising them does not move the initial state.
    public func draw(seed: UInt64) -> [(String, Double)] {
        var random = SimRandom(seed: seed ^ 0x7061_7261_6D73)  // "params"
        return randomized.map { ($0.key, $0.lo + ($0.hi - $0.lo) * random.unit()) }
    }

    /// One line for the run's header, nil if there is nothing.
    public var summary: String? {
        var parts: [String] = []
        if !initialState.isEmpty {
            parts.append("initial state " + initialState.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: ", "))
        }
        if !randomized.isEmpty {
            parts.append("per episode " + randomized.map { "\($0.key) in [\($0.lo), \($0.hi)]" }.joined(separator: ", "))
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }
}

extension SimParameters {
    /// These parameters with numeric values set (a drawn episode's).
    func setting(_ values: [(String, Double)]) throws -> SimParameters {
        var copy = self
        for (key, x) in values { copy = try copy.setting(["\(key)=\(x)"]) }
        return copy
    }
}
