import Testing
@testable import Neural

/// `rewards:` in a network file: a pairing of two neurons' spikes earns a
/// reward that falls due later (Izhikevich 2007). Spike trains drawn in the test.
@Suite struct SpikePairingRewardTests {
    /// `src[0]` fires at `preSteps`; `cell[0]` is kicked to fire the step after
    /// each of `kickSteps`; `src → cell` learns under reward_stdp.
    func network(preSteps: [Int], kickSteps: [Int], within: Double, delay: ClosedRange<Double>, rewarded: Bool) throws -> Network {
        let cell = LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -70, tRef: 0, tauE: 5)
        let timing = STDPRule(aPre: 0.01, aPost: -0.012, tauPre: 5, tauPost: 5, wMin: 0, wMax: 1)
        let rewards = rewarded ? [SpikePairingRewardSpec(pre: NeuronAddress(population: "src", index: 0),
                                                         post: NeuronAddress(population: "cell", index: 0),
                                                         within: within, reward: 3, delay: delay)] : []
        return try Network(NetworkSpec(dt: 1, seed: 7, populations: [
            PopulationSpec(name: "src", size: 1, model: .spikeTimes([preSteps.map(Double.init)])),
            PopulationSpec(name: "kick", size: 1, model: .spikeTimes([kickSteps.map(Double.init)])),
            PopulationSpec(name: "cell", size: 1, model: .lif(cell)),
        ], projections: [
            ProjectionSpec(name: "learn", source: "src", target: "cell", variable: .ge, rule: .allToAll, weight: .constant(0.5),
                           plasticity: .rewardSTDP(RewardSTDPRule(timing: timing, tauC: 200, tauD: 50))),
            ProjectionSpec(name: "kick", source: "kick", target: "cell", variable: .v, rule: .allToAll, weight: .constant(40)),
        ], rewards: rewards))
    }

    /// Steps at which `post` fires less than `within` steps after `pre`'s last
    /// spike in an earlier step: the rule, written out independently.
    func pairings(pre: [Int], post: [Int], within: Int) -> [Int] {
        post.filter { k in
            guard let last = pre.filter({ $0 <= k }).max() else { return false }
            return last < k && k - last < within
        }
    }

    /// Distinct steps in 1..<n, at least 2 apart (a kick in the step of the
    /// cell's spike is undone by its reset).
    func draw(_ count: Int, below n: Int, _ rng: inout SystemRandomNumberGenerator) -> [Int] {
        var steps: [Int] = []
        for k in Set((0..<count).map { _ in Int.random(in: 1..<n, using: &rng) }).sorted() where k - (steps.last ?? -2) >= 2 {
            steps.append(k)
        }
        return steps
    }

    @Test func pairingsEarnRewardsDueAfterTheDelay() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let steps = 3000
            let pre = draw(60, below: steps, &rng), kicks = draw(60, below: steps - 1, &rng)
            let within = Int.random(in: 1...40, using: &rng), delay = Int.random(in: 1...300, using: &rng)
            let net = try network(preSteps: pre, kickSteps: kicks, within: Double(within), delay: Double(delay)...Double(delay), rewarded: true)
            var posts: [Int] = [], deliveries: [Int] = []
            for k in 0..<steps + delay {
                let before = net.earnedRewards.delivered
                net.step()
                if net.spikes(ofPopulation: 2).count > 0 { posts.append(k) }
                if net.earnedRewards.delivered > before { deliveries.append(k) }
            }
            #expect(posts == kicks.map { $0 + 1 }, "the cell fires the step after each kick")
            let earned = pairings(pre: pre, post: posts, within: within)
            #expect(net.earnedRewards.earned == earned.count)
            #expect(deliveries == earned.map { $0 + delay }, "within \(within), delay \(delay)")
        }
    }

    /// A reward earned by a pairing acts exactly as one given by hand
    /// (`Network.reward`) before the step it falls due: same weights, bit for bit.
    @Test func aPairingRewardIsARewardAtItsStep() throws {
        var rng = SystemRandomNumberGenerator()
        let steps = 4000
        let pre = draw(150, below: steps, &rng), kicks = draw(150, below: steps - 1, &rng)
        let within = 15, delay = Int.random(in: 1...500, using: &rng)
        let earned = pairings(pre: pre, post: kicks.map { $0 + 1 }, within: within)
        try #require(!earned.isEmpty)
        let byRule = try network(preSteps: pre, kickSteps: kicks, within: Double(within), delay: Double(delay)...Double(delay), rewarded: true)
        let byHand = try network(preSteps: pre, kickSteps: kicks, within: Double(within), delay: 1...1, rewarded: false)
        let due = Dictionary(grouping: earned.map { $0 + delay }, by: { $0 })
        for k in 0..<steps + delay {
            if let n = due[k]?.count { byHand.reward(3 * Double(n)) }
            byHand.step()
            byRule.step()
        }
        #expect(byRule.weights(ofProjection: 0) == byHand.weights(ofProjection: 0))
        #expect(byRule.weights(ofProjection: 0) != [0.5], "the rewards moved the weight")
    }

    /// Delays drawn uniformly in whole steps over [lo, hi], from the seed:
    /// each delivery follows a pairing by lo…hi steps, and the same seed gives the same steps.
    @Test func drawnDelaysStayInTheirRange() throws {
        var rng = SystemRandomNumberGenerator()
        let steps = 20_000
        let pre = draw(800, below: steps, &rng), kicks = draw(800, below: steps - 1, &rng)
        let lo = Int.random(in: 1...50, using: &rng), hi = lo + Int.random(in: 0...100, using: &rng)
        func deliveries() throws -> [Int] {
            let net = try network(preSteps: pre, kickSteps: kicks, within: 30, delay: Double(lo)...Double(hi), rewarded: true)
            var at: [Int] = []
            for k in 0..<steps + hi {
                let before = net.earnedRewards.delivered
                net.step()
                if net.earnedRewards.delivered > before { at.append(k) }
            }
            return at
        }
        let earned = pairings(pre: pre, post: kicks.map { $0 + 1 }, within: 30)
        let at = try deliveries()
        #expect(!at.isEmpty)
        for d in at {
            #expect(earned.contains { (lo...hi).contains(d - $0) }, "delivery at \(d) follows no pairing by \(lo)…\(hi) steps")
        }
        #expect(try deliveries() == at, "same seed, same delays")
    }

    @Test func badRulesAreRefusedWithTheirField() throws {
        func build(_ rule: SpikePairingRewardSpec) -> String? {
            let cell = LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -70, tRef: 0)
            do {
                _ = try Network(NetworkSpec(dt: 0.5, populations: [PopulationSpec(name: "cell", size: 2, model: .lif(cell))],
                                            projections: [], rewards: [rule]))
                return nil
            } catch { return error.description }
        }
        let a = NeuronAddress(population: "cell", index: 0), b = NeuronAddress(population: "cell", index: 1)
        #expect(build(SpikePairingRewardSpec(pre: NeuronAddress(population: "nope", index: 0), post: b, within: 1, reward: 1, delay: 1...1))?
            .contains("rewards[0].pre: no population named 'nope'") == true)
        #expect(build(SpikePairingRewardSpec(pre: a, post: NeuronAddress(population: "cell", index: 2), within: 1, reward: 1, delay: 1...1))?
            .contains("rewards[0].post: cell[2] is outside 'cell' (0..<2)") == true)
        #expect(build(SpikePairingRewardSpec(pre: a, post: b, within: 1, reward: 1, delay: 0.1...1))?
            .contains("delay must lie between one step") == true)
        #expect(build(SpikePairingRewardSpec(pre: a, post: b, within: 1, reward: 1, delay: 1...1))?
            .contains("no projection learns from rewards") == true)
    }
}
