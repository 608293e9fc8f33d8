import Testing
@testable import Neural

/// The layer step of docs/nir.md on cases small enough to compute by hand.
@Suite struct LayerTests {
    func network(_ layer: LayerSpec, size: Int = 1, dt: Double = 0.1) throws -> Network {
        try Network(NetworkSpec(dt: dt, populations: [
            PopulationSpec(name: "x", size: 1, model: .analogInput),
            PopulationSpec(name: "layer", size: size, model: .layer(layer)),
        ]))
    }

    @Test func lifIntegratesByForwardEulerAndResetsToVReset() throws {
        // dt/τ = 0.5, r = 2, input 1: v ← v + 0.5·(0 − v + 2) = 0.5 v + 1 → 1, 1.5, 1.75 > 1.6 spikes → −0.1
        let net = try network(LayerSpec(kind: .lif, tauMem: [0.2], r: [2], vLeak: [0], vThreshold: [1.6], vReset: [-0.1],
                                        inputs: [LayerInput(source: "x", dense: [1], sourceSize: 1)]))
        try #require(net.currentInput(population: 0)).set(0, nanoamps: 1)
        var trace: [Float] = []
        var fired: [Int] = []
        for k in 0..<4 {
            net.step()
            trace.append(Float(net.value(population: 1, variable: "v", neuron: 0)!))
            if net.spikes(ofPopulation: 1).count > 0 { fired.append(k) }
        }
        #expect(trace == [1, 1.5, -0.1, 0.95])
        #expect(fired == [2])
    }

    @Test func subtractTakesTheThresholdOffInTheNextUpdate() throws {
        // v ← 0.5 v + 1 − pending: 1, 1.5, 1.75 (spike, shown before the reset), then 0.5·1.75 + 1 − 1.6 = 0.275
        let net = try network(LayerSpec(kind: .lif, tauMem: [0.2], r: [2], vLeak: [0], vThreshold: [1.6], vReset: [0],
                                        reset: .subtract, inputs: [LayerInput(source: "x", dense: [1], sourceSize: 1)]))
        try #require(net.currentInput(population: 0)).set(0, nanoamps: 1)
        var trace: [Float] = []
        for _ in 0..<4 {
            net.step()
            trace.append(Float(net.value(population: 1, variable: "v", neuron: 0)!))
        }
        #expect(trace.map { ($0 * 1000).rounded() / 1000 } == [1, 1.5, 1.75, 0.275])
    }

    @Test func cubaMembraneUsesTheUpdatedCurrent() throws {
        // i ← i + 0.5·(2·1 − i): 1, 1.5; v ← v + 0.25·(−v + i): 0.25, 0.5625
        let net = try network(LayerSpec(kind: .cubaLI, tauMem: [0.4], tauSyn: [0.2], r: [1], vLeak: [0], wIn: [2],
                                        inputs: [LayerInput(source: "x", dense: [1], sourceSize: 1)]))
        try #require(net.currentInput(population: 0)).set(0, nanoamps: 1)
        net.step()
        #expect(net.value(population: 1, variable: "i", neuron: 0) == 1)
        #expect(net.value(population: 1, variable: "v", neuron: 0) == 0.25)
        net.step()
        #expect(net.value(population: 1, variable: "i", neuron: 0) == 1.5)
        #expect(net.value(population: 1, variable: "v", neuron: 0) == 0.5625)
    }

    @Test func aDelayLineShiftsByWholeSteps() throws {
        let net = try network(LayerSpec(kind: .delay, delay: [0, 0.2, 0.26], inputs: [
            LayerInput(source: "x", dense: [1, 1, 1], sourceSize: 1)]), size: 3)
        let x = try #require(net.currentInput(population: 0))
        var rows: [[Float]] = []
        for k in 0..<5 {
            x.set(0, nanoamps: Float(k + 1))
            net.step()
            rows.append((0..<3).map { Float(net.value(population: 1, variable: "v", neuron: $0)!) })
        }
        // delays of 0, 2 and round(2.6) = 3 steps
        #expect(rows == [[1, 0, 0], [2, 0, 0], [3, 1, 0], [4, 2, 1], [5, 3, 2]])
    }

    @Test func aRecurrentInputReadsThePreviousStep() throws {
        // A threshold layer that feeds itself: z(t) = (1 + z(t−1)·(−2)) > 0 alternates 1, 0, 1, 0.
        let net = try network(LayerSpec(kind: .threshold, vThreshold: [0], inputs: [
            LayerInput(source: "x", dense: [1], sourceSize: 1), LayerInput(source: "layer", dense: [-2], sourceSize: 1)]))
        try #require(net.currentInput(population: 0)).set(0, nanoamps: 1)
        var fired: [Int] = []
        for _ in 0..<4 {
            net.step()
            fired.append(net.spikes(ofPopulation: 1).count)
        }
        #expect(fired == [1, 0, 1, 0])
    }

    @Test func vStartsAtVInitialAndReturnsThereOnReset() throws {
        // IF, r·dt = 1 (r = 1/dt in s), input 0.3 from v0 = 0.5: 0.8, 1.1 (spike), 0.4; reset → 0.5 + 0.3 = 0.8 again
        let net = try network(LayerSpec(kind: .integrateAndFire, r: [10_000], vThreshold: [1], vReset: [0], vInitial: [0.5],
                                        reset: .subtract, inputs: [LayerInput(source: "x", dense: [1], sourceSize: 1)]))
        #expect(net.value(population: 1, variable: "v", neuron: 0) == 0.5)
        try #require(net.currentInput(population: 0)).set(0, nanoamps: 0.3)
        var trace: [Float] = []
        for _ in 0..<3 {
            net.step()
            trace.append(Float(net.value(population: 1, variable: "v", neuron: 0)!))
        }
        #expect(trace.map { ($0 * 1000).rounded() / 1000 } == [0.8, 1.1, 0.4])
        net.restoreInitialState()
        #expect(net.value(population: 1, variable: "v", neuron: 0) == 0.5)
        try #require(net.currentInput(population: 0)).set(0, nanoamps: 0.3)
        net.step()
        #expect((net.value(population: 1, variable: "v", neuron: 0)! * 1000).rounded() / 1000 == 0.8)
    }

    @Test func badLayersAreRefusedWithTheField() throws {
        #expect(throws: NetworkBuildError.self) {
            try network(LayerSpec(kind: .lif, tauMem: [-1], r: [1], vLeak: [0], vThreshold: [1], vReset: [0],
                                  inputs: [LayerInput(source: "x", dense: [1], sourceSize: 1)]))
        }
        do {
            _ = try network(LayerSpec(kind: .lif, tauMem: [1], r: [1], vLeak: [0], vThreshold: [1], vReset: [0],
                                      inputs: [LayerInput(source: "nowhere", dense: [1], sourceSize: 1)]))
            Issue.record("an input from a missing population was accepted")
        } catch {
            #expect("\(error)".contains("input from 'nowhere', which is no population"))
        }
        do {
            _ = try network(LayerSpec(kind: .threshold, vThreshold: [1], vInitial: [0.5],
                                      inputs: [LayerInput(source: "x", dense: [1], sourceSize: 1)]))
            Issue.record("v_initial on a layer without membrane was accepted")
        } catch {
            #expect("\(error)".contains("v_initial: a threshold layer has no membrane"))
        }
    }
}
