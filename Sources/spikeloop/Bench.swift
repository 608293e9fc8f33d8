import ArgumentParser
import Foundation
import Neural
import Wire

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks: the engine (cuba, coba, scale), the realtime loop (loop), the sensor-to-command latency (latency), the controller's compute per tick (tick).",
        discussion: """
        'Benchmarks/cuba' and 'Benchmarks/coba' run 'bench cuba' and 'bench coba' beside \
        Brian2 and NEST in one run and print the comparison table.
        """,
        subcommands: [Cuba.self, Coba.self, Scale.self, Loop.self, Latency.self, Tick.self]
    )
}

/// Output shared by the benchmarks: human-readable lines or one JSON object.
struct BenchResult: Encodable {
    var benchmark: String
    var precision: String
    /// The build of the LIF update in use (LIFKernelBuild).
    var lif_kernel: String = LIFKernelBuild.current.rawValue
    var neurons: Int
    var synapses: Int
    var spikes: Int
    var sim_seconds: Double
    var wall_seconds: Double
    var build_seconds: Double
    var mean_rate_hz: Double
    var realtime_factor: Double
    var bytes_per_synapse_storage: Double
    var resident_bytes_per_synapse: Double?

    func emit(json: Bool) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(self), as: UTF8.self))
            return
        }
        print("benchmark        \(benchmark)")
        print("precision        \(precision)")
        print("LIF kernel       \(lif_kernel) (of \(LIFKernelBuild.available.map(\.rawValue).joined(separator: ", ")) on this CPU)")
        print("neurons          \(neurons)")
        print("synapses         \(synapses)")
        print(String(format: "simulated        %.3f s", sim_seconds))
        print(String(format: "build            %.3f s", build_seconds))
        print(String(format: "wall (run only)  %.3f s", wall_seconds))
        print(String(format: "real-time factor %.2f× (≥ 1 means faster than real time)", realtime_factor))
        print("spikes           \(spikes)")
        print(String(format: "mean rate        %.2f Hz", mean_rate_hz))
        print(String(format: "synapse storage  %.2f bytes/synapse", bytes_per_synapse_storage))
        if let r = resident_bytes_per_synapse { print(String(format: "resident memory  %.2f bytes/synapse (the process's growth while the network was built)", r)) }
    }
}

/// Runs `steps` steps and counts spikes; timed separately from building.
func timedRun(_ net: Network, steps: Int64) -> (spikes: Int, wall: Double) {
    let populations = net.populationNames.count
    var spikes = 0
    let start = monotonicNanoseconds()
    for _ in 0..<steps {
        net.step()
        for p in 0..<populations { spikes += net.spikes(ofPopulation: p).count }
    }
    return (spikes, Double(monotonicNanoseconds() - start) / 1e9)
}

/// Builds `spec` (timed apart), runs it for `milliseconds` and reports; with
/// `countResidentMemory`, the process's memory growth over the build per synapse.
func measure(_ benchmark: String, _ spec: NetworkSpec, milliseconds: Double, countResidentMemory: Bool) throws -> BenchResult {
    let before = residentBytes() ?? 0
    let t0 = monotonicNanoseconds()
    let net = try Network(spec)
    let build = Double(monotonicNanoseconds() - t0) / 1e9
    let after = residentBytes() ?? 0
    let steps = Int64((milliseconds / spec.dt).rounded())
    let (spikes, wall) = timedRun(net, steps: steps)
    let seconds = Double(steps) * spec.dt / 1000
    return BenchResult(
        benchmark: benchmark, precision: spec.precision.rawValue, neurons: net.neuronCount, synapses: net.synapseCount, spikes: spikes,
        sim_seconds: seconds, wall_seconds: wall, build_seconds: build,
        mean_rate_hz: Double(spikes) / Double(net.neuronCount) / seconds,
        realtime_factor: seconds / wall, bytes_per_synapse_storage: net.bytesPerSynapse,
        resident_bytes_per_synapse: countResidentMemory ? Double(max(0, after - before)) / Double(max(1, net.synapseCount)) : nil)
}

/// The options of the benchmarks that run one of Brian2's benchmark networks (CUBA, COBA).
extension Precision: ExpressibleByArgument {}

struct BrianBenchmarkOptions: ParsableArguments {
    @Option(help: "Number of neurons (80 % excitatory).")
    var neurons: Int = 4000

    @Option(help: "Simulated time, with a unit.")
    var duration: String = "10 s"

    @Option(help: "Seed for connectivity and initial voltages.")
    var seed: UInt64 = 1

    @Option(help: "Number type of the neurons and synapses: float32 or float64 (as Brian2).")
    var precision: Precision = .float32

    @Flag(help: "Print one JSON object (neurons, synapses, spikes, sim_seconds, wall_seconds, …).")
    var json = false

    @Option(help: ArgumentHelp("Also write the network this seed draws (each projection's connections, every neuron's initial v) to this JSON file, so that the peers can simulate the same one (Benchmarks/cuba does).", valueName: "file"))
    var networkOut: String?

