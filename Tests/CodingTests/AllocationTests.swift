import CAllocationCounter
import Testing
import Coding
import Neural

/// Unoptimised builds box unspecialised generics on the heap; the tick is
/// measured as it ships, optimised (`swift test -c release`).
#if DEBUG
let optimised = false
#else
let optimised = true
#endif

/// Encoders and decoders touch the heap only when they are built.
@Suite struct CodingAllocationTests {
    @Test(.enabled(if: optimised, "allocation counts are meaningful in optimised builds: swift test -c release"))
    func noAllocationInTenThousandTicks() throws {
        let net = try Network(NetworkSpec(dt: 0.1, seed: 8, populations: [
            PopulationSpec(name: "rate", size: 20, model: .input),
            PopulationSpec(name: "regular", size: 20, model: .input),
            PopulationSpec(name: "poisson", size: 20, model: .poisson(rates: .constant(0))),
            PopulationSpec(name: "fields", size: 32, model: .input),
            PopulationSpec(name: "latency", size: 8, model: .input),
            PopulationSpec(name: "delta", size: 4, model: .input),
            PopulationSpec(name: "motor", size: 10, model: lif(iExt: .constant(15))),
            PopulationSpec(name: "readout", size: 4, model: lif(vThreshold: 0)),
        ], projections: [
            ProjectionSpec(source: "fields", target: "motor", variable: .v, rule: .allToAll, weight: .constant(0.5)),
        ]))
        let steps = 10
        let encoderSpecs: [EncoderSpec] = [
            EncoderSpec(channel: "a", population: "rate", min: 0, max: 1, kind: .rate(.init(process: .poisson, maxRate: 200))),
            EncoderSpec(channel: "b", population: "regular", min: 0, max: 1, kind: .rate(.init(process: .regular, minRate: 5, maxRate: 150))),
            EncoderSpec(channel: "c", population: "poisson", min: 0, max: 1, kind: .rate(.init(maxRate: 100))),
            EncoderSpec(channel: "d", population: "fields", neurons: 0..<16, min: -1, max: 1, kind: .receptiveFields(.init(process: .poisson, maxRate: 300))),
            EncoderSpec(channel: "e", population: "fields", neurons: 16..<32, min: -1, max: 1, kind: .receptiveFields(.init(process: .regular, maxRate: 300, width: 0.2))),
            EncoderSpec(channel: "f", population: "latency", neurons: 0..<4, min: 0, max: 1, kind: .latency(.init())),
            EncoderSpec(channel: "g", population: "latency", neurons: 4..<8, min: 0, max: 1, kind: .latency(.init(mapping: .logarithmic(dynamicRange: 50), window: 0.5))),
            EncoderSpec(channel: "h", population: "delta", min: -1, max: 1, kind: .sendOnDelta(.init(thresholds: [0.05, 0.2]))),
            EncoderSpec(channel: "i", population: "motor", min: 0, max: 1, kind: .current(.init(maxCurrent: 10, gains: (0..<10).map { 1 + Double($0) / 10 }))),
            EncoderSpec(channel: "j", population: "readout", min: 0, max: 1, kind: .current(.init(maxCurrent: 10))),
        ]
        let decoderSpecs: [DecoderSpec] = [
            DecoderSpec(channel: "A", population: "rate", min: 0, max: 1, kind: .windowedRate(.init(window: .ticks(20), maxRate: 200))),
            DecoderSpec(channel: "B", population: "poisson", neurons: 5..<15, min: 0, max: 1, kind: .windowedRate(.init(window: .milliseconds(33), maxRate: 200))),
            DecoderSpec(channel: "C", population: "regular", min: 0, max: 1, kind: .filteredRate(.init(tau: 20, maxRate: 200))),
            DecoderSpec(channel: "D", population: "fields", neurons: 0..<16, min: -1, max: 1, kind: .populationVector(.init(tau: 30))),
            DecoderSpec(channel: "E", population: "rate", min: -1, max: 1, kind: .pushPull(.init(opposing: "regular", gain: 0.01, filter: .window(.ticks(10))))),
            DecoderSpec(channel: "F", population: "motor", min: -1, max: 1, kind: .pushPull(.init(opposing: "poisson", opposingNeurons: 0..<10, gain: 0.01, filter: .exponential(tau: 50)))),
            DecoderSpec(channel: "G", population: "latency", min: 0, max: 3, kind: .winnerTakeAll(.init(rule: .firstSpike, groupSize: 2, actions: [0, 1, 2, 3]))),
            DecoderSpec(channel: "H", population: "delta", min: 0, max: 3, kind: .winnerTakeAll(.init(rule: .mostSpikes, actions: [0, 1, 2, 3], fallback: 1.5))),
            DecoderSpec(channel: "I", population: "readout", min: 0, max: 1, kind: .membrane(.init(vMin: -70, vMax: -60))),
        ]
        let encoders = try encoderSpecs.map { try Encoder($0, network: net, stepsPerTick: steps, seed: 1) }
        let decoders = try decoderSpecs.map { try Decoder($0, network: net, stepsPerTick: steps) }
        let values = [Float](repeating: 0, count: 64).indices.map { Float($0 % 23) / 22 }
        let commands = UnsafeMutableBufferPointer<Float>.allocate(capacity: decoders.count)
        defer { commands.deallocate() }
        commands.initialize(repeating: 0)

        func run(ticks: Range<Int>) -> Float {
            var checksum: Float = 0
            for t in ticks {
                for (c, e) in encoders.enumerated() { e.begin(value: values[(t / 7 + c) & 63]) }
                for k in 0..<steps {
                    for e in encoders { e.drive(step: k) }
                    net.step()
                    for d in decoders { d.observe() }
                }
                for (c, d) in decoders.enumerated() {
                    commands[c] = d.value()
                    checksum += commands[c]
                }
                if t % 2_500 == 2_499 {  // the control channel's reset
                    net.restoreInitialState()
                    for e in encoders { e.reset() }
                    for d in decoders { d.reset() }
                }
            }
            return checksum
        }

        _ = run(ticks: 0..<100)  // warm up: lazy runtime metadata, first-touch paths
        sl_alloc_counting_begin()
        let checksum = run(ticks: 100..<10_100)
        let allocations = sl_alloc_counting_end()
        #expect(allocations == 0, "\(allocations) heap allocations in 10,000 ticks")
        #expect(checksum > 0)
    }
}
