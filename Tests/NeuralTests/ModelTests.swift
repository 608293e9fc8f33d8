import Foundation
import Testing
@testable import Neural

@Suite struct IzhikevichTests {
    /// Our Float32 engine against an independent Double-precision Euler integration.
    @Test(arguments: IzhikevichParameters.presets.map(\.name))
    func presetMatchesReference(name: String) throws {
        var p = IzhikevichParameters.preset(name)!
        p.iExt = .constant(10)
        let dt = 0.1, steps = 10_000
        let net = try Network(NetworkSpec(dt: dt, populations: [PopulationSpec(name: "n", size: 1, model: .izhikevich(p))]))
        let ours = runSpikes(net, steps: steps).map(\.step)

        var v = -65.0, u = p.b * -65.0
        var reference: [Int] = []
        for k in 0..<steps {
            let v1 = v + dt * (0.04 * v * v + 5 * v + 140 - u + 10)
            u += dt * p.a * (p.b * v - u)
            v = v1
            if v >= 30 { reference.append(k); v = p.c; u += p.d }
        }
        #expect(abs(ours.count - reference.count) <= 1, "\(name): \(ours.count) vs \(reference.count) spikes")
        #expect(ours.first == reference.first)
        #expect(ours.count > 5)
    }

    /// The presets differ as in Izhikevich (2003): fast spiking fires fastest,
    /// chattering fires in bursts (short and long intervals), regular spiking adapts.
    @Test func presetsHaveTheirFiringPatterns() throws {
        func intervals(_ name: String) throws -> [Int] {
            var p = IzhikevichParameters.preset(name)!
            p.iExt = .constant(10)
            let net = try Network(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "n", size: 1, model: .izhikevich(p))]))
            let s = runSpikes(net, steps: 10_000).map(\.step)
            return zip(s, s.dropFirst()).map { $1 - $0 }
        }
        let rs = try intervals("regular_spiking"), fs = try intervals("fast_spiking"), ch = try intervals("chattering")
        #expect(fs.count > rs.count)
        #expect(rs.first! < rs.last!)  // adaptation: intervals lengthen
        #expect(ch.max()! > 3 * ch.min()!)  // bursts: short intra-burst, long inter-burst
    }
}

@Suite struct SpikeSourceTests {
    /// 100 Poisson neurons at 20 Hz for 10 s: the count lies within 3σ of 20,000.
    @Test func poissonRate() throws {
        let net = try Network(NetworkSpec(dt: 0.1, seed: 7, populations: [PopulationSpec(name: "p", size: 100, model: .poisson(rates: .constant(20)))]))
        let count = runSpikes(net, steps: 100_000).count
        let p = 20 * 0.1 / 1000, n = 100.0 * 100_000
        let sigma = (n * p * (1 - p)).squareRoot()
        #expect(abs(Double(count) - n * p) < 3 * sigma, "\(count) spikes, expected \(n * p) ± \(3 * sigma)")
    }

    @Test func spikeTimesAreRoundedToSteps() throws {
        let net = try Network(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "s", size: 2, model: .spikeTimes([[0.04, 1.26, 1.26], [0.5]]))]))
        #expect(runSpikes(net, steps: 20).map { [$0.step, $0.neuron] } == [[0, 0], [5, 1], [13, 0]])
    }
}

@Suite struct DeterminismTests {
    static func network(seed: UInt64) -> NetworkSpec {
        NetworkSpec(dt: 0.1, seed: seed, populations: [
            PopulationSpec(name: "drive", size: 50, model: .poisson(rates: .constant(200))),
            PopulationSpec(name: "n", size: 40, model: .lif(LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -65, tRef: 2, tauE: 5, vInit: .uniform(-70, -55)))),
        ], projections: [
            ProjectionSpec(source: "drive", target: "n", variable: .ge, rule: .fixedProbability(0.3), weight: .uniform(0.5, 2), delay: .uniform(0, 2)),
            ProjectionSpec(source: "n", target: "n", variable: .v, rule: .allToAll, excludeSelf: true, weight: .clippedNormal(mean: 0.5, sd: 0.5, min: 0, max: 2), delay: .constant(1)),
        ])
    }

    @Test func sameSeedSameSpikes() throws {
        let a = runSpikes(try Network(Self.network(seed: 3)), steps: 5000)
        let b = runSpikes(try Network(Self.network(seed: 3)), steps: 5000)
        let c = runSpikes(try Network(Self.network(seed: 4)), steps: 5000)
        #expect(a.count > 100)
        #expect(a == b)
        #expect(a != c)
    }

    @Test func restoreInitialStateReplaysExactly() throws {
        let net = try Network(Self.network(seed: 3))
        let first = runSpikes(net, steps: 3000)
        net.restoreInitialState()
        #expect(runSpikes(net, steps: 3000) == first)
    }
}
