import Foundation
import Testing
import Coding
import Neural

/// Each decoder's defining property, as a number. Ticks are 1 ms of 10 steps of
/// 0.1 ms.
@Suite struct DecoderTests {
    // MARK: windowed rate

    /// A `spike_times` neuron at 200 Hz (every 5 ms, 0 … 995 ms): a 100 ms window
    /// holds 20 spikes → 200 Hz, mapped from [0, 400] Hz to [−1, 1] → 0; a
    /// 50-tick window holds 10 → 200 Hz, mapped from [100, 300] Hz to [0, 10] → 5.
    @Test func windowedRateOfSpikeTimes() throws {
        let times = stride(from: 0.0, to: 1000, by: 5).map { $0 }
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "s", size: 1, model: .spikeTimes([times]))]),
                          stepsPerTick: 10)
        let ms = try rig.decode(DecoderSpec(channel: "m", population: "s", min: -1, max: 1,
                                            kind: .windowedRate(.init(window: .milliseconds(100), maxRate: 400))))
        try rig.decode(DecoderSpec(channel: "t", population: "s", min: 0, max: 10,
                                   kind: .windowedRate(.init(window: .ticks(50), minRate: 100, maxRate: 300))))
        // While the window fills it divides by the time elapsed: 1 spike in 1 ms is 1,000 Hz, clamped.
        #expect(rig.tick() == [1, 10])
        for t in 2...1000 {
            let out = rig.tick()
            if t >= 100 { #expect(abs(out[0]) < 1e-6, "tick \(t): \(out[0])") }
            if t >= 50 { #expect(abs(out[1] - 5) < 1e-6, "tick \(t): \(out[1])") }
        }
        // The spikes stop at 995 ms: at 1,090 ms the window [990, 1090) holds 2 → 20 Hz → −0.9.
        _ = rig.run(ticks: 90, [])
        #expect(abs(ms.value() - -0.9) < 1e-6)
        _ = rig.run(ticks: 9, [])
        #expect(ms.value() == -1)  // [999, 1099) is empty
        ms.reset()
        #expect(ms.value() == -1)
    }

    /// An `input` population of 4 neurons, all fired every 4th tick: 250 Hz each;
    /// a 20-tick window, [0, 500] Hz → [0, 1]: 0.5.
    @Test func windowedRateOfAnInputPopulation() throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "in", size: 4, model: .input)]),
                          stepsPerTick: 10)
        try rig.decode(DecoderSpec(channel: "m", population: "in", min: 0, max: 1,
                                   kind: .windowedRate(.init(window: .ticks(20), maxRate: 500))))
        let input = try #require(rig.network.spikeInput(population: 0))
        for t in 0..<200 {
            let out = rig.tick { k in if t % 4 == 0, k == 3 { for j in 0..<4 { input.fire(j) } } }
            if t >= 19 { #expect(abs(out[0] - 0.5) < 1e-6, "tick \(t): \(out[0])") }
        }
    }

    // MARK: exponential filter

    /// A neuron firing every step (10 kHz) from t = 0: the filtered rate is
    /// exactly 10 kHz · (1 − e^{−t/τ}); τ = 10 ms, [0, 10 kHz] → [0, 1].
    @Test func filteredRateStepResponseIsExact() throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "in", size: 1, model: .input)]),
                          stepsPerTick: 10)
        try rig.decode(DecoderSpec(channel: "m", population: "in", min: 0, max: 1,
                                   kind: .filteredRate(.init(tau: 10, maxRate: 10_000))))
        let input = try #require(rig.network.spikeInput(population: 0))
        for t in 1...50 {
            let out = rig.tick { _ in input.fire(0) }[0]
            #expect(abs(Double(out) - (1 - exp(-Double(t) / 10))) < 1e-5, "t = \(t) ms")
        }
    }

    /// 2,000 Poisson neurons switched from 0 to 50 Hz at t = 0, τ = 20 ms: the
    /// estimate follows 50 · (1 − e^{−t/τ}) within 4 Hz (5σ of the filter's noise).
    @Test func filteredRateStepResponseOfPoissonSpikes() throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, seed: 4, populations: [
            PopulationSpec(name: "p", size: 2000, model: .poisson(rates: .constant(0))),
        ]), stepsPerTick: 10)
        try rig.encode(EncoderSpec(channel: "x", population: "p", min: 0, max: 1, kind: .rate(.init(maxRate: 50))))
        try rig.decode(DecoderSpec(channel: "m", population: "p", min: 0, max: 100,
                                   kind: .filteredRate(.init(tau: 20, maxRate: 100))))
        var out: [Double] = []
        for _ in 0..<200 { out.append(Double(rig.tick([1])[0])) }
        for t in [5, 10, 20, 40, 100, 200] {
            let expected = 50 * (1 - exp(-Double(t) / 20))
            #expect(abs(out[t - 1] - expected) < 4, "t = \(t) ms: \(out[t - 1]) Hz, expected \(expected)")
        }
    }

    // MARK: population vector

    /// Round trip: Gaussian receptive fields (32 neurons over [−1, 1], σ = spacing
    /// = 2/31) → `input` population → population vector over the same range
    /// recovers the value within one field width after 300 ms.
    @Test(arguments: [-0.7, -0.25, 0.1, 0.55, 0.8] as [Float])
    func populationVectorRoundTrip(x: Float) throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "f", size: 32, model: .input)]),
                          stepsPerTick: 10)
        try rig.encode(EncoderSpec(channel: "in", population: "f", min: -1, max: 1,
                                   kind: .receptiveFields(.init(maxRate: 200))), seed: 21)
        let decoder = try rig.decode(DecoderSpec(channel: "out", population: "f", min: -1, max: 1,
                                                 kind: .populationVector(.init(tau: 50))))
        #expect(decoder.value() == 0)  // no activity yet: the fallback, the middle of the range
        let out = rig.run(ticks: 300, [x])[0]
        #expect(abs(out - x) < 2 / 31, "decoded \(out) for \(x)")
    }

    /// Explicit preferred values and the fallback once activity has decayed.
    @Test func populationVectorWeightsPreferredValues() throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "in", size: 3, model: .input)]),
                          stepsPerTick: 10)
        let decoder = try rig.decode(DecoderSpec(channel: "m", population: "in", min: 0, max: 100,
                                                 kind: .populationVector(.init(tau: 10, preferred: [10, 40, 90], minRate: 5, fallback: 0))))
        let input = try #require(rig.network.spikeInput(population: 0))
        // Neuron 0 fires 3 times per tick, neuron 2 once, in the same steps: (3·10 + 90)/4 = 30.
        var out: Float = -1
        for _ in 0..<100 {
            out = rig.tick { k in
                if k < 3 { input.fire(0) }
                if k == 0 { input.fire(2) }
            }[0]
        }
        #expect(abs(out - 30) < 0.5)
        // Silence: the rate decays below 5 Hz per neuron (from 1,333 Hz) after τ·ln(267) ≈ 56 ms.
        _ = rig.run(ticks: 50, [])
        #expect(decoder.value() > 20)
        _ = rig.run(ticks: 10, [])
        #expect(decoder.value() == 0)
    }

    // MARK: push-pull

    /// Agonist at 80 Hz, antagonist at 30 Hz (regular encoders, 10 neurons each):
    /// 0.01/Hz · (80 − 30) = 0.5; swapped −0.5; a gain of 1 clamps at the range.
    @Test(arguments: [DecoderSpec.RateFilter.window(.milliseconds(200)), .exponential(tau: 100)])
    func pushPullSignAndMagnitude(filter: DecoderSpec.RateFilter) throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [
            PopulationSpec(name: "a", size: 10, model: .input),
            PopulationSpec(name: "b", size: 10, model: .input),
        ]), stepsPerTick: 10)
        for p in ["a", "b"] {
            try rig.encode(EncoderSpec(channel: p, population: p, min: 0, max: 1, kind: .rate(.init(process: .regular, maxRate: 100))))
        }
        try rig.decode(DecoderSpec(channel: "torque", population: "a", min: -1, max: 1,
                                   kind: .pushPull(.init(opposing: "b", gain: 0.01, filter: filter))))
        try rig.decode(DecoderSpec(channel: "angle", population: "a", min: 0, max: 180,
                                   kind: .pushPull(.init(opposing: "b", gain: 1, filter: filter))))
        try rig.decode(DecoderSpec(channel: "force", population: "a", min: -1, max: 1,
                                   kind: .pushPull(.init(opposing: "b", gain: 1, offset: 0, filter: filter))))
        var out = rig.run(ticks: 1000, [0.8, 0.3])
        #expect(abs(out[0] - 0.5) < 0.02, "\(out)")
        #expect(abs(out[1] - 140) < 2)  // the middle of [0, 180] plus 50 Hz · 1°/Hz
        #expect(out[2] == 1)
        out = rig.run(ticks: 1000, [0.3, 0.8])
        #expect(abs(out[0] - -0.5) < 0.02, "\(out)")
        #expect(abs(out[1] - 40) < 2)
        #expect(out[2] == -1)
        out = rig.run(ticks: 1000, [0.5, 0.5])
        #expect(abs(out[0]) < 0.02)
    }

    // MARK: winner-take-all

    /// 6 neurons in 3 groups of 2, actions [10, 20, 30].
    @Test func winnerTakeAllFirstSpike() throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "w", size: 6, model: .input)]),
                          stepsPerTick: 10)
        let decoder = try rig.decode(DecoderSpec(channel: "gear", population: "w", min: -5, max: 40,
                                                 kind: .winnerTakeAll(.init(rule: .firstSpike, groupSize: 2, actions: [10, 20, 30], fallback: -1))))
        try rig.decode(DecoderSpec(channel: "default", population: "w", min: -5, max: 40,
                                   kind: .winnerTakeAll(.init(rule: .firstSpike, groupSize: 2, actions: [10, 20, 30]))))
        let input = try #require(rig.network.spikeInput(population: 0))
        func tick(_ schedule: [(step: Int, neuron: Int)]) -> [Float] {
            rig.tick { k in for (s, j) in schedule where s == k { input.fire(j) } }
        }
        // Neuron 4 (group 2) at step 2 before neuron 1 (group 0) at step 5 and a burst of group 1 after.
        #expect(tick([(2, 4), (5, 1), (6, 2), (7, 3), (8, 2)]) == [30, 30])
        #expect(decoder.value() == 30)  // value() again within the tick: the same
        // Neurons 5 (group 2) and 2 (group 1) in the same step: the lower group wins.
        #expect(tick([(3, 5), (3, 2), (9, 0)]) == [20, 20])
        // No spike: the fallback (configured, or the middle of the range).
        #expect(tick([]) == [-1, 17.5])
        #expect(tick([(9, 0)]) == [10, 10])
    }

    @Test func winnerTakeAllMostSpikes() throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "w", size: 6, model: .input)]),
                          stepsPerTick: 10)
        try rig.decode(DecoderSpec(channel: "gear", population: "w", min: -5, max: 40,
                                   kind: .winnerTakeAll(.init(rule: .mostSpikes, groupSize: 2, actions: [10, 20, 30], fallback: -1))))
        let input = try #require(rig.network.spikeInput(population: 0))
        func tick(_ schedule: [(step: Int, neuron: Int)]) -> Float {
            rig.tick { k in for (s, j) in schedule where s == k { input.fire(j) } }[0]
        }
        // Group 0: 2 spikes (first), group 2: 3 spikes → 30.
        #expect(tick([(0, 0), (1, 1), (4, 4), (5, 5), (6, 4)]) == 30)
        // Tie 2–2 between groups 2 and 1: the lower index, 1 → 20.
        #expect(tick([(0, 5), (1, 4), (2, 3), (3, 2)]) == 20)
        // Counts start afresh each tick: one spike of group 0 → 10.
        #expect(tick([(9, 1)]) == 10)
        #expect(tick([]) == -1)
    }

    // MARK: membrane readout

    /// Current encoder → three `lif` neurons (R = 2 MΩ, i_ext 0, 2, 4 nA) with
    /// 4 nA injected: fixed points −62, −58, −54 mV; [−70, −50] mV → [0, 10].
    @Test func membraneReadoutOfTheFixedPoint() throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [
            PopulationSpec(name: "m", size: 3, model: lif(vThreshold: -40, rM: 2, iExt: .values([0, 2, 4]))),
        ]), stepsPerTick: 10)
        try rig.encode(EncoderSpec(channel: "x", population: "m", min: 0, max: 1, kind: .current(.init(maxCurrent: 10))))
        try rig.decode(DecoderSpec(channel: "all", population: "m", min: 0, max: 10, kind: .membrane(.init(vMin: -70, vMax: -50))))
        try rig.decode(DecoderSpec(channel: "two", population: "m", neurons: 1..<3, min: 0, max: 10, kind: .membrane(.init(vMin: -70, vMax: -50))))
        try rig.decode(DecoderSpec(channel: "low", population: "m", neurons: 0..<1, min: 5, max: 10, kind: .membrane(.init(vMin: -70, vMax: -50))))
        let out = rig.run(ticks: 200, [0.4])
        #expect(abs(out[0] - 6) < 1e-3)   // mean −58 mV
        #expect(abs(out[1] - 7) < 1e-3)   // mean −56 mV
        #expect(abs(out[2] - 7) < 1e-3)   // −62 mV → 4 of [0, 10], on [5, 10]: 5 + 0.4·5
        // At rest (no current yet, after reset): −70, −66, −62 → mean −66 → 2.
        rig.reset()
        #expect(abs(rig.run(ticks: 200, [0])[0] - 2) < 1e-3)
    }

    // MARK: determinism

    /// Poisson encoders → decoders: the same seed gives the same motor values,
    /// bit for bit, another seed other values.
    @Test func decodersAreDeterministicForASeed() throws {
        func trace(seed: UInt64) throws -> [Float] {
            let rig = try Rig(NetworkSpec(dt: 0.1, populations: [
                PopulationSpec(name: "f", size: 16, model: .input),
                PopulationSpec(name: "r", size: 8, model: .input),
            ]), stepsPerTick: 10)
            try rig.encode(EncoderSpec(channel: "a", population: "f", min: 0, max: 1, kind: .receptiveFields(.init(maxRate: 200))), seed: seed)
            try rig.encode(EncoderSpec(channel: "b", population: "r", min: 0, max: 1, kind: .rate(.init(maxRate: 200))), seed: seed)
            try rig.decode(DecoderSpec(channel: "v", population: "f", min: 0, max: 1, kind: .populationVector(.init(tau: 20))))
            try rig.decode(DecoderSpec(channel: "w", population: "f", min: 0, max: 15,
                                       kind: .winnerTakeAll(.init(rule: .mostSpikes, actions: (0..<16).map(Double.init)))))
            try rig.decode(DecoderSpec(channel: "r", population: "r", min: 0, max: 1, kind: .filteredRate(.init(tau: 10, maxRate: 200))))
            var out: [Float] = []
            for t in 0..<500 { out += rig.tick([Float(t % 50) / 50, 0.5]) }
            return out
        }
        let a = try trace(seed: 5), b = try trace(seed: 5), c = try trace(seed: 6)
        #expect(a == b)
        #expect(a != c)
    }
}
