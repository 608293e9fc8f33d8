import Foundation
import Testing
@testable import Neural

/// The LIF engine against closed-form solutions.
@Suite struct LIFAnalyticTests {
    /// Period of a LIF neuron under constant drive:
    /// t_ref + τ_m · ln((R·I − (V_r − E_L)) / (R·I − (V_t − E_L))).
    @Test(arguments: [(25.0, 2.0), (21.0, 5.0), (40.0, 0.0), (60.0, 3.3)])
    func constantDrivePeriod(drive: Double, tRef: Double) throws {
        let dt = 0.1
        let p = LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -65, tRef: tRef, iExt: .constant(drive))
        let net = try singleLIF(p, dt: dt)
        let spikes = runSpikes(net, steps: Int(1000 / dt)).map(\.step)
        let expected = tRef + 10 * log((drive - (-65 + 70)) / (drive - (-50 + 70)))
        #expect(spikes.count >= 10)
        for (a, b) in zip(spikes, spikes.dropFirst()) {
            let period = Double(b - a) * dt
            #expect(abs(period - expected) <= dt + 1e-9, "period \(period) ms, expected \(expected) ms")
        }
        // The first spike: climbing from v_rest (the initial value) to threshold.
        let first = 10 * log(drive / (drive - 20))
        #expect(abs(Double(spikes[0]) * dt - first) <= dt + 1e-9)
    }

    /// Below rheobase (R·I ≤ V_t − E_L) the neuron never fires and settles at E_L + R·I.
    @Test func subthresholdDriveSettles() throws {
        let p = LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -65, iExt: .constant(19.5))
        let net = try singleLIF(p)
        #expect(runSpikes(net, steps: 5000).isEmpty)
        let v = Double(net.value(population: 0, variable: "v", neuron: 0)!)
        // Float32 state stops moving once a step's change is below half an ulp:
        // within ulp(v) / (1 − e^{−dt/τ_m}) ≈ 0.38 µV of the true fixed point.
        let band = Double(Float(50.5).ulp) / (1 - exp(-0.1 / 10))
        #expect(abs(v - (-50.5)) < band, "v = \(v) mV, band \(band) mV")
    }

    /// One spike into g_e: v − v_rest = w·τ_e/(τ_e − τ_m)·(e^{−t/τ_e} − e^{−t/τ_m}),
    /// over 60 ms, with the error relative to the PSP's peak.
    @Test(arguments: [(10.0, 5.0), (20.0, 2.0), (10.0, 10.0)])
    func exponentialSynapsePSP(tauM: Double, tauE: Double) throws {
        let dt = 0.1, w = 2.0
        let spec = NetworkSpec(dt: dt, populations: [
            PopulationSpec(name: "in", size: 1, model: .spikeTimes([[0]])),
            // v_rest = 0 so that Float32 resolution is relative to the PSP itself.
            PopulationSpec(name: "n", size: 1, model: .lif(LIFParameters(tauM: tauM, vRest: 0, vThreshold: 100, vReset: 0, tauE: tauE))),
        ], projections: [ProjectionSpec(source: "in", target: "n", variable: .ge, rule: .allToAll, weight: .constant(w))])
        let net = try Network(spec)
        var worst = 0.0, peak = 0.0
        net.step()  // the input spike arrives in step 0, so g_e(t = dt) = w
        for k in 1...600 {
            net.step()
            // After step k, v is the value at t = k·dt after the arrival.
            let t = Double(k) * dt
            let exact = tauE == tauM
                ? w * t / tauM * exp(-t / tauM)
                : w * tauE / (tauE - tauM) * (exp(-t / tauE) - exp(-t / tauM))
            let v = Double(net.value(population: 1, variable: "v", neuron: 0)!)
            worst = max(worst, abs(v - exact))
            peak = max(peak, exact)
        }
        #expect(worst / peak < 1e-5, "largest error \(worst) mV for a \(peak) mV PSP")
    }

    /// The kernel skips the rest buffer when every neuron rests alike. That
    /// form must step exactly as the per-neuron one (which an injected current
    /// selects for good, even after it is set back to 0), and the padding
    /// lanes of a population that is not a multiple of 16 must stay silent
    /// although the common rest lies above threshold.
    @Test(arguments: [(Precision.float32, false), (.float64, false), (.float32, true), (.float64, true)])
    func uniformRestStepsAsPerNeuronRest(precision: Precision, conductance: Bool) throws {
        let size = 37
        let cell = conductance
            ? LIFParameters(tauM: 20, vRest: -60, vThreshold: -50, vReset: -60, tRef: 2, tauE: 5, tauI: 10,
                            rM: 1, iExt: .constant(10.5), vInit: .uniform(-60, -50), eE: 0, eI: -80)
            : LIFParameters(tauM: 20, vRest: -49, vThreshold: -50, vReset: -60, tRef: 2, tauE: 5, tauI: 10, vInit: .uniform(-60, -50))
        func network() throws -> Network {
            try Network(NetworkSpec(dt: 0.1, seed: 3, precision: precision, populations: [
                PopulationSpec(name: "in", size: 20, model: .poisson(rates: .constant(200))),
                PopulationSpec(name: "n", size: size, model: .lif(cell)),
            ], projections: [
                ProjectionSpec(source: "in", target: "n", variable: .ge, rule: .fixedProbability(0.3), weight: .constant(conductance ? 0.2 : 1)),
                ProjectionSpec(source: "n", target: "n", variable: .gi, rule: .fixedProbability(0.2), weight: .constant(conductance ? 0.5 : -2)),
            ]))
        }
        let uniform = try network(), perNeuron = try network()
        let current = try #require(perNeuron.currentInput(population: 1))
        current.set(5, nanoamps: 1)
        current.set(5, nanoamps: 0)
        var spikes = 0
        for _ in 0..<5000 {
            uniform.step()
            perNeuron.step()
            let a = Array(uniform.spikes(ofPopulation: 1).buffer), b = Array(perNeuron.spikes(ofPopulation: 1).buffer)
            try #require(a == b, "step \(uniform.stepIndex - 1): \(a) against \(b)")
            #expect(a.allSatisfy { $0 < size })
            spikes += a.count
        }
        for j in 0..<size {
            #expect(uniform.value(population: 1, variable: "v", neuron: j) == perNeuron.value(population: 1, variable: "v", neuron: j))
        }
        #expect(spikes > 500)
    }

    /// A direct `v` input is dropped while the neuron is refractory and counts once it is free.
    @Test func directInputIgnoredWhileRefractory() throws {
        // Spike at step 0 (drive forces it), t_ref 2 ms = 20 steps: steps 0…19 refractory.
        let spec = NetworkSpec(dt: 0.1, populations: [
            PopulationSpec(name: "in", size: 2, model: .spikeTimes([[1.9], [2.0]])),
            PopulationSpec(name: "n", size: 2, model: .lif(LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -70, tRef: 2, vInit: .constant(-49)))),
        ], projections: [ProjectionSpec(source: "in", target: "n", variable: .v, rule: .oneToOne, weight: .constant(5))])
        let net = try Network(spec)
        let spikes = runSpikes(net, steps: 30).filter { $0.population == "n" }
        #expect(spikes.map(\.step) == [0, 0])
        // Neuron 0's input (step 19) was dropped, neuron 1's (step 20) was not.
        let v0 = Double(net.value(population: 1, variable: "v", neuron: 0)!)
        let v1 = Double(net.value(population: 1, variable: "v", neuron: 1)!)
        #expect(abs(v0 - (-70)) < 1e-5)
        #expect(abs(v1 - (-70 + 5 * exp(-0.9 / 10))) < 1e-4)  // arrived in step 20, decayed over steps 21…29
    }

    /// The kernel tests refractory neurons against the threshold too (they
    /// hold v_reset), so a reset above threshold is refused, not run wrong.
    @Test(arguments: [Precision.float32, .float64])
    func resetAboveThresholdIsRefused(precision: Precision) throws {
        func spec(vReset: Double) -> NetworkSpec {
            NetworkSpec(dt: 0.1, precision: precision, populations: [
                PopulationSpec(name: "n", size: 3, model: .lif(LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: vReset, tRef: 2, vInit: .constant(-49)))),
            ])
        }
        #expect(throws: NetworkBuildError("population 'n': v_reset -45.0 mV is above v_threshold -50.0 mV; it must not be (the neuron would fire again whenever its refractory period ends, whatever its input)")) {
            try Network(spec(vReset: -45))
        }
        // At threshold (v > v_threshold fires) it runs: one spike, then silence.
        let net = try Network(spec(vReset: -50))
        #expect(runSpikes(net, steps: 200).map(\.step) == [0, 0, 0])
    }
}
