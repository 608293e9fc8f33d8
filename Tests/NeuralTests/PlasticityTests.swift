import Foundation
import Testing
@testable import Neural

/// The STDP window of docs/plasticity.md on single pairs, drawn at random in
/// the test: one presynaptic spike and one postsynaptic spike (forced by a
/// strong direct input), the weight change against the closed form.
@Suite struct PlasticityTests {
    static let rule = STDPRule(aPre: 0.01, aPost: -0.012, tauPre: 17, tauPost: 23, wMin: 0, wMax: 1)

    /// `pre` fires at `preStep`; the target is forced to fire at `postStep`.
    /// The plastic synapse (weight 0.5, delay `delaySteps`) onto g_e is too weak to matter.
    func weightAfterPair(preStep: Int, postStep: Int, delaySteps: Int, rule: STDPRule = rule) throws -> Float {
        let cell = LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -70, tRef: 2, tauE: 5)
        let net = try Network(NetworkSpec(dt: 0.1, populations: [
            PopulationSpec(name: "pre", size: 1, model: .spikeTimes([[Double(preStep) / 10]])),
            PopulationSpec(name: "kick", size: 1, model: .spikeTimes([[Double(postStep) / 10]])),
            PopulationSpec(name: "post", size: 1, model: .lif(cell)),
        ], projections: [
            ProjectionSpec(name: "plastic", source: "pre", target: "post", variable: .ge, rule: .allToAll,
                           weight: .constant(0.5), delay: .constant(Double(delaySteps) / 10), plasticity: .stdp(rule)),
            // Arrives in the step after `postStep`'s kick: the target crosses then.
            ProjectionSpec(name: "kick", source: "kick", target: "post", variable: .v, rule: .allToAll, weight: .constant(40)),
        ]))
        let fired = runSpikes(net, steps: max(preStep + delaySteps, postStep) + 50).filter { $0.population == "post" }
        #expect(fired.map(\.step) == [postStep + 1], "the target fires once, the step after its kick")
        return net.weights(ofProjection: 0)[0]
    }

    @Test func theWindowMatchesItsClosedForm() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<40 {
            let delay = Int.random(in: 0...30, using: &rng)
            let pre = Int.random(in: 0...400, using: &rng)
            let post = Int.random(in: 0...400, using: &rng)
            let arrival = pre + delay, spike = post + 1
            let w = try weightAfterPair(preStep: pre, postStep: post, delaySteps: delay)
            // Pre arrival first (or in the same step): potentiation; otherwise depression.
            let expected = arrival <= spike
                ? 0.5 + Self.rule.aPre * exp(-Double(spike - arrival) / 10 / Self.rule.tauPre)
                : 0.5 + Self.rule.aPost * exp(-Double(arrival - spike) / 10 / Self.rule.tauPost)
            #expect(abs(Double(w) - expected) < 1e-6, "pre \(pre) + delay \(delay), post spike \(spike): \(w) ≠ \(expected)")
        }
    }

    /// One presynaptic spike counts once in the trace its synapses share
    /// (one delay: a trace per presynaptic neuron), however many synapses it has.
    @Test func aSpikeCountsOnceForAllItsSynapses() throws {
        let cell = LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -70, tRef: 2, tauE: 5)
        let net = try Network(NetworkSpec(dt: 0.1, populations: [
            PopulationSpec(name: "pre", size: 1, model: .spikeTimes([[1, 3]])),
            PopulationSpec(name: "kick", size: 1, model: .spikeTimes([[5]])),
            PopulationSpec(name: "post", size: 7, model: .lif(cell)),
        ], projections: [
            ProjectionSpec(source: "pre", target: "post", variable: .ge, rule: .allToAll, weight: .constant(0.5),
                           delay: .constant(0.2), plasticity: .stdp(Self.rule)),
            ProjectionSpec(source: "kick", target: "post", variable: .v, rule: .allToAll, weight: .constant(40)),
        ]))
        _ = runSpikes(net, steps: 100)
        // Arrivals at steps 12 and 32, post spikes at step 51.
        let expected = 0.5 + Self.rule.aPre * (exp(-3.9 / Self.rule.tauPre) + exp(-1.9 / Self.rule.tauPre))
        for w in net.weights(ofProjection: 0) { #expect(abs(Double(w) - expected) < 1e-6, "\(w) ≠ \(expected)") }
    }

    @Test func boundsHoldAndSoftBoundsScale() throws {
        var hard = Self.rule
        hard.aPre = 2
        #expect(try weightAfterPair(preStep: 10, postStep: 20, delaySteps: 0, rule: hard) == 1, "clipped at w_max")
        hard.aPost = -2
        #expect(try weightAfterPair(preStep: 30, postStep: 10, delaySteps: 0, rule: hard) == 0, "clipped at w_min")
        var soft = Self.rule
        soft.update = .multiplicative
        let up = try weightAfterPair(preStep: 10, postStep: 20, delaySteps: 0, rule: soft)
        #expect(abs(Double(up) - (0.5 + 0.01 * exp(-1.1 / 17) * 0.5)) < 1e-6, "scaled by (w_max − w)/(w_max − w_min)")
    }

    @Test func resetClearsTracesButKeepsLearnedWeights() throws {
        let net = try Network(NetworkSpec(dt: 0.1, seed: 3, populations: [
            PopulationSpec(name: "noise", size: 20, model: .poisson(rates: .constant(40))),
            PopulationSpec(name: "cells", size: 5, model: .lif(LIFParameters(tauM: 10, vRest: -55, vThreshold: -50, vReset: -60, tRef: 2, tauE: 5))),
        ], projections: [
            ProjectionSpec(source: "noise", target: "cells", variable: .ge, rule: .allToAll, weight: .uniform(0, 1),
                           plasticity: .stdp(Self.rule)),
        ]))
        for _ in 0..<5000 { net.step() }
        let learned = net.weights(ofProjection: 0)
        net.restoreInitialState()
        #expect(net.weights(ofProjection: 0) == learned)
        // Same weights, fresh traces and streams: a second run from them is reproducible.
        let copy = try Network(net.spec)
        try copy.setWeights(ofProjection: 0, learned)
        for _ in 0..<5000 { net.step(); copy.step() }
        #expect(net.weights(ofProjection: 0) == copy.weights(ofProjection: 0))
    }

    /// `baseline_tau`: the baseline follows the reward signal's mean, so a
    /// reward that never changes stops moving the weights once it is expected.
    @Test func aFollowingBaselineRemovesAConstantReward() throws {
        func change(baselineTau: Double?) throws -> Double {
            let timing = STDPRule(aPre: 0.01, aPost: -0.012, tauPre: 20, tauPost: 20, wMin: 0, wMax: 10)
            let cell = LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -70, tRef: 2, tauE: 5)
            let net = try Network(NetworkSpec(dt: 0.1, populations: [
                PopulationSpec(name: "pre", size: 1, model: .spikeTimes([[100.0]])),
                PopulationSpec(name: "kick", size: 1, model: .spikeTimes([[100.5]])),
                PopulationSpec(name: "post", size: 1, model: .lif(cell)),
            ], projections: [
                ProjectionSpec(name: "plastic", source: "pre", target: "post", variable: .ge, rule: .allToAll,
                               weight: .constant(1),
                               plasticity: .rewardSTDP(RewardSTDPRule(timing: timing, tauC: 50, tauD: 20,
                                                                      baselineTau: baselineTau))),
                ProjectionSpec(name: "kick", source: "kick", target: "post", variable: .v, rule: .allToAll, weight: .constant(40)),
            ]))
            // The same reward before every step: the pair (pre at 100 ms, post just after)
            // comes long after the baseline has caught up with it.
            for _ in 0..<3000 { net.reward(0.01); net.step() }
            return Double(net.weights(ofProjection: 0)[0]) - 1
        }
        let plain = try change(baselineTau: nil)
        #expect(plain > 1e-4, "a constant reward moves the weight: \(plain)")
        let following = try change(baselineTau: 2)
        #expect(abs(following) < 0.02 * plain, "expected reward: \(following) against \(plain)")
        let slow = try change(baselineTau: 1e12)
        #expect(abs(slow - plain) < 1e-6 * plain, "a baseline that never moves is the constant one: \(slow) ≠ \(plain)")
    }
}
