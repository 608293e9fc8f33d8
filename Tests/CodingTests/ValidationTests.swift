import Testing
import Coding
import Neural

/// Every problem is reported at once, with the key it concerns.
@Suite struct ValidationTests {
    let network = NetworkSpec(dt: 0.1, populations: [
        PopulationSpec(name: "in", size: 4, model: .input),
        PopulationSpec(name: "noise", size: 10, model: .poisson(rates: .constant(0))),
        PopulationSpec(name: "cells", size: 10, model: lif()),
    ])

    func keys(_ spec: EncoderSpec) -> [String] { spec.problems(in: network, stepsPerTick: 10).map(\.key) }
    func keys(_ spec: DecoderSpec) -> [String] { spec.problems(in: network, stepsPerTick: 10).map(\.key) }

    @Test func encoderProblems() throws {
        #expect(keys(EncoderSpec(channel: "x", population: "in", min: 0, max: 1, kind: .rate(.init(maxRate: 100)))) == [])
        #expect(keys(EncoderSpec(channel: "x", population: "in", min: 1, max: 1, kind: .rate(.init(maxRate: 100)))) == ["max"])
        #expect(keys(EncoderSpec(channel: "x", population: "nope", min: 0, max: 1, kind: .rate(.init(maxRate: 100)))) == ["population"])
        #expect(keys(EncoderSpec(channel: "x", population: "in", neurons: 2..<6, min: 0, max: 1, kind: .rate(.init(maxRate: 100)))) == ["neurons"])
        #expect(keys(EncoderSpec(channel: "x", population: "cells", min: 0, max: 1, kind: .rate(.init(maxRate: 100)))) == ["population"])
        #expect(keys(EncoderSpec(channel: "x", population: "noise", min: 0, max: 1, kind: .rate(.init(process: .regular, maxRate: 100)))) == ["process"])
        #expect(keys(EncoderSpec(channel: "x", population: "in", min: 0, max: 1, kind: .rate(.init(minRate: -1, maxRate: 20_000)))) == ["min_rate", "max_rate"])
        #expect(keys(EncoderSpec(channel: "x", population: "in", min: 0, max: 1, kind: .receptiveFields(.init(maxRate: 100, width: 0)))) == ["width"])
        #expect(keys(EncoderSpec(channel: "x", population: "in", min: 0, max: 1, kind: .latency(.init(mapping: .logarithmic(dynamicRange: 1), window: 2)))) == ["window", "dynamic_range"])
        #expect(keys(EncoderSpec(channel: "x", population: "in", min: 0, max: 1, kind: .sendOnDelta(.init(threshold: 0.1)))) == ["neurons"])
        #expect(keys(EncoderSpec(channel: "x", population: "in", neurons: 0..<2, min: 0, max: 1, kind: .sendOnDelta(.init(threshold: 0.1)))) == [])
        #expect(keys(EncoderSpec(channel: "x", population: "cells", min: 0, max: 1, kind: .current(.init(maxCurrent: 5, gains: [1, 2])))) == ["gains"])
        #expect(keys(EncoderSpec(channel: "x", population: "in", min: 0, max: 1, kind: .current(.init(maxCurrent: 5)))) == ["population"])
    }

    @Test func decoderProblems() throws {
        #expect(keys(DecoderSpec(channel: "m", population: "cells", min: -1, max: 1, kind: .filteredRate(.init(tau: 10, maxRate: 100)))) == [])
        #expect(keys(DecoderSpec(channel: "m", population: "cells", min: -1, max: 1, kind: .filteredRate(.init(tau: 0, maxRate: 0)))) == ["tau", "max_rate"])
        #expect(keys(DecoderSpec(channel: "m", population: "cells", min: -1, max: 1, kind: .windowedRate(.init(window: .milliseconds(0.01), maxRate: 100)))) == ["window"])
        #expect(keys(DecoderSpec(channel: "m", population: "cells", min: -1, max: 1, kind: .populationVector(.init(tau: 10, preferred: [1, 2])))) == ["preferred"])
        #expect(keys(DecoderSpec(channel: "m", population: "cells", min: -1, max: 1, kind: .pushPull(.init(opposing: "x", gain: 1, filter: .exponential(tau: -1))))) == ["opposing", "filter.tau"])
        #expect(keys(DecoderSpec(channel: "m", population: "in", min: -1, max: 1, kind: .winnerTakeAll(.init(groupSize: 3, actions: [1])))) == ["group_size"])
        #expect(keys(DecoderSpec(channel: "m", population: "in", min: -1, max: 1, kind: .winnerTakeAll(.init(groupSize: 2, actions: [1])))) == ["actions"])
        #expect(keys(DecoderSpec(channel: "m", population: "in", min: -1, max: 1, kind: .membrane(.init(vMin: -70, vMax: -60)))) == ["population"])
    }

    /// Building refuses a bad description with every problem, naming the channel.
    @Test func initThrowsEveryProblem() throws {
        let net = try Network(network)
        let error = #expect(throws: CodingError.self) {
            try Encoder(EncoderSpec(channel: "knee", population: "cells", min: 2, max: 1, kind: .rate(.init(maxRate: 100))),
                        network: net, stepsPerTick: 10, seed: 0)
        }
        #expect(error?.problems.map(\.key) == ["max", "population"])
        #expect(error?.description == """
            encoder 'knee': max: the sensor range needs min < max, got [2.0, 1.0]
            encoder 'knee': population: a rate encoder drives 'input' or 'poisson' populations; 'cells' is 'lif'
            """)
        let decoderError = #expect(throws: CodingError.self) {
            try Decoder(DecoderSpec(channel: "hip", population: "in", min: 0, max: 1, kind: .membrane(.init(vMin: 0, vMax: 1))),
                        network: net, stepsPerTick: 10)
        }
        #expect(decoderError?.description == "decoder 'hip': population: membrane readout needs a 'lif', 'izhikevich' or 'layer' population; 'in' is 'input'")
    }
}
