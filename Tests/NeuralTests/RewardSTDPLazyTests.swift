import Foundation
import Testing
@testable import Neural

/// reward_stdp integrates its weights lazily (`Eligibility`): a synapse
/// catches up only when it is used or read. These cases, drawn in the test,
/// check it against the rule stepped as docs/plasticity.md writes it (every
/// weight moved and clipped every step), written out here independently: given
/// spike trains, rewards of both signs, baselines that make `k` change sign,
/// bounds that clip often, learning-rate changes, reads at random steps.
@Suite struct RewardSTDPLazyTests {

    struct Case: CustomStringConvertible {
        var pre: [[Int]], kicks: [[Int]], delay: Int
        var timing: STDPRule, rule: RewardSTDPRule
        var rewards: [Int: Double], rates: [Int: Float], reads: Set<Int>
        let steps = 8000

        var description: String {
            "\(pre.count)→\(kicks.count), delay \(delay), \(timing.pairing), a \(timing.aPre)/\(timing.aPost), "
                + "τ_c \(rule.tauC), τ_d \(rule.tauD), b \(rule.baseline), τ_b \(rule.baselineTau.map { "\($0)" } ?? "-"), w_max \(timing.wMax)"
        }

        static func draw(_ rng: inout some RandomNumberGenerator) -> Case {
            let steps = 8000
            let pre = (0..<Int.random(in: 2...8, using: &rng)).map { _ in
                Set((0..<Int.random(in: 10...60, using: &rng)).map { _ in Int.random(in: 0..<steps - 10, using: &rng) }).sorted()
            }
            // Kicks 40 steps apart or more: the target (refractory 2 ms) fires at each.
            let kicks = (0..<Int.random(in: 1...3, using: &rng)).map { _ in
                var t = Int.random(in: 0...100, using: &rng), out: [Int] = []
                while t < steps - 10 { out.append(t); t += Int.random(in: 40...600, using: &rng) }
                return out
            }
            let timing = STDPRule(aPre: .random(in: 0.005...0.05, using: &rng), aPost: -.random(in: 0.005...0.06, using: &rng),
                                  tauPre: .random(in: 5...40, using: &rng), tauPost: .random(in: 5...40, using: &rng),
                                  wMin: 0, wMax: .random(in: 0.1...0.6, using: &rng),
                                  pairing: Bool.random(using: &rng) ? .nearest : .allToAll)
            let rule = RewardSTDPRule(timing: timing, tauC: .random(in: 2...300, using: &rng), tauD: .random(in: 5...200, using: &rng),
                                      baseline: .random(in: -0.01...0.01, using: &rng),
                                      baselineTau: Bool.random(using: &rng) ? .random(in: 10...500, using: &rng) : nil)
            var rewards: [Int: Double] = [:], rates: [Int: Float] = [:], reads: Set<Int> = [steps]
            for _ in 0..<Int.random(in: 20...120, using: &rng) { rewards[Int.random(in: 0..<steps, using: &rng)] = .random(in: -1...2, using: &rng) }
            for _ in 0..<Int.random(in: 0...4, using: &rng) { rates[Int.random(in: 0..<steps, using: &rng)] = [0, 0.5, 1, 3].randomElement(using: &rng)! }
            for _ in 0..<20 { reads.insert(Int.random(in: 1...steps, using: &rng)) }
            return Case(pre: pre, kicks: kicks, delay: Int.random(in: 0...5, using: &rng), timing: timing, rule: rule,
                        rewards: rewards, rates: rates, reads: reads)
        }

