import CAllocationCounter
import Testing
@testable import Neural

/// Unoptimised builds call unspecialised generics (SIMD, collections) that box
/// their values on the heap; the hot path is measured as it ships, optimised.
/// `Tools/test` runs the suite with `-c release`.
#if DEBUG
let optimised = false
#else
let optimised = true
#endif

/// The step must not touch the heap once the network is built.
@Suite struct AllocationTests {
    @Test(.enabled(if: optimised, "allocation counts are meaningful in optimised builds: swift test -c release"),
          arguments: Precision.allCases)
    func noAllocationInTenThousandSteps(precision: Precision) throws {
        // Every code path of the step: LIF with g_e/g_i and direct v, delay rings
        // (homogeneous and per synapse), Izhikevich, Poisson and spike-time
        // sources, STDP (all-to-all and nearest, additive and multiplicative,
        // equal and per-synapse delays, onto g_e and v), reward-modulated STDP
        // with rewards and a learning-rate change; Izhikevich noise currents;
        // rewards earned by spike pairings.
        let cell = LIFParameters(tauM: 20, vRest: -49, vThreshold: -50, vReset: -60, tRef: 5, tauE: 5, tauI: 10, vInit: .uniform(-60, -50))
        let spec = NetworkSpec(dt: 0.1, seed: 2, precision: precision, populations: [
            PopulationSpec(name: "exc", size: 400, model: .lif(cell)),
            PopulationSpec(name: "inh", size: 100, model: .lif(cell)),
            PopulationSpec(name: "izh", size: 50, model: .izhikevich(IzhikevichParameters(a: 0.02, b: 0.2, c: -65, d: 8, iExt: .constant(10),
                                                                                              iNoise: CurrentNoise(lo: -5, hi: 5, every: 0.3)))),
            PopulationSpec(name: "noise", size: 100, model: .poisson(rates: .constant(50))),
            PopulationSpec(name: "times", size: 10, model: .spikeTimes((0..<10).map { i in (0..<50).map { Double($0 * 20 + i) } })),
            PopulationSpec(name: "encoded", size: 20, model: .input),
        ], projections: [
            ProjectionSpec(source: "encoded", target: "inh", variable: .ge, rule: .allToAll, weight: .constant(0.5)),
            ProjectionSpec(source: "exc", target: "exc", variable: .ge, rule: .fixedProbability(0.05), weight: .constant(1.62)),
            ProjectionSpec(source: "exc", target: "inh", variable: .ge, rule: .fixedProbability(0.05), weight: .uniform(1, 2), delay: .constant(1)),
            ProjectionSpec(source: "inh", target: "exc", variable: .gi, rule: .fixedProbability(0.05), weight: .constant(-9), delay: .uniform(0, 3)),
            ProjectionSpec(source: "noise", target: "izh", variable: .v, rule: .fixedIndegree(5), weight: .constant(2), delay: .constant(0.5)),
            ProjectionSpec(source: "times", target: "exc", variable: .v, rule: .allToAll, weight: .uniform(0, 1)),
            ProjectionSpec(name: "stdp", source: "noise", target: "exc", variable: .ge, rule: .fixedProbability(0.1),
                           weight: .uniform(0, 1), delay: .uniform(0, 2),
                           plasticity: .stdp(STDPRule(aPre: 0.01, aPost: -0.0105, tauPre: 20, tauPost: 20, wMin: 0, wMax: 1))),
            ProjectionSpec(name: "stdp-soft", source: "exc", target: "inh", variable: .v, rule: .fixedProbability(0.05),
                           weight: .constant(0.5), delay: .constant(1),
                           plasticity: .stdp(STDPRule(aPre: 0.01, aPost: -0.012, tauPre: 10, tauPost: 30, wMin: 0, wMax: 1,
                                                      pairing: .nearest, update: .multiplicative))),
            ProjectionSpec(name: "rstdp", source: "times", target: "exc", variable: .ge, rule: .allToAll,
                           weight: .uniform(0, 1), delay: .uniform(0, 1),
                           plasticity: .rewardSTDP(RewardSTDPRule(timing: STDPRule(aPre: 0.01, aPost: -0.0105, tauPre: 20, tauPost: 20,
                                                                                   wMin: 0, wMax: 1),
                                                                  // τ_c 100 ms: segments of 2000 steps at most, so the lazy
                                                                  // weights catch up both at a sign change of k and at a full segment.
                                                                  tauC: 100, tauD: 200, baseline: 0.001))),
        ], rewards: [SpikePairingRewardSpec(pre: NeuronAddress(population: "times", index: 0), post: NeuronAddress(population: "noise", index: 0),
                                            within: 5, reward: 1, delay: 1...30)])
        let net = try Network(spec)
        let spikeInput = try #require(net.spikeInput(population: 5))
        let current = try #require(net.currentInput(population: 1))
        let rates = try #require(net.rateInput(population: 3))
        for _ in 0..<100 { net.step() }  // warm up: lazy runtime metadata, first-touch paths

        var spikes = 0
        sl_alloc_counting_begin()
        for k in 0..<10_000 {
            spikeInput.fire(k % 20)
            current.set(k % 100, nanoamps: Float(k % 7))
            rates.set(k % 100, hertz: Float(k % 90))
            if k % 500 == 0 { net.reward(1) }
            if k == 5000 { net.learningRate = 0.5 }
            net.step()
            spikes &+= net.spikes(ofPopulation: 0).count
        }
        let allocations = sl_alloc_counting_end()
        #expect(allocations == 0, "\(allocations) heap allocations in 10,000 steps")
        #expect(spikes > 0)
        #expect(net.earnedRewards.delivered > 0, "no reward was earned by a pairing")
        // The plastic projections did learn.
        for name in ["stdp", "stdp-soft", "rstdp"] {
            let p = try #require(net.projectionNames.firstIndex(of: name))
            #expect(Set(net.weights(ofProjection: p)).count > 10, "\(name): weights did not change")
        }
    }

