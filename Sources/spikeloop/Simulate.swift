import ArgumentParser
import Daemon
import Foundation
import Neural
import Wire
import NetworkFile
import NIR

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a network offline, as fast as possible, and print a summary.",
        discussion: """
        Steps the network described in NETWORK (a YAML network file, or a NIR graph \
        `.nir`, docs/nir.md) for --duration of simulated time. Spikes are written as CSV with columns time_ms,population,neuron; \
        probes record one variable of one neuron at every step.

        Example:
          spikeloop simulate Config/examples/seed.yaml --duration 1s --spikes spikes.csv \\
              --probe neurons:v:0 --probes v.csv
          spikeloop simulate model.nir --input-values x.csv --duration 20ms --spikes spikes.csv
        """
    )

    @Argument(help: "The network description file (YAML), or a NIR graph (.nir).")
    var network: String

    @Option(name: .customLong("input-values"), help: "Drive inputs from this CSV file: a header of POP:INDEX columns, then one row per step (the last row holds after the file ends). Values of analog_input populations, currents (nA) of lif populations, rates (Hz) of poisson populations.")
    var inputValues: String?

    @Option(name: .customLong("reset-every"), help: "Restore the network's initial state every DURATION (e.g. 2ms): one sample per window, as a classifier is evaluated. Times in the output still count from the start.")
    var resetEvery: String?

    @Option(help: "What the numbers of a NIR graph mean: nir (NIR's equations; snnTorch's files) or norse (docs/nir.md).")
    var conventions: String?

    @Option(help: "How spikes of a NIR graph's layers reset v: to_v_reset (NIR's equations), subtract or to_v_reset_next_step (snnTorch's conventions, docs/nir.md).")
    var reset: String?

    @Option(help: "Simulated time, with a unit (e.g. 1s, 500ms).")
    var duration: String = "1 s"

    @Option(help: "Override the file's time step, with a unit (e.g. 0.1ms).")
    var dt: String?

    @Option(help: "Override the file's seed.")
    var seed: UInt64?

    @Option(help: "Write every spike to this CSV file (time_ms,population,neuron).")
    var spikes: String?

    @Option(name: .customLong("probe"), help: "Record POP:VAR:INDEX at every step (repeatable), e.g. neurons:v:0; or PROJ:w:PRE-POST, a synapse's weight (PROJ:c:PRE-POST its eligibility under reward_stdp), e.g. ee:w:0-37.")
    var probeSpecs: [String] = []

    @Option(help: "Write the probes to this CSV file (time_ms, one column per probe).")
    var probes: String?

    @Option(name: .customLong("probe-every"), help: "Record the probes every DURATION instead of every step (e.g. 100ms): long runs.")
    var probeEvery: String?

    @Option(name: .customLong("load-weights"), help: "Start from the weights in this weights file (.slw, docs/weights.md), e.g. saved by --save-weights or by the daemon.")
    var loadWeights: String?

    @Option(name: .customLong("save-weights"), help: "Save the final weights to this weights file (.slw), written atomically: what plastic projections learned.")
    var saveWeights: String?

    mutating func validate() throws {
        if !probeSpecs.isEmpty && probes == nil {
            throw ValidationError("--probe needs --probes FILE.csv to write the recorded values to")
        }
        if probes != nil && probeSpecs.isEmpty {
            throw ValidationError("--probes FILE.csv needs at least one --probe POP:VAR:INDEX")
        }
    }

    func run() throws {
        let stepOverride = try dt.map { try cliQuantity($0, .time, option: "--dt") }
        if let stepOverride, !(stepOverride > 0) { throw ValidationError("--dt must be positive") }
        var spec = try loadNetwork(network, reset: reset, conventions: conventions, dt: stepOverride)
        if let stepOverride { spec.dt = stepOverride }
        if let seed { spec.seed = seed }
        let durationMs = try cliQuantity(duration, .time, option: "--duration")
        guard durationMs > 0 else { throw ValidationError("--duration must be positive, e.g. --duration 1s") }
        let steps = Int64((durationMs / spec.dt).rounded())
        var every: Int64 = 1
        if let probeEvery {
            let ms = try cliQuantity(probeEvery, .time, option: "--probe-every")
            every = Int64((ms / spec.dt).rounded())
            guard every >= 1 else { throw ValidationError("--probe-every must be at least one step (\(formatMs(spec.dt)) ms)") }
        }
        var window: Int64 = 0
        if let resetEvery {
            let ms = try cliQuantity(resetEvery, .time, option: "--reset-every")
            window = Int64((ms / spec.dt).rounded())
            guard window >= 1 else { throw ValidationError("--reset-every must be at least one step (\(formatMs(spec.dt)) ms)") }
        }

        let net = try Network(spec)
        let recorded = try probeSpecs.map { try Probe(parsing: $0, in: net) }
        let drive = try inputValues.map { try InputValues(path: $0, network: net) }
        let layout = WeightLayout(net)
        if let path = loadWeights { try WeightStore.load(path, into: net, layout: layout) }

        var spikeRows: [(step: Int64, population: Int32, neuron: UInt32)] = []
        var counts = [Int](repeating: 0, count: net.populationNames.count)
        var probeValues = [Double]()
        if !recorded.isEmpty { probeValues.reserveCapacity(Int(steps / every) * recorded.count) }
        let keepSpikes = spikes != nil
        let populationCount = counts.count

        let start = monotonicNanoseconds()
        for step in 0..<steps {
            if window > 0, step > 0, step % window == 0 { net.restoreInitialState() }
            drive?.apply(step: Int(step))
            net.step()
            let k = step
            for p in 0..<populationCount {
                let list = net.spikes(ofPopulation: p)
                counts[p] += list.count
                if keepSpikes { for n in list.buffer { spikeRows.append((k, Int32(p), n)) } }
            }
            if (k + 1) % every == 0 { for probe in recorded { probeValues.append(probe.read(net)) } }
        }
        let wall = Double(monotonicNanoseconds() - start) / 1e9

        if let path = spikes {
            var out = "time_ms,population,neuron\n"
            out.reserveCapacity(spikeRows.count * 24)
            let names = net.populationNames
            for row in spikeRows { out += "\(formatMs(Double(row.step) * spec.dt)),\(names[Int(row.population)]),\(row.neuron)\n" }
            try writeFile(path, out)
        }
        if let path = probes {
            var out = "time_ms," + probeSpecs.joined(separator: ",") + "\n"
            for k in 0..<Int(steps / every) {
                // A probe shows the state at the end of a step, i.e. at t + dt.
                out += formatMs(Double((k + 1) * Int(every)) * spec.dt)
                for j in 0..<recorded.count {
                    // Shortest text that reads back to the same value in the network's precision.
                    let x = probeValues[k * recorded.count + j]
                    out += spec.precision == .float32 ? ",\(Float(x))" : ",\(x)"
                }
                out += "\n"
            }
            try writeFile(path, out)
        }

        let seconds = durationMs / 1000
        print("network      \(spec.name)  (dt \(formatMs(spec.dt)) ms, seed \(spec.seed), \(spec.precision.rawValue), LIF kernel \(LIFKernelBuild.current.rawValue))")
        print("neurons      \(net.neuronCount)")
        print("synapses     \(net.synapseCount)  (" + String(format: "%.1f", net.bytesPerSynapse) + " bytes each"
              + (net.plasticSynapseCount > 0 ? ", \(net.plasticSynapseCount) plastic)" : ")"))
        if net.layerWeightCount > 0 { print("layer weights \(net.layerWeightCount)") }
        print("simulated    \(String(format: "%.3f", seconds)) s  (\(steps) steps)")
        print("spikes       \(counts.reduce(0, +))")
        for (p, name) in net.populationNames.enumerated() {
            let rate = Double(counts[p]) / Double(net.size(ofPopulation: p)) / seconds
            let label = name.count < 18 ? name + String(repeating: " ", count: 18 - name.count) : name
            print("  \(label) " + String(format: "%9d spikes  %8.2f Hz mean rate", counts[p], rate))
        }
        if !spec.rewards.isEmpty {
            let r = net.earnedRewards
            print("rewards      \(r.earned) earned by spike pairings, \(r.delivered) delivered")
        }
        print(wall < 1 ? String(format: "wall time    %.2f ms", wall * 1000) : String(format: "wall time    %.3f s", wall))
        print(String(format: "real-time    %.1f× faster than real time", seconds / max(wall, 1e-9)))
        if let spikes { print("spikes in    \(spikes)") }
        if let probes { print("probes in    \(probes)") }
        if let path = saveWeights {
            try WeightStore.writeAtomically(WeightStore.snapshot(of: net, layout: layout).encode(), to: path)
            print("weights in   \(path)")
        }
    }
}