    /// Builds the network of `neurons` from `seed`, runs it for `--duration` and prints the result.
    func measure(_ benchmark: String, _ network: (Int, UInt64) -> NetworkSpec) throws {
        guard neurons >= 5 else { throw ValidationError("--neurons must be at least 5") }
        let ms = try cliQuantity(duration, .time, option: "--duration")
        var spec = network(neurons, seed)
        spec.precision = precision
        if let networkOut { try writeNetwork(spec, to: networkOut) }
        try spikeloop.measure(benchmark, spec, milliseconds: ms, countResidentMemory: false).emit(json: json)
    }

    /// The drawn network in the populations' order: neuron indices run on
    /// from one population to the next; `v0` as drawn, before rounding.
    private func writeNetwork(_ spec: NetworkSpec, to path: String) throws {
        struct Drawn: Encodable {
            struct Population: Encodable { var name: String; var size: Int; var first: Int }
            struct Projection: Encodable { var source: String; var target: String; var variable: String; var pre: [Int]; var post: [Int] }
            var populations: [Population] = []
            var v0: [Double] = []
            var projections: [Projection] = []
        }
        let net = try Network(spec)
        var drawn = Drawn()
        var first: [String: Int] = [:]
        for (p, name) in net.populationNames.enumerated() {
            first[name] = drawn.v0.count
            drawn.populations.append(.init(name: name, size: net.size(ofPopulation: p), first: drawn.v0.count))
            guard let v = net.restingState(ofPopulation: p)?.v else {
                throw ValidationError("population '\(name)' has no initial v to write")
            }
            drawn.v0 += v
        }
        for projection in spec.projections {
            let pairs = net.connections(ofProjection: net.projectionIndex(named: projection.name)!)
            drawn.projections.append(.init(source: projection.source, target: projection.target, variable: projection.variable.rawValue,
                                           pre: pairs.map { first[projection.source]! + $0.pre },
                                           post: pairs.map { first[projection.target]! + $0.post }))
        }
        do {
            try JSONEncoder().encode(drawn).write(to: URL(fileURLWithPath: path))
        } catch {
            throw ValidationError("--network-out \(path): \(error.localizedDescription)")
        }
    }
}

extension Bench {
    struct Cuba: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Brian2's CUBA benchmark: 80 % excitatory LIF, p = 0.02, dt 0.1 ms.",
            discussion: """
            The network of Brian2's CUBA example (Vogels & Abbott 2005, current based): \
            τ_m 20 ms, τ_e 5 ms, τ_i 10 ms, V_t −50 mV, V_r −60 mV, E_l −49 mV, refractory 5 ms, \
            w_e 1.62 mV, w_i −9 mV, v₀ uniform in [V_r, V_t]. Only the run is timed.
            """
        )

        @OptionGroup var options: BrianBenchmarkOptions

        @Flag(help: "STDP on every excitatory synapse (BenchmarkNetworks.cubaSTDP: additive, all-to-all, τ 20 ms, weights in [0, 2 w_e]).")
        var stdp = false

        func run() throws {
            try options.measure(stdp ? "cuba-stdp" : "cuba") { BenchmarkNetworks.cuba(neurons: $0, seed: $1, stdp: stdp) }
        }
    }

    struct Coba: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The COBA benchmark: 80 % excitatory LIF with conductance-based synapses, p = 0.02, dt 0.1 ms.",
            discussion: """
            Vogels & Abbott (2005) as Brette et al. (2007) and Brian2's benchmarks run it: \
            τ_m 20 ms, E_l −60 mV, a constant drive of 20 mV, V_t −50 mV, V_r −60 mV, refractory 5 ms, \
            E_e 0 mV, E_i −80 mV, τ_e 5 ms, τ_i 10 ms, w_e 0.6 and w_i 6.7 (in units of the leak \
            conductance), v₀ uniform in [V_r, V_t]; forward Euler, as Brian2 integrates it. Only \
            the run is timed.
            """
        )

        @OptionGroup var options: BrianBenchmarkOptions

        func run() throws {
            try options.measure("coba") { BenchmarkNetworks.coba(neurons: $0, seed: $1) }
        }
    }

    struct Scale: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "100,000 LIF neurons × 100 synapses each (10 M synapses) at dt 1 ms.",
            discussion: """
            A balanced excitatory/inhibitory network (80 % / 20 %, fixed in-degree 80 + 20) \
            of CUBA's neurons and synapses, with CUBA's weights rescaled to the in-degree and \
            inhibition at −7 mV instead of CUBA's −9 mV, so that at dt 1 ms the mean rate lies in \
            5–20 Hz. Reports the real-time factor on one core and the memory per synapse: the \
            synapse storage, and the process's resident growth while the network was built.
            """
        )

        @Option(help: "Number of neurons (80 % excitatory).")
        var neurons: Int = 100_000

        @Option(help: "Synapses per neuron (80 % from excitatory neurons).")
        var indegree: Int = 100

        @Option(help: "Simulated time, with a unit.")
        var duration: String = "10 s"

        @Option(help: "Seed.")
        var seed: UInt64 = 1

        @Flag(help: "Print one JSON object.")
        var json = false

        func run() throws {
            guard neurons >= 10, indegree >= 5, indegree * 4 / 5 <= neurons * 4 / 5 else {
                throw ValidationError("--neurons must be ≥ 10 and --indegree between 5 and the number of neurons")
            }
            let ms = try cliQuantity(duration, .time, option: "--duration")
            try measure("scale", BenchmarkNetworks.scale(neurons: neurons, indegree: indegree, seed: seed), milliseconds: ms,
                        countResidentMemory: true).emit(json: json)
        }
    }
}