    /// Layers of a trained network (NIR): every kind, dense and sparse inputs,
    /// analog and spike sources, a recurrent edge, a delay line, each reset.
    @Test(.enabled(if: optimised, "allocation counts are meaningful in optimised builds: swift test -c release"))
    func noAllocationInLayerSteps() throws {
        func dense(_ source: String, _ rows: Int, _ columns: Int, scale: Float) -> LayerInput {
            LayerInput(source: source, dense: (0..<rows * columns).map { Float(($0 * 7919) % 13) / 13 * scale - scale / 3 }, sourceSize: columns,
                       bias: Array(repeating: 0.05, count: rows))
        }
        let n = 64
        func ones(_ x: Double) -> [Double] { Array(repeating: x, count: n) }
        let sparse = LayerInput(source: "lif", sourceSize: n, rows: (0..<n).map { UInt32($0) }, columns: (0..<n).map { UInt32(($0 + 1) % n) },
                                weights: Array(repeating: 0.5, count: n))
        var populations = [PopulationSpec(name: "in", size: 32, model: .analogInput),
                           PopulationSpec(name: "spikes", size: 16, model: .input)]
        let kinds: [(String, LayerSpec)] = [
            ("lif", LayerSpec(kind: .lif, tauMem: ones(1), r: ones(1), vLeak: ones(0), vThreshold: ones(1), vReset: ones(0),
                              inputs: [dense("in", n, 32, scale: 3), dense("spikes", n, 16, scale: 1), dense("lif", n, n, scale: 0.2)])),
            ("cuba", LayerSpec(kind: .cubaLIF, tauMem: ones(1), tauSyn: ones(0.5), r: ones(1), vLeak: ones(0), vThreshold: ones(1),
                               vReset: ones(0), wIn: ones(1), reset: .subtract, inputs: [dense("lif", n, n, scale: 2)])),
            ("if", LayerSpec(kind: .integrateAndFire, r: ones(1000), vThreshold: ones(1), vReset: ones(0), reset: .toResetNextStep,
                             inputs: [sparse])),
            ("li", LayerSpec(kind: .leakyIntegrator, tauMem: ones(2), r: ones(1), vLeak: ones(0), inputs: [dense("cuba", n, n, scale: 1)])),
            ("cubali", LayerSpec(kind: .cubaLI, tauMem: ones(2), tauSyn: ones(1), r: ones(1), vLeak: ones(0), wIn: ones(1),
                                 inputs: [dense("if", n, n, scale: 1)])),
            ("integrator", LayerSpec(kind: .integrator, r: ones(10), inputs: [dense("li", n, n, scale: 0.1)])),
            ("threshold", LayerSpec(kind: .threshold, vThreshold: ones(0.2), inputs: [dense("li", n, n, scale: 1)])),
            ("delay", LayerSpec(kind: .delay, delay: (0..<n).map { Double($0 % 5) * 0.1 }, inputs: [dense("threshold", n, n, scale: 1)])),
            ("out", LayerSpec(kind: .identity, inputs: [dense("delay", n, n, scale: 1)])),
        ]
        populations += kinds.map { PopulationSpec(name: $0.0, size: n, model: .layer($0.1)) }
        let net = try Network(NetworkSpec(dt: 0.1, populations: populations))
        let values = try #require(net.currentInput(population: 0))
        let spikeInput = try #require(net.spikeInput(population: 1))
        for _ in 0..<100 { net.step() }

        var spikes = 0
        let count = populations.count
        sl_alloc_counting_begin()
        for k in 0..<10_000 {
            values.set(k % 32, nanoamps: Float(k % 5) / 4)
            spikeInput.fire(k % 16)
            net.step()
            for p in 2..<count { spikes &+= net.spikes(ofPopulation: p).count }
        }
        let allocations = sl_alloc_counting_end()
        #expect(allocations == 0, "\(allocations) heap allocations in 10,000 steps")
        #expect(spikes > 0)
    }

    /// The counter itself works: an array allocates.
    @Test func counterSeesAllocations() {
        sl_alloc_counting_begin()
        let a = [Int](repeating: 1, count: Int.random(in: 100...200))
        let n = sl_alloc_counting_end()
        #expect(a.count >= 100)
        #expect(n >= 1)
        // It names the first allocation's caller: the Swift runtime's allocator entry.
        let caller = sl_alloc_first_caller().map { String(cString: $0) }
        #expect(caller?.contains("libswiftCore") == true || caller?.contains("swift_slowAlloc") == true, "first caller: \(caller ?? "none")")
        sl_alloc_counting_begin()
        _ = sl_alloc_counting_end()
        #expect(sl_alloc_first_caller() == nil, "no allocation, no caller")
    }
}
