import CAllocationCounter
import Testing
@testable import Neural

/// Setting weights: the network's response follows them exactly, storage
/// adapts (constant → per synapse), bad input names the projection, and a
/// reset keeps them (weights are parameters, not state).
@Suite struct WeightTests {
    /// One input spike at step 0 into three neurons' `v`, zero delay: after
    /// step 0 each v is v_rest + w exactly (the spike arrives after the state update).
    func network(weight: SynapseValues = .constant(2)) throws -> Network {
        try Network(NetworkSpec(dt: 0.1, populations: [
            PopulationSpec(name: "in", size: 1, model: .spikeTimes([[0]])),
            PopulationSpec(name: "n", size: 3, model: .lif(LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -70))),
        ], projections: [ProjectionSpec(source: "in", target: "n", variable: .v, rule: .allToAll, weight: weight)]))
    }

    func voltagesAfterFirstStep(_ net: Network) -> [Float] {
        net.step()
        return (0..<3).map { Float(net.value(population: 1, variable: "v", neuron: $0)!) }
    }

    @Test func doubledWeightDoublesThePSP() throws {
        let net = try network()
        #expect(voltagesAfterFirstStep(net) == [-68, -68, -68])
        try net.setWeights(ofProjection: 0, [4, 4, 4])
        net.restoreInitialState()
        #expect(voltagesAfterFirstStep(net) == [-66, -66, -66])
        #expect(net.bytesPerSynapse == 4, "equal weights stay one constant")
    }

    @Test func differingWeightsOnAConstantProjectionGetPerSynapseStorage() throws {
        let net = try network()
        try net.setWeights(ofProjection: 0, [4, 1, 0.5])
        #expect(net.bytesPerSynapse == 8)
        #expect(net.weights(ofProjection: 0) == [4, 1, 0.5])
        #expect(voltagesAfterFirstStep(net) == [-66, -69, -69.5])
        // Back to equal weights: the per-synapse storage is overwritten, not freed.
        try net.setWeights(ofProjection: 0, [3, 3, 3])
        net.restoreInitialState()
        #expect(voltagesAfterFirstStep(net) == [-67, -67, -67])
    }

    @Test func resetKeepsSetWeights() throws {
        let net = try network(weight: .values([1, 2, 3]))
        try net.setWeights(ofProjection: 0, [10, 20, 29])
        _ = voltagesAfterFirstStep(net)
        for _ in 0..<50 { net.step() }
        net.restoreInitialState()
        #expect(net.weights(ofProjection: 0) == [10, 20, 29])
        // v_threshold −50 mV: 20 and 29 mV cross it (the spike is seen in the next step's threshold).
        #expect(voltagesAfterFirstStep(net) == [-60, -50, -41])
        net.step()
        #expect(Array(net.spikes(ofPopulation: 1).buffer) == [2])
    }

    /// The daemon's loop installs and copies weights at tick boundaries: neither touches the heap.
    @Test(.enabled(if: optimised, "allocation counts are meaningful in optimised builds: swift test -c release"))
    func installAndCopyDoNotAllocate() throws {
        let net = try network()
        let differing = try net.prepareWeights(ofProjection: 0, [1, 2, 3])
        let equal = try net.prepareWeights(ofProjection: 0, [5, 5, 5])
        var out = [Float](repeating: 0, count: 3)
        sl_alloc_counting_begin()
        net.install(differing)  // constant → adopts the prepared buffer
        out.withUnsafeMutableBufferPointer { net.copyWeights(ofProjection: 0, into: $0) }
        net.install(equal)      // per synapse → overwritten in place
        let allocations = sl_alloc_counting_end()
        #expect(allocations == 0)
        #expect(out == [1, 2, 3])
        #expect(net.weights(ofProjection: 0) == [5, 5, 5])
    }

    @Test func badWeightsAreRefusedNamingTheProjection() throws {
        let net = try network()
        #expect(throws: WeightError("projection 'in->n': 2 weights given for its 3 synapses (CSR order)")) {
            try net.setWeights(ofProjection: 0, [1, 2])
        }
        #expect(throws: WeightError("projection 'in->n': weight 1 (CSR order) is nan; weights must be finite")) {
            try net.setWeights(ofProjection: 0, [1, .nan, 2])
        }
        #expect(throws: WeightError("projection 'in->n': weight 2 (CSR order) is inf; weights must be finite")) {
            try net.setWeights(ofProjection: 0, [1, 1, .infinity])
        }
        #expect(throws: WeightError("no projection 1; the network has 1")) { try net.setWeights(ofProjection: 1, []) }
        #expect(net.weights(ofProjection: 0) == [2, 2, 2], "a refused set changes nothing")
    }
}