/// The benchmark networks, built in code so that their size can be varied.
enum BenchmarkNetworks {
    static func cubaNeuron(vInit: PerNeuron?) -> LIFParameters {
        LIFParameters(tauM: 20, vRest: -49, vThreshold: -50, vReset: -60, tRef: 5,
                      tauE: 5, tauI: 10, vInit: vInit)
    }

    /// The rule `bench cuba --stdp` puts on CUBA's excitatory synapses, and
    /// `Benchmarks/peers/brian2_cuba.py --stdp` on Brian2's: Song et al.
    /// (2000)'s additive window (A− = −1.05 A+, τ± = 20 ms), weights in [0, 2 w_e].
    static let cubaSTDP = STDPRule(aPre: 0.01 * 3.24, aPost: -0.0105 * 3.24, tauPre: 20, tauPost: 20, wMin: 0, wMax: 3.24)

    static func cuba(neurons: Int, seed: UInt64, stdp: Bool = false) -> NetworkSpec {
        let ne = neurons * 4 / 5, ni = neurons - ne
        let cell = cubaNeuron(vInit: .uniform(-60, -50))
        var spec = NetworkSpec(name: "cuba", dt: 0.1, seed: seed)
        spec.populations = [
            PopulationSpec(name: "exc", size: ne, model: .lif(cell)),
            PopulationSpec(name: "inh", size: ni, model: .lif(cell)),
        ]
        let we = 60 * 0.27 / 10, wi = -20 * 4.5 / 10
        for target in ["exc", "inh"] {
            spec.projections.append(ProjectionSpec(source: "exc", target: target, variable: .ge,
                                                   rule: .fixedProbability(0.02), weight: .constant(we),
                                                   plasticity: stdp ? .stdp(cubaSTDP) : nil))
            spec.projections.append(ProjectionSpec(source: "inh", target: target, variable: .gi,
                                                   rule: .fixedProbability(0.02), weight: .constant(wi)))
        }
        return spec
    }

    static func coba(neurons: Int, seed: UInt64) -> NetworkSpec {
        let ne = neurons * 4 / 5, ni = neurons - ne
        let cell = LIFParameters(tauM: 20, vRest: -60, vThreshold: -50, vReset: -60, tRef: 5, tauE: 5, tauI: 10,
                                 rM: 1, iExt: .constant(20), vInit: .uniform(-60, -50), eE: 0, eI: -80)
        var spec = NetworkSpec(name: "coba", dt: 0.1, seed: seed)
        spec.populations = [
            PopulationSpec(name: "exc", size: ne, model: .lif(cell)),
            PopulationSpec(name: "inh", size: ni, model: .lif(cell)),
        ]
        for target in ["exc", "inh"] {
            spec.projections.append(ProjectionSpec(source: "exc", target: target, variable: .ge,
                                                   rule: .fixedProbability(0.02), weight: .constant(0.6)))
            spec.projections.append(ProjectionSpec(source: "inh", target: target, variable: .gi,
                                                   rule: .fixedProbability(0.02), weight: .constant(6.7)))
        }
        return spec
    }

    static func scale(neurons: Int, indegree: Int, seed: UInt64) -> NetworkSpec {
        let ne = neurons * 4 / 5, ni = neurons - ne
        let ke = indegree * 4 / 5, ki = indegree - ke
        let cell = cubaNeuron(vInit: .uniform(-60, -50))
        var spec = NetworkSpec(name: "scale", dt: 1, seed: seed)
        spec.populations = [
            PopulationSpec(name: "exc", size: ne, model: .lif(cell)),
            PopulationSpec(name: "inh", size: ni, model: .lif(cell)),
        ]
        // CUBA's weights rescaled to the in-degree (CUBA has 64 + 16 inputs), with
        // inhibition at −7 mV rather than −9 mV so that, at dt 1 ms, the mean rate
        // lies in the 5–20 Hz band.
        let we = 1.62 * 64 / Double(ke), wi = -7 * 16 / Double(ki)
        for target in ["exc", "inh"] {
            spec.projections.append(ProjectionSpec(source: "exc", target: target, variable: .ge,
                                                   rule: .fixedIndegree(ke), weight: .constant(we), delay: .constant(1)))
            spec.projections.append(ProjectionSpec(source: "inh", target: target, variable: .gi,
                                                   rule: .fixedIndegree(ki), weight: .constant(wi), delay: .constant(1)))
        }
        return spec
    }
}
