import Foundation
import Testing
@testable import Neural

@Suite struct ProjectionTests {
    func build(_ rule: ConnectionRule, pre: Int = 30, post: Int = 30, excludeSelf: Bool = false,
               weight: SynapseValues = .constant(1), delay: SynapseValues = .constant(0), seed: UInt64 = 1) throws -> Network {
        let cell = LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -65)
        return try Network(NetworkSpec(dt: 0.1, seed: seed, populations: [
            PopulationSpec(name: "a", size: pre, model: .lif(cell)),
            PopulationSpec(name: "b", size: post, model: .lif(cell)),
        ], projections: [ProjectionSpec(source: "a", target: "b", variable: .v, rule: rule, excludeSelf: excludeSelf, weight: weight, delay: delay)]))
    }

    @Test func allToAllExcludeSelf() throws {
        let c = try build(.allToAll, excludeSelf: true).connections(ofProjection: 0)
        #expect(c.count == 30 * 29)
        #expect(!c.contains { $0.pre == $0.post })
    }

    @Test func oneToOne() throws {
        let c = try build(.oneToOne).connections(ofProjection: 0)
        #expect(c.map(\.pre) == Array(0..<30))
        #expect(c.map(\.post) == Array(0..<30))
        #expect(throws: NetworkBuildError.self) { try build(.oneToOne, post: 20) }
    }

    @Test func fixedProbabilityCount() throws {
        let net = try build(.fixedProbability(0.1), pre: 400, post: 500)
        let n = Double(net.synapseCount), mean = 400.0 * 500 * 0.1
        #expect(abs(n - mean) < 3 * (mean * 0.9).squareRoot(), "\(n) synapses")
        #expect(try build(.fixedProbability(0), pre: 50, post: 50).synapseCount == 0)
        #expect(try build(.fixedProbability(1), pre: 50, post: 50, excludeSelf: true).synapseCount == 50 * 49)
    }

    @Test func fixedIndegreeGivesDistinctInputs() throws {
        let c = try build(.fixedIndegree(7), pre: 20, post: 40, excludeSelf: true).connections(ofProjection: 0)
        let byPost = Dictionary(grouping: c, by: \.post)
        #expect(byPost.count == 40)
        for (j, inputs) in byPost {
            #expect(inputs.count == 7)
            #expect(Set(inputs.map(\.pre)).count == 7)
            #expect(!inputs.contains { $0.pre == j })
        }
        #expect(throws: NetworkBuildError.self) { try build(.fixedIndegree(21), pre: 20) }
    }

    @Test func listKeepsWeightsWithTheirPairs() throws {
        let net = try build(.list([(3, 1), (0, 2), (3, 0), (1, 1)]), weight: .values([1, 2, 3, 4]))
        // CSR order: by presynaptic neuron, then as listed.
        #expect(net.connections(ofProjection: 0).map { [$0.pre, $0.post] } == [[0, 2], [1, 1], [3, 1], [3, 0]])
        #expect(net.weights(ofProjection: 0) == [2, 4, 1, 3])
    }

    @Test func weightInitialisers() throws {
        let u = try build(.allToAll, weight: .uniform(0.2, 0.4)).weights(ofProjection: 0)
        #expect(u.allSatisfy { $0 >= 0.2 && $0 < 0.4 })
        #expect(abs(u.reduce(0, +) / Float(u.count) - 0.3) < 0.01)
        let n = try build(.allToAll, weight: .clippedNormal(mean: 1, sd: 0.5, min: 0.5, max: 1.2)).weights(ofProjection: 0)
        #expect(n.allSatisfy { $0 >= 0.5 && $0 <= 1.2 })
        #expect(n.contains(0.5) && n.contains(1.2))  // clipped on both sides
    }

    @Test func storageStaysWithinTwelveBytesPerSynapse() throws {
        #expect(try build(.allToAll).bytesPerSynapse == 4)
        #expect(try build(.allToAll, weight: .uniform(0, 1)).bytesPerSynapse == 8)
        #expect(try build(.allToAll, weight: .uniform(0, 1), delay: .uniform(0, 3)).bytesPerSynapse == 10)
    }

    @Test func negativeDelayIsRefused() throws {
        #expect(throws: NetworkBuildError.self) { try build(.allToAll, delay: .constant(-1)) }
    }

    /// Each delay arrives after exactly round(delay / dt) steps.
    @Test(arguments: [0.0, 0.1, 0.25, 1.0, 3.0])
    func delayedDelivery(delay: Double) throws {
        let net = try Network(NetworkSpec(dt: 0.1, populations: [
            PopulationSpec(name: "s", size: 1, model: .spikeTimes([[1]])),
            PopulationSpec(name: "n", size: 1, model: .lif(LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -65))),
        ], projections: [ProjectionSpec(source: "s", target: "n", variable: .v, rule: .allToAll, weight: .constant(25), delay: .constant(delay))]))
        let fired = runSpikes(net, steps: 100).filter { $0.population == "n" }.map(\.step)
        // Arrives in step 10 + d, crosses threshold then, fires in the next step's threshold.
        #expect(fired == [10 + Int((delay / 0.1).rounded()) + 1])
    }
}
