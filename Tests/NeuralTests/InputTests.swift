import Testing
@testable import Neural

/// The handles encoders use to drive a network.
@Suite struct InputTests {
    @Test func spikeInputFiresInTheNextStepOnce() throws {
        let net = try Network(NetworkSpec(dt: 0.1, populations: [
            PopulationSpec(name: "in", size: 4, model: .input),
            PopulationSpec(name: "n", size: 4, model: .lif(LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -65))),
        ], projections: [ProjectionSpec(source: "in", target: "n", variable: .v, rule: .oneToOne, weight: .constant(5))]))
        let input = try #require(net.spikeInput(population: 0))
        input.fire(2)
        input.fire(2)  // a neuron spikes at most once per step
        input.fire(0)
        input.fire(9)  // outside the population: ignored
        net.step()
        #expect(Array(net.spikes(ofPopulation: 0).buffer) == [2, 0])
        #expect(net.value(population: 1, variable: "v", neuron: 2)! == -65)
        net.step()
        #expect(net.spikes(ofPopulation: 0).count == 0)
        #expect(net.currentInput(population: 0) == nil)
    }

    /// An injected current shifts the LIF fixed point to v_rest + R·(I_ext + I).
    @Test func injectedCurrentMovesTheFixedPoint() throws {
        let net = try Network(NetworkSpec(dt: 0.1, populations: [
            PopulationSpec(name: "n", size: 2, model: .lif(LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -65, rM: 2, iExt: .constant(1)))),
        ]))
        let current = try #require(net.currentInput(population: 0))
        current.set(1, nanoamps: 4)
        for _ in 0..<5000 { net.step() }
        #expect(abs(net.value(population: 0, variable: "v", neuron: 0)! - (-68)) < 1e-3)
        #expect(abs(net.value(population: 0, variable: "v", neuron: 1)! - (-60)) < 1e-3)
        net.restoreInitialState()
        for _ in 0..<5000 { net.step() }
        #expect(abs(net.value(population: 0, variable: "v", neuron: 1)! - (-68)) < 1e-3)
    }

    @Test func rateInputChangesPoissonRates() throws {
        let net = try Network(NetworkSpec(dt: 1, seed: 5, populations: [PopulationSpec(name: "p", size: 100, model: .poisson(rates: .constant(0)))]))
        let rates = try #require(net.rateInput(population: 0))
        for j in 0..<100 { rates.set(j, hertz: 100) }
        let count = runSpikes(net, steps: 1000).count  // expect 100 × 1000 × 0.1 = 10,000
        #expect(abs(count - 10_000) < 3 * 95)
    }
}