/// One `POP:VAR:INDEX` (neuron) or `PROJ:VAR:PRE-POST` (synapse) probe,
/// checked against the built network.
struct Probe {
    enum Source {
        case neuron(population: Int, index: Int)
        /// A synapse by its CSR index.
        case synapse(projection: Int, index: Int)
    }
    let source: Source
    let variable: String

    func read(_ net: Network) -> Double {
        switch source {
        case .neuron(let p, let j): net.value(population: p, variable: variable, neuron: j)!
        case .synapse(let q, let s): net.value(projection: q, variable: variable, synapse: s)!
        }
    }

    init(parsing text: String, in net: Network) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 else {
            throw ValidationError("--probe '\(text)': expected POP:VAR:INDEX, e.g. neurons:v:0, or PROJ:w:PRE-POST")
        }
        variable = parts[1]
        if net.populationIndex(named: parts[0]) == nil, let q = net.projectionIndex(named: parts[0]) {
            let vars = net.synapseVariables(ofProjection: q)
            guard vars.contains(parts[1]) else {
                throw ValidationError("--probe '\(text)': a synapse of '\(parts[0])' has no variable '\(parts[1])'; valid: \(vars.joined(separator: ", "))")
            }
            let ends = parts[2].split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard ends.count == 2, let pre = ends[0], let post = ends[1] else {
                throw ValidationError("--probe '\(text)': expected PRE-POST neuron indices after '\(parts[0]):\(parts[1]):', e.g. 0-37")
            }
            guard let s = net.synapse(ofProjection: q, pre: pre, post: post) else {
                throw ValidationError("--probe '\(text)': '\(parts[0])' has no synapse from \(pre) to \(post)")
            }
            source = .synapse(projection: q, index: s)
            return
        }
        guard let p = net.populationIndex(named: parts[0]) else {
            throw ValidationError("--probe '\(text)': no population or projection '\(parts[0])'; populations: \(net.populationNames.joined(separator: ", ")); projections: \(net.projectionNames.joined(separator: ", "))")
        }
        let vars = net.probeableVariables(ofPopulation: p)
        guard vars.contains(parts[1]) else {
            throw ValidationError("--probe '\(text)': '\(parts[0])' has no variable '\(parts[1])'; valid: \(vars.isEmpty ? "none (a spike source)" : vars.joined(separator: ", "))")
        }
        guard let n = Int(parts[2]), n >= 0, n < net.size(ofPopulation: p) else {
            throw ValidationError("--probe '\(text)': neuron index must be in 0..<\(net.size(ofPopulation: p))")
        }
        source = .neuron(population: p, index: n)
    }
}