        func network(_ precision: Precision) throws -> Network {
            let cell = LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -70, tRef: 2, tauE: 5)
            return try Network(NetworkSpec(dt: 0.1, seed: 7, precision: precision, populations: [
                PopulationSpec(name: "pre", size: pre.count, model: .spikeTimes(pre.map { $0.map { Double($0) / 10 } })),
                PopulationSpec(name: "kick", size: kicks.count, model: .spikeTimes(kicks.map { $0.map { Double($0) / 10 } })),
                PopulationSpec(name: "post", size: kicks.count, model: .lif(cell)),
            ], projections: [
                ProjectionSpec(name: "rewarded", source: "pre", target: "post", variable: .ge, rule: .allToAll,
                               weight: .uniform(0, timing.wMax), delay: .constant(Double(delay) / 10), plasticity: .rewardSTDP(rule)),
                ProjectionSpec(name: "kick", source: "kick", target: "post", variable: .v, rule: .oneToOne, weight: .constant(40)),
            ]))
        }
    }

    /// The rule stepped as written, in Float64: every synapse every step.
    struct Reference {
        let c0: Case
        var w: [Double], c: [Double]
        /// Σ|changes| of each `c`: the scale of its rounding.
        var mass: [Double]
        var preTrace: [Double], preLast: [Int], postTrace: [Double], postLast: [Int]
        var d = 0.0, b: Double, rate = 1.0
        let dt = 0.1

        init(_ c0: Case, weights: [Double]) {
            self.c0 = c0
            w = weights
            c = Array(repeating: 0, count: weights.count)
            mass = Array(repeating: 0, count: weights.count)
            preTrace = Array(repeating: 0, count: c0.pre.count)
            preLast = Array(repeating: 0, count: c0.pre.count)
            postTrace = Array(repeating: 0, count: c0.kicks.count)
            postLast = Array(repeating: 0, count: c0.kicks.count)
            b = c0.rule.baseline
        }

        func synapse(_ i: Int, _ j: Int) -> Int { i * c0.kicks.count + j }

        mutating func add(_ x: Double, to s: Int) {
            c[s] += x
            mass[s] += abs(x)
        }

        mutating func step(_ n: Int, arriving: [Int], firing: [Int]) {
            let t = c0.timing, r = c0.rule
            if let reward = c0.rewards[n] { d += reward / r.tauD }
            if let newRate = c0.rates[n] { rate = Double(newRate) }
            for i in arriving {
                preTrace[i] = t.pairing == .nearest ? t.aPre : preTrace[i] * exp(-Double(n - preLast[i]) * dt / t.tauPre) + t.aPre
                preLast[i] = n
                for j in c0.kicks.indices { add(postTrace[j] * exp(-Double(n - postLast[j]) * dt / t.tauPost), to: synapse(i, j)) }
            }
            for j in firing {
                postTrace[j] = t.pairing == .nearest ? t.aPost : postTrace[j] * exp(-Double(n - postLast[j]) * dt / t.tauPost) + t.aPost
                postLast[j] = n
                for i in c0.pre.indices { add(preTrace[i] * exp(-Double(n - preLast[i]) * dt / t.tauPre), to: synapse(i, j)) }
            }
            let tauS = r.tauC * r.tauD / (r.tauC + r.tauD)
            let k = (d * -tauS * expm1(-dt / tauS) - b * -r.tauC * expm1(-dt / r.tauC)) * rate
            for s in w.indices {
                w[s] = min(t.wMax, max(t.wMin, w[s] + c[s] * k))
                c[s] *= exp(-dt / r.tauC)
            }
            if let tauB = r.baselineTau { b += (d - b) * -expm1(-dt / tauB) }
            d *= exp(-dt / r.tauD)
        }
    }

    /// Steps `c0` in the engine and the reference side by side; returns the
    /// largest weight difference at the reads, relative to w_max.
    /// Also the largest difference of a `c`, as a share of its tolerance.
    func compare(_ c0: Case, precision: Precision) throws -> (weights: Double, c: Double) {
        var worstC = 0.0
        let net = try c0.network(precision)
        let q = try #require(net.projectionIndex(named: "rewarded"))
        let post = try #require(net.populationIndex(named: "post"))
        let count = net.synapseCount(ofProjection: q)
        var reference = Reference(c0, weights: (0..<count).map { net.value(projection: q, variable: "w", synapse: $0)! })
        let arrivals = Dictionary(grouping: c0.pre.indices.flatMap { i in c0.pre[i].map { ($0 + c0.delay, i) } }, by: \.0)
        let firings = Dictionary(grouping: c0.kicks.indices.flatMap { j in c0.kicks[j].map { ($0 + 1, j) } }, by: \.0)
        var worst = 0.0
        for n in 0..<c0.steps {
            if let reward = c0.rewards[n] { net.reward(reward) }
            if let rate = c0.rates[n] { net.learningRate = rate }
            net.step()
            let firing = (firings[n] ?? []).map(\.1).sorted()
            #expect(net.spikes(ofPopulation: post).buffer.map(Int.init).sorted() == firing, "step \(n): the targets fire at their kicks only")
            reference.step(n, arriving: (arrivals[n] ?? []).map(\.1).sorted(), firing: firing)
            guard c0.reads.contains(n + 1) else { continue }
            for s in 0..<count {
                let ours = net.value(projection: q, variable: "w", synapse: s)!
                worst = max(worst, abs(ours - reference.w[s]) / c0.timing.wMax)
                let trace = net.value(projection: q, variable: "c", synapse: s)!
                // c adds up rounded traces (Float32's in float32): a few roundings
                // of each change it took; and the reference decays c by one
                // rounded product a step (up to 8000 roundings), ours in one.
                let roundings = 16 * (precision == .float64 ? Double.ulpOfOne : Double(Float.ulpOfOne)) + Double(c0.steps) * Double.ulpOfOne
                let tolerance = roundings * reference.mass[s]
                worstC = max(worstC, abs(trace - reference.c[s]) / max(tolerance, .leastNormalMagnitude))
                #expect(abs(trace - reference.c[s]) <= tolerance, "\(precision): c of synapse \(s) after step \(n): \(trace) ≠ \(reference.c[s])")
            }
        }
        return (worst, worstC)
    }

    @Test func lazyWeightsFollowTheRuleSteppedEveryStep() throws {
        var rng = SystemRandomNumberGenerator()
        var worst: [Precision: Double] = [.float64: 0, .float32: 0], worstC = 0.0
        for round in 0..<40 {
            let c0 = Case.draw(&rng)
            let precision: Precision = round % 4 == 3 ? .float32 : .float64
            let (error, cShare) = try compare(c0, precision: precision)
            worst[precision] = max(worst[precision]!, error)
            worstC = max(worstC, cShare)
            // Float64 agrees to rounding; float32 rounds the weight at each
            // catch-up, up to about a hundred per synapse here (its spikes,
            // its target's, segment ends): a hundred Float32 ulps of w_max.
            #expect(error <= (precision == .float64 ? 1e-10 : 100 * Double(Float.ulpOfOne)), "\(precision) \(c0): weights off by \(error) of w_max")
        }
        print("lazy reward_stdp vs stepped every step: largest weight difference \(worst[.float64]!) (float64), \(worst[.float32]!) (float32) of w_max; "
              + "largest c difference \(worstC) of its tolerance")
    }

    /// A reset keeps what was learned, including what the synapses have not
    /// caught up with yet.
    @Test func resetKeepsWeightsNotYetCaughtUp() throws {
        var rng = SystemRandomNumberGenerator()
        let c0 = Case.draw(&rng)
        let net = try c0.network(.float64)
        for n in 0..<c0.steps / 2 {
            if let reward = c0.rewards[n] { net.reward(reward) }
            net.step()
        }
        let learned = net.weights(ofProjection: 0)
        net.restoreInitialState()
        #expect(net.weights(ofProjection: 0) == learned, "\(c0)")
    }
}
