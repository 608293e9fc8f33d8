import Foundation
@testable import Neural

/// Runs `steps` steps and returns every spike as (step, population, neuron).
func runSpikes(_ net: Network, steps: Int) -> [Spike] {
    var out: [Spike] = []
    for _ in 0..<steps {
        net.step()
        let k = Int(net.stepIndex - 1)
        for p in 0..<net.populationNames.count {
            for n in net.spikes(ofPopulation: p).buffer { out.append(Spike(step: k, population: net.populationNames[p], neuron: Int(n))) }
        }
    }
    return out
}

struct Spike: Hashable, Comparable, CustomStringConvertible {
    var step: Int
    var population: String
    var neuron: Int

    static func < (a: Spike, b: Spike) -> Bool {
        (a.step, a.population, a.neuron) < (b.step, b.population, b.neuron)
    }

    var description: String { "step \(step) \(population)[\(neuron)]" }
}

/// A network of one LIF population with the given parameters.
func singleLIF(_ p: LIFParameters, size: Int = 1, dt: Double = 0.1) throws -> Network {
    try Network(NetworkSpec(dt: dt, populations: [PopulationSpec(name: "n", size: size, model: .lif(p))]))
}

let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
