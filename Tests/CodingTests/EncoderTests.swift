import Foundation
import Testing
import Coding
import Neural

/// Each encoder's defining property, as a number. Ticks are 1 ms of 10 steps of
/// 0.1 ms unless said otherwise.
@Suite struct EncoderTests {
    // MARK: rate

    /// 10 neurons at 50 Hz for 10 s: 5,000 spikes expected, σ = √(n·p·(1 − p)) ≈ 70.5.
    @Test(arguments: ["input", "poisson"])
    func poissonRateCountIsWithinThreeSigma(model: String) throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, seed: 3, populations: [
            PopulationSpec(name: "p", size: 10, model: model == "input" ? .input : .poisson(rates: .constant(0))),
        ]), stepsPerTick: 10)
        try rig.encode(EncoderSpec(channel: "x", population: "p", min: -2, max: 2,
                                   kind: .rate(.init(process: .poisson, minRate: 10, maxRate: 90))))
        _ = rig.run(ticks: 10_000, [0])  // 0 is the middle of [-2, 2]: 50 Hz
        let p = 50 * 0.1 / 1000, n = 10.0 * 100_000
        let sigma = (n * p * (1 - p)).squareRoot()
        let count = rig.total("p")
        #expect(abs(Double(count) - n * p) < 3 * sigma, "\(count) spikes, expected \(n * p) ± \(3 * sigma)")
        // Each neuron on its own: 500 ± 3·22.3.
        for c in rig.neuronCounts[0] { #expect(abs(c - 500) < 67) }
    }

    /// The regular process is a phase accumulator: exactly ⌊rate·T + (j + ½)/N⌋ spikes.
    @Test func regularRateCountIsExact() throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "p", size: 4, model: .input)]),
                          stepsPerTick: 10)
        try rig.encode(EncoderSpec(channel: "x", population: "p", min: 0, max: 1,
                                   kind: .rate(.init(process: .regular, minRate: 0, maxRate: 100))))
        _ = rig.run(ticks: 10_000, [0.37])  // 37 Hz for 10 s
        #expect(rig.neuronCounts[0] == [370, 370, 370, 370])

        rig.reset()
        _ = rig.run(ticks: 5_000, [0.2])    // 20 Hz for 5 s
        _ = rig.run(ticks: 5_000, [0.5])    // then 50 Hz for 5 s
        #expect(rig.neuronCounts[0] == [350, 350, 350, 350])

        rig.reset()
        _ = rig.run(ticks: 1_000, [7])      // clamped to max: 100 Hz for 1 s
        _ = rig.run(ticks: 1_000, [-3])     // clamped to min: 0 Hz
        #expect(rig.neuronCounts[0] == [100, 100, 100, 100])
    }

    /// Regular spikes are evenly spaced: 100 Hz at dt 0.1 ms is one spike per
    /// 100 steps, and the 4 neurons interleave at phases 1/8, 3/8, 5/8, 7/8.
    @Test func regularSpikesInterleave() throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "p", size: 4, model: .input)]),
                          stepsPerTick: 100)
        try rig.encode(EncoderSpec(channel: "x", population: "p", min: 0, max: 1,
                                   kind: .rate(.init(process: .regular, maxRate: 100))))
        rig.tick([1])
        // Neuron j starts at (j + ½)/4 and fires when the phase reaches 1.
        #expect(rig.lastTick.map(\.neuron) == [3, 2, 1, 0])
        #expect(rig.lastTick.map(\.step) == [12, 37, 62, 87])
    }

    // MARK: receptive fields

    /// The most active neuron prefers the input, to within one field width.
    @Test(arguments: [-1.0, -0.83, -0.3, 0, 0.42, 0.77, 0.95, 1.0] as [Float])
    func mostActiveNeuronPrefersTheInput(x: Float) throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, seed: 9, populations: [PopulationSpec(name: "f", size: 21, model: .input)]),
                          stepsPerTick: 10)
        try rig.encode(EncoderSpec(channel: "angle", population: "f", min: -1, max: 1,
                                   kind: .receptiveFields(.init(process: .poisson, maxRate: 200))))
        _ = rig.run(ticks: 1_000, [x])  // 1 s
        let counts = rig.neuronCounts[0]
        let best = counts.indices.max { counts[$0] < counts[$1] }!
        let preferred = -1 + Double(best) * 0.1, width = 0.1
        #expect(abs(preferred - Double(x)) <= width, "neuron \(best) (μ = \(preferred)) for x = \(x): \(counts)")
        #expect(counts[best] > 150)  // ≈ 200 Hz at the preferred value
    }

    /// With the regular process every neuron's count is its tuning curve:
    /// ⌊T · maxRate · exp(−(x − μ_j)²/2σ²) + (j + ½)/N⌋.
    @Test func receptiveFieldRatesFollowTheGaussian() throws {
        let n = 11, sigma = 0.3
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "f", size: n, model: .input)]),
                          stepsPerTick: 10)
        try rig.encode(EncoderSpec(channel: "x", population: "f", min: 0, max: 10,
                                   kind: .receptiveFields(.init(process: .regular, maxRate: 150, width: sigma))))
        let x: Float = 4.1
        _ = rig.run(ticks: 2_000, [x])  // 2 s
        let expected = (0..<n).map { j -> Int in
            let d = Double(x) - Double(j)
            return Int((2 * 150 * exp(-d * d / (2 * sigma * sigma)) + (Double(j) + 0.5) / Double(n)).rounded(.down))
        }
        #expect(rig.neuronCounts[0] == expected)
        #expect(expected[4] == 284 && expected[3] == 0 && expected[5] == 3)
    }

    // MARK: latency

    /// Linear latency: step = round((1 − s)·(W − 1)); one spike per neuron per tick.
    @Test func latencyIsLinearAndMonotonic() throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "l", size: 3, model: .input)]),
                          stepsPerTick: 100)  // 10 ms ticks
        try rig.encode(EncoderSpec(channel: "x", population: "l", min: 0, max: 1, kind: .latency(.init())))
        let cases: [(Float, Int)] = [(0, 99), (0.1, 89), (0.25, 74), (0.5, 50), (0.9, 10), (1, 0), (-4, 99), (5, 0)]
        for (x, step) in cases {
            rig.tick([x])
            #expect(rig.lastTick.map(\.step) == [step, step, step], "x = \(x)")
            #expect(rig.lastTick.map(\.neuron) == [0, 1, 2])
        }
        var previous = Int.max
        for i in 0...200 {
            rig.tick([Float(i) / 200])
            let step = rig.lastTick[0].step
            #expect(step <= previous)
            #expect(rig.lastTick.count == 3)
            previous = step
        }
    }

    /// Logarithmic latency with dynamic range D = 100 over a 5 ms window (W = 50):
    /// step = round(49·ln(1/s)/ln 100), everything below s = 0.01 last.
    @Test func latencyLogarithmic() throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "l", size: 1, model: .input)]),
                          stepsPerTick: 100)
        try rig.encode(EncoderSpec(channel: "x", population: "l", min: 0, max: 100,
                                   kind: .latency(.init(mapping: .logarithmic(dynamicRange: 100), window: 5))))
        // s = 1, 0.5, 0.2, 0.05, 0.01, 0.001
        let cases: [(Float, Int)] = [(100, 0), (50, 7), (20, 17), (5, 32), (1, 49), (0.1, 49), (0, 49)]
        for (x, step) in cases {
            rig.tick([x])
            #expect(rig.lastTick.map(\.step) == [step], "x = \(x)")
        }
        // Equal ratios, equal delays: 80 → 40 → 20 each add 49·ln 2/ln 100 ≈ 7.4 steps.
        let steps = [80, 40, 20].map { (x: Float) -> Int in rig.tick([x]); return rig.lastTick[0].step }
        #expect(steps == [2, 10, 17])  // 2.37, 9.75, 17.12
    }

    // MARK: send-on-delta

    /// A ramp up by 0.99 then down to −0.52 with θ = 0.05 (and θ = 0.2):
    /// ⌊0.99/0.05⌋ = 19 increases, then ⌊(0.95 + 0.52)/0.05⌋ = 29 decreases
    /// (the reference moves in whole thresholds); with 0.2: 4, then ⌊1.32/0.2⌋ = 6.
    @Test func sendOnDeltaCountsThresholdCrossings() throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "d", size: 4, model: .input)]),
                          stepsPerTick: 10)
        try rig.encode(EncoderSpec(channel: "x", population: "d", min: -1, max: 1,
                                   kind: .sendOnDelta(.init(thresholds: [0.05, 0.2]))))
        // Neurons: 0 = increase θ 0.05, 1 = increase θ 0.2, 2 = decrease θ 0.05, 3 = decrease θ 0.2.
        for t in 0...1000 { rig.tick([Float(0.99 * Double(t) / 1000)]) }
        #expect(rig.neuronCounts[0] == [19, 4, 0, 0])
        rig.clearCounts()
        for t in 0...1000 { rig.tick([Float(0.99 - 1.51 * Double(t) / 1000)]) }
        #expect(rig.neuronCounts[0] == [0, 0, 29, 6])
    }

    /// The first value only sets the reference; a jump of 0.93 with θ = 0.05
    /// gives 18 events, one per step (10 in the tick, 8 carried over).
    @Test func sendOnDeltaJumpSpreadsOverSteps() throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "d", size: 2, model: .input)]),
                          stepsPerTick: 10)
        try rig.encode(EncoderSpec(channel: "x", population: "d", min: -1, max: 1,
                                   kind: .sendOnDelta(.init(threshold: 0.05))))
        rig.tick([0.5])
        #expect(rig.lastTick.isEmpty)
        rig.tick([-0.43])
        #expect(rig.lastTick.map(\.step) == Array(0..<10))
        #expect(Set(rig.lastTick.map(\.neuron)) == [1])
        rig.tick([-0.43])
        #expect(rig.lastTick.map(\.step) == Array(0..<8))
        rig.tick([.nan])  // ignored
        rig.tick([-0.43])
        #expect(rig.lastTick.isEmpty)
        // After reset the next value is a new reference.
        rig.reset()
        rig.tick([0.9])
        #expect(rig.lastTick.isEmpty)
    }

    // MARK: current

    /// Injected current moves the LIF fixed point to v_rest + R·gain·I:
    /// x = 0.4 of [0, 10] nA is 4 nA; R = 2 MΩ; gains 1 and 0.5 → −62 and −66 mV.
    @Test func currentInjectionSetsTheFixedPoint() throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "m", size: 2, model: lif(rM: 2))]),
                          stepsPerTick: 10)
        try rig.encode(EncoderSpec(channel: "x", population: "m", min: 0, max: 1,
                                   kind: .current(.init(minCurrent: 0, maxCurrent: 10, gains: [1, 0.5]))))
        _ = rig.run(ticks: 500, [0.4])  // 50 ms = 5 τ_m … and more
        _ = rig.run(ticks: 500, [0.4])
        let v0 = try #require(rig.network.value(population: 0, variable: "v", neuron: 0))
        let v1 = try #require(rig.network.value(population: 0, variable: "v", neuron: 1))
        #expect(abs(v0 - -62) < 1e-3)
        #expect(abs(v1 - -66) < 1e-3)
        // After one τ_m at a new value the distance to the new fixed point is e^{-1} of the step.
        _ = rig.run(ticks: 10, [0.9])  // 9 nA → −52 mV; 10 ms later: −52 − 10·e^{-1}
        let v = try #require(rig.network.value(population: 0, variable: "v", neuron: 0))
        #expect(abs(Double(v) - (-52 - 10 * exp(-1))) < 1e-3)
    }

    /// Above threshold the neuron fires at the analytic LIF rate:
    /// 1/(t_ref + τ ln((R I − (v_reset − v_rest))/(R I − (v_th − v_rest)))).
    @Test func currentInjectionDrivesTheLIFRate() throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "m", size: 1, model: lif())]),
                          stepsPerTick: 10)
        try rig.encode(EncoderSpec(channel: "x", population: "m", min: 0, max: 1,
                                   kind: .current(.init(maxCurrent: 40))))
        _ = rig.run(ticks: 1_000, [0.75])  // 30 nA, 1 s
        let period = 10 * log((30.0 - 5) / (30 - 20))  // ms, ≈ 9.16
        // The step grid adds up to one step per interval (spikes are seen at step ends, and the
        // reset step is refractory): within 3 % of the continuous-time rate.
        #expect(abs(Double(rig.total("m")) - 1000 / period) <= 0.03 * 1000 / period, "\(rig.total("m")) spikes")
    }

    // MARK: determinism

    /// Same seed, same spikes (and again after reset); another seed, other spikes.
    @Test func encodersAreDeterministicForASeed() throws {
        func trace(seed: UInt64) throws -> [Int] {
            let rig = try Rig(NetworkSpec(dt: 0.1, populations: [
                PopulationSpec(name: "r", size: 8, model: .input),
                PopulationSpec(name: "f", size: 8, model: .input),
            ]), stepsPerTick: 10)
            try rig.encode(EncoderSpec(channel: "a", population: "r", min: 0, max: 1, kind: .rate(.init(maxRate: 300))), seed: seed)
            try rig.encode(EncoderSpec(channel: "b", population: "f", min: 0, max: 1, kind: .receptiveFields(.init(maxRate: 300))), seed: seed)
            var out: [Int] = []
            for round in 0..<2 {
                for t in 0..<200 {
                    rig.tick([Float(t % 17) / 17, Float(t % 5) / 5])
                    out += rig.lastTick.map { $0.step * 1000 + $0.population * 100 + $0.neuron }
                }
                if round == 0 { rig.reset() }
            }
            return out
        }
        let a = try trace(seed: 11), b = try trace(seed: 11), c = try trace(seed: 12)
        #expect(a.count > 500)
        #expect(a == b)
        #expect(a != c)
        #expect(Array(a[0..<(a.count / 2)]) == Array(a[(a.count / 2)...]))  // reset replays
    }

    /// Two channels of one rate encoder kind get independent streams.
    @Test func channelsHaveTheirOwnStreams() throws {
        let rig = try Rig(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "r", size: 20, model: .input)]),
                          stepsPerTick: 10)
        try rig.encode(EncoderSpec(channel: "left", population: "r", neurons: 0..<10, min: 0, max: 1, kind: .rate(.init(maxRate: 500))))
        try rig.encode(EncoderSpec(channel: "right", population: "r", neurons: 10..<20, min: 0, max: 1, kind: .rate(.init(maxRate: 500))))
        var left: [Int] = [], right: [Int] = []
        for _ in 0..<100 {
            rig.tick([1, 1])
            left += rig.lastTick.filter { $0.neuron < 10 }.map { $0.step * 100 + $0.neuron }
            right += rig.lastTick.filter { $0.neuron >= 10 }.map { $0.step * 100 + $0.neuron - 10 }
        }
        #expect(left.count > 400 && right.count > 400)
        #expect(left != right)
    }
}
