import Coding
import Neural

/// The tick loop as Control runs it, for tests: per tick every encoder's
/// `begin`, then per step `drive` → `step` → `observe`, then every decoder's
/// `value`.
final class Rig {
    let network: Network
    let stepsPerTick: Int
    var encoders: [Encoder] = []
    var decoders: [Decoder] = []
    /// Spikes per population in the last tick, and per neuron since `clearCounts`.
    private(set) var neuronCounts: [[Int]]
    /// Spikes of the last tick as (step within the tick, population, neuron).
    private(set) var lastTick: [(step: Int, population: Int, neuron: Int)] = []

    init(_ spec: NetworkSpec, stepsPerTick: Int) throws {
        network = try Network(spec)
        self.stepsPerTick = stepsPerTick
        neuronCounts = spec.populations.map { Array(repeating: 0, count: $0.size) }
    }

    func population(_ name: String) -> Int { network.populationIndex(named: name)! }

    @discardableResult
    func encode(_ spec: EncoderSpec, seed: UInt64 = 1) throws -> Encoder {
        let e = try Encoder(spec, network: network, stepsPerTick: stepsPerTick, seed: seed)
        encoders.append(e)
        return e
    }

    @discardableResult
    func decode(_ spec: DecoderSpec) throws -> Decoder {
        let d = try Decoder(spec, network: network, stepsPerTick: stepsPerTick)
        decoders.append(d)
        return d
    }

    /// One tick with one value per encoder; returns one value per decoder.
    @discardableResult
    func tick(_ values: [Float] = [], fire: ((Int) -> Void)? = nil) -> [Float] {
        for (e, x) in zip(encoders, values) { e.begin(value: x) }
        lastTick.removeAll(keepingCapacity: true)
        for k in 0..<stepsPerTick {
            for e in encoders { e.drive(step: k) }
            fire?(k)
            network.step()
            for d in decoders { d.observe() }
            for p in 0..<neuronCounts.count {
                for i in network.spikes(ofPopulation: p).buffer {
                    neuronCounts[p][Int(i)] += 1
                    lastTick.append((k, p, Int(i)))
                }
            }
        }
        return decoders.map { $0.value() }
    }

    func run(ticks: Int, _ values: [Float]) -> [Float] {
        var out: [Float] = []
        for _ in 0..<ticks { out = tick(values) }
        return out
    }

    func clearCounts() {
        for p in 0..<neuronCounts.count { for j in 0..<neuronCounts[p].count { neuronCounts[p][j] = 0 } }
    }

    func total(_ name: String) -> Int { neuronCounts[population(name)].reduce(0, +) }

    /// Network, encoders and decoders back to their initial state; counts cleared.
    func reset() {
        network.restoreInitialState()
        for e in encoders { e.reset() }
        for d in decoders { d.reset() }
        clearCounts()
    }
}

func lif(tauM: Double = 10, vRest: Double = -70, vThreshold: Double = -50, rM: Double = 1,
         iExt: PerNeuron = .constant(0)) -> NeuronModel {
    .lif(LIFParameters(tauM: tauM, vRest: vRest, vThreshold: vThreshold, vReset: -65, rM: rM, iExt: iExt))
}