/// NIR import options from the command line's --dt, --reset, --conventions and --inputs.
func nirOptions(dt: Double?, reset: String?, conventions: String?, inputs: String? = nil) throws -> NIRImport.Options {
    func choice<T: RawRepresentable & CaseIterable>(_ text: String?, _ option: String, _: T.Type) throws -> T? where T.RawValue == String {
        guard let text else { return nil }
        guard let value = T(rawValue: text) else {
            throw ValidationError("\(option) '\(text)': valid: \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }
    var options = NIRImport.Options()
    if let dt { options.dt = dt }
    options.reset = try choice(reset, "--reset", LayerSpec.Reset.self)
    if let c = try choice(conventions, "--conventions", NIRImport.Conventions.self) { options.conventions = c }
    if let i = try choice(inputs, "--inputs", NIRImport.Inputs.self) { options.inputs = i }
    return options
}

/// Reads and imports the NIR file `path`; `refused` says what did not happen ("nothing was run").
func importNIR(_ path: String, options: NIRImport.Options, refused: String) throws -> NIRImport {
    let bytes: [UInt8]
    do { bytes = try readRegularFile(path, limit: NIRImport.maximumFileSize) } catch {
        throw CommandError("cannot read the NIR file '\(path)': \(error)")
    }
    do { return try NIRImport(bytes: bytes, path: path, options: options) } catch {
        throw CommandError("the NIR file is not valid; \(refused).\n" + error.description)
    }
}

func loadNetwork(_ path: String, reset: String? = nil, conventions: String? = nil, dt: Double? = nil) throws -> NetworkSpec {
    if path.hasSuffix(".nir") {
        let options = try nirOptions(dt: dt, reset: reset, conventions: conventions)
        return try importNIR(path, options: options, refused: "nothing was run").network
    }
    if reset != nil || conventions != nil { throw ValidationError("--reset and --conventions apply to NIR graphs (.nir) only") }
    do {
        return try NetworkFile.load(path: path)
    } catch let error as ConfigurationError {
        throw CommandError("the network file is not valid; nothing was run.\n" + error.description)
    }
}

/// A failure the user can fix, printed without the usage text.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func cliQuantity(_ text: String, _ dimension: PhysicalDimension, option: String) throws -> Double {
    switch parseQuantity(text, dimension) {
    case .success(let x): return x
    case .failure:
        throw ValidationError("\(option) '\(text)': expected a \(dimension.rawValue) with a unit (\(dimension.unitList)), e.g. \(dimension.example)")
    }
}

/// Milliseconds without trailing noise: 12.3 rather than 12.299999999999999.
func formatMs(_ ms: Double) -> String {
    let r = (ms * 1e6).rounded() / 1e6
    return r == r.rounded() ? String(Int(r)) : String(r)
}

func writeFile(_ path: String, _ text: String) throws {
    do {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    } catch {
        throw CommandError("cannot write '\(path)': \(error.localizedDescription)")
    }
}

/// Values for analog inputs, currents and Poisson rates, step by step, from a
/// CSV file (`--input-values`).
struct InputValues {
    enum Target {
        case value(CurrentInput)
        case rate(RateInput)
        var size: Int { switch self { case .value(let c): c.size; case .rate(let r): r.size } }
    }
    let columns: [(target: Target, neuron: Int)]
    let rows: [[Float]]

    init(path: String, network: Network) throws {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw CommandError("--input-values: cannot read '\(path)': \(error.localizedDescription)")
        }
        var lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw CommandError("--input-values \(path): empty; the first line names the columns (POP:INDEX)") }
        let header = lines.removeFirst().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let targets = try header.map { name in
            let parts = name.split(separator: ":")
            guard parts.count == 2, let index = network.populationIndex(named: String(parts[0])), let neuron = Int(parts[1]) else {
                throw CommandError("--input-values \(path): column '\(name)' is not POP:INDEX of a population of the network")
            }
            let target: Target
            if let input = network.currentInput(population: index) {
                target = .value(input)
            } else if let input = network.rateInput(population: index) {
                target = .rate(input)
            } else {
                throw CommandError("--input-values \(path): column '\(name)': '\(parts[0])' takes no values (an analog_input, lif or poisson population does)")
            }
            guard neuron >= 0, neuron < target.size else {
                throw CommandError("--input-values \(path): column '\(name)': index must be in 0..<\(target.size)")
            }
            return (target: target, neuron: neuron)
        }
        columns = targets
        rows = try lines.enumerated().map { (k, line) in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            guard cells.count == header.count else {
                throw CommandError("--input-values \(path): line \(k + 2) has \(cells.count) values; the header has \(header.count)")
            }
            return try cells.enumerated().map { (c, cell) in
                guard let x = Float(cell.trimmingCharacters(in: .whitespaces)), x.isFinite else {
                    throw CommandError("--input-values \(path): line \(k + 2), column '\(header[c])': '\(cell)' is not a finite number")
                }
                if case .rate = targets[c].target, x < 0 {
                    throw CommandError("--input-values \(path): line \(k + 2), column '\(header[c])': rate \(cell) Hz is negative")
                }
                return x
            }
        }
    }

    /// Sets the values for `step` (the last row once the file is done).
    func apply(step: Int) {
        guard !rows.isEmpty else { return }
        let row = rows[min(step, rows.count - 1)]
        for (c, column) in columns.enumerated() {
            switch column.target {
            case .value(let input): input.set(column.neuron, nanoamps: row[c])
            case .rate(let input): input.set(column.neuron, hertz: row[c])
            }
        }
    }
}
