import Coding
import Neural
import NetworkFile
import NIR
import Wire
#if canImport(Glibc)
import Glibc
#endif

/// A controller configuration (`Config/NAME.yaml`): the robot, the network,
/// how each sensor feeds a population and each motor is read, the loop, the
/// endpoints and the recording. Everything is checked before anything runs.
public struct ControllerConfiguration: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        /// A simulator sends a frame and waits; one tick per frame, simulation time only.
        case lockstep
        /// The daemon's clock drives the tick; the newest frame is used.
        case realtime
    }

    public struct Loop: Sendable, Equatable {
        public var mode: Mode
        /// Ticks per second.
        public var tickRate: Double
        /// Network steps per tick (`period / dt`, an integer).
        public var stepsPerTick: Int
        /// ns.
        public var watchdogTimeout: Int64
        public var autoResume: Bool
        /// SCHED_FIFO priority of the loop thread (1–99); nil: normal scheduling.
        public var realtimePriority: Int32?
        public var lockMemory: Bool
        /// CPU the loop thread is pinned to; nil: any.
        public var cpu: Int?
        /// The last part of each wait for a realtime tick, ns, spent spinning on
        /// the clock instead of sleeping: the tick starts on time even when the
        /// kernel wakes the thread late, at the cost of that much CPU per tick.
        public var busyWait: Int64
        /// The CPU wake-up latency, µs, held as a PM QoS request while the
        /// loop runs (`CPULatencyRequest`); nil: none.
        public var cpuLatency: Int32?

        public var periodNanoseconds: Int64 { Int64((1e9 / tickRate).rounded()) }

        public init(mode: Mode, tickRate: Double, stepsPerTick: Int, watchdogTimeout: Int64, autoResume: Bool,
                    realtimePriority: Int32? = nil, lockMemory: Bool = false, cpu: Int? = nil, busyWait: Int64 = 0,
                    cpuLatency: Int32? = nil) {
            self.cpuLatency = cpuLatency
            self.mode = mode
            self.tickRate = tickRate
            self.stepsPerTick = stepsPerTick
            self.watchdogTimeout = watchdogTimeout
            self.autoResume = autoResume
            self.realtimePriority = realtimePriority
            self.lockMemory = lockMemory
            self.cpu = cpu
            self.busyWait = busyWait
        }
    }

    public struct Endpoints: Sendable, Equatable {
        public init(frames: String, commands: String?, control: String, telemetry: String? = nil,
                    curveSecretKeyFile: String? = nil, curveClientKeys: [String] = [], insecure: Bool = false) {
            self.frames = frames
            self.commands = commands
            self.control = control
            self.telemetry = telemetry
            self.curveSecretKeyFile = curveSecretKeyFile
            self.curveClientKeys = curveClientKeys
            self.insecure = insecure
        }

        /// lockstep: REP the simulator's REQ connects to; realtime: SUB the robot publishes to.
        public var frames: String
        /// realtime: PUB of motor commands.
        public var commands: String?
        /// REP for control requests.
        public var control: String
        /// PUB of telemetry (loop statistics, events).
        public var telemetry: String?
        /// CURVE server secret key file (Z85); clients need its public key.
        public var curveSecretKeyFile: String?
        /// The client public keys (Z85) let through the CURVE endpoints, from
        /// `curve_client_keys` (a directory of `*.public` files); everybody
        /// else is refused, even with the server's public key.
        public var curveClientKeys: [String]
        /// Allows a non-local endpoint without CURVE.
        public var insecure: Bool
    }

    public struct Recording: Sendable, Equatable {
        /// State variables of chosen neurons recorded at every step.
        public struct Probe: Sendable, Equatable {
            public var population: String
            public var variable: String
            public var neurons: [Int]

            public init(population: String, variable: String, neurons: [Int]) {
                self.population = population
                self.variable = variable
                self.neurons = neurons
            }
        }

        public init(file: String? = nil, enabled: Bool = false, probes: [Probe] = [], queueMegabytes: Int = 16) {
            self.file = file
            self.enabled = enabled
            self.probes = probes
            self.queueMegabytes = queueMegabytes
        }

        /// The session file; a directory (or a path ending in `/`) gets one
        /// `session-YYYYMMDD-HHMMSS.mcap` per session. Relative paths are
        /// taken in `$LOGS_DIRECTORY` when set (systemd LogsDirectory=).
        public var file: String?
        public var enabled: Bool
        public var probes: [Probe]
        /// Size of the queue between the loop and the recorder thread, MiB.
        public var queueMegabytes: Int
        /// How often a session stores the weights while it runs, ns of the
        /// daemon's clock (networks with plastic projections only).
        public var weightsInterval: Int64 = 10_000_000_000
    }

    /// What the daemon logs: events at `level` or above, and its one-line
    /// status every `statusInterval`.
    public struct Log: Sendable, Equatable {
        public var level: LogLevel = .info
        /// ns.
        public var statusInterval: Int64 = 10_000_000_000
        public init(level: LogLevel = .info, statusInterval: Int64 = 10_000_000_000) {
            self.level = level
            self.statusInterval = statusInterval
        }
    }

    /// What survives a restart (docs/weights.md).
    public struct Persistence: Sendable, Equatable {
        public init(weights: String? = nil, saveOnShutdown: Bool = true) {
            self.weights = weights
            self.saveOnShutdown = saveOnShutdown
        }

        /// The weights file, resolved; nil: weights are not kept.
        public var weights: String?
        public var saveOnShutdown: Bool
    }

    public var file: String
    public var robotFile: String
    public var robot: RobotDescription
    public var network: NetworkSpec
    public var encoders: [EncoderSpec]
    public var decoders: [DecoderSpec]
    public var loop: Loop
    public var endpoints: Endpoints
    public var recording: Recording
    public var log = Log()
    /// `learning: {rate: R}`: scales the plastic projections' weight changes
    /// (docs/plasticity.md); 1 by default, 0 freezes the weights. A reload
    /// may change it.
    public var learningRate: Float = 1
    /// The text of every file the configuration was built from (itself, the
    /// robot description, the network file), by path: recordings keep them.
    public var sources: [String: String] = [:]
    /// Files that are not text (a NIR graph), by path, as they were read: recordings keep them too.
    public var binarySources: [String: [UInt8]] = [:]
    public var persistence: Persistence

    public init(file: String, robotFile: String, robot: RobotDescription, network: NetworkSpec, encoders: [EncoderSpec],
                decoders: [DecoderSpec], loop: Loop, endpoints: Endpoints, recording: Recording,
                persistence: Persistence = Persistence()) {
        self.file = file
        self.robotFile = robotFile
        self.robot = robot
        self.network = network
        self.encoders = encoders
        self.decoders = decoders
        self.loop = loop
        self.endpoints = endpoints
        self.recording = recording
        self.persistence = persistence
    }

    public static let keys = ["robot", "network", "nir", "seed", "loop", "endpoints", "encoders", "decoders", "recording", "persistence", "log", "learning"]

    /// Loads and checks `path`; throws `ConfigurationError` with every problem.
    /// `offline`: for replay, where this machine's files (CURVE key,
    /// persistence directory) do not matter and are not checked.
    public static func load(path: String, offline: Bool = false) throws -> ControllerConfiguration {
        let text: String
        do { text = try readText(path) } catch {
            throw ConfigurationError(problems: [Problem(file: path, line: nil, keyPath: "", message: "cannot read the configuration: \(error)")])
        }
        var problems: [Problem] = []
        let r = DocumentReader(file: path)
        var config = r.root(yaml: text).flatMap { read($0, r, file: path, offline: offline, otherProblems: &problems) }
        problems = r.problems + problems
        guard config != nil, problems.isEmpty else { throw ConfigurationError(problems: problems) }
        config!.sources[path] = text
        return config!
    }

    // MARK: - Reading

    static func read(_ root: Entry, _ r: DocumentReader, file: String, offline: Bool = false,
                     otherProblems: inout [Problem]) -> ControllerConfiguration? {
        guard let top = r.mapping(root, allowed: keys) else { return nil }
        let directory = file.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        func resolve(_ p: String) -> String { p.hasPrefix("/") || directory.isEmpty ? p : "\(directory)/\(p)" }

        // Each file is read once: its text is parsed and kept for recordings.
        var sources: [String: String] = [:]

        // The robot.
        var robot: RobotDescription?
        var robotFile = ""
        if let e = r.required(top, "robot", in: root, "the robot description file, e.g. robot: ../Robots/cartpole.yaml"), let p = r.string(e) {
            robotFile = resolve(p)
            do {
                let text = try readText(robotFile)
                sources[robotFile] = text
                do { robot = try RobotDescription.parse(yaml: text, file: robotFile) } catch let error as ConfigurationError {
                    otherProblems += error.problems
                } catch { r.report(e, "\(error)") }
            } catch {
                r.report(e, "cannot read the robot description '\(robotFile)': \(error)")
            }
        }

        // The network: a file, a NIR graph or inline.
        var network: NetworkSpec?
        var binarySources: [String: [UInt8]] = [:]
        var nirOptions = NIRImport.Options()
        var nirGraph: (bytes: [UInt8], path: String, entry: Entry)?
        if let e = top["nir"], let k = r.mapping(e, allowed: ["reset", "conventions", "inputs"]) {
            if let i = k["inputs"].flatMap({ r.choice($0, NIRImport.Inputs.allCases.map(\.rawValue)) }) {
                nirOptions.inputs = NIRImport.Inputs(rawValue: i)!
            }
            if let reset = k["reset"].flatMap({ r.choice($0, LayerSpec.Reset.allCases.map(\.rawValue)) }) {
                nirOptions.reset = LayerSpec.Reset(rawValue: reset)!
            }
            if let c = k["conventions"].flatMap({ r.choice($0, NIRImport.Conventions.allCases.map(\.rawValue)) }) {
                nirOptions.conventions = NIRImport.Conventions(rawValue: c)!
            }
        }
        if let e = r.required(top, "network", in: root, "a network file (network: net.yaml), a NIR graph (network: model.nir) or an inline network with populations and projections") {
            if case .scalar = e.node, let p = r.string(e), p.hasSuffix(".nir") {
                // Imported once the loop's dt is known: the conventions may depend on it.
                let networkFile = resolve(p)
                do {
                    let bytes = try readBytes(networkFile, limit: NIRImport.maximumFileSize)
                    binarySources[networkFile] = bytes
                    nirGraph = (bytes, networkFile, e)
                } catch {
                    r.report(e, "cannot read the NIR graph '\(networkFile)': \(error)")
                }
            } else if case .scalar = e.node, let p = r.string(e) {
                if let k = top["nir"] { r.report(k, "applies to a NIR graph (network: model.nir) only") }
                let networkFile = resolve(p)
                do {
                    let text = try readText(networkFile)
                    sources[networkFile] = text
                    do { network = try NetworkFile.parse(yaml: text, file: networkFile) } catch let error as ConfigurationError {
                        otherProblems += error.problems
                    } catch { r.report(e, "\(error)") }
                } catch {
                    r.report(e, "cannot read the network file '\(networkFile)': \(error)")
                }
            } else {
                network = NetworkFile.read(e, reader: r)
            }
        }
        if let e = top["seed"], let s = r.integer(e, min: 0) { network?.seed = UInt64(s) }

        // A NIR graph is discretised at the loop's dt, so it is imported in the loop
        // section; without a readable loop section, at the default dt, so that the
        // graph's own problems are reported in the same pass.
        func importGraph() {
            guard let graph = nirGraph else { return }
            nirGraph = nil
            do { network = try NIRImport(bytes: graph.bytes, path: graph.path, options: nirOptions).network } catch {
                r.report(graph.entry, "\(error)")
            }
        }

        // The loop.
        var loop: Loop?
        if let e = r.required(top, "loop", in: root, "mode, tick_rate and watchdog_timeout"),
           let k = r.mapping(e, allowed: ["mode", "tick_rate", "dt", "watchdog_timeout", "auto_resume", "realtime"]) {
            let mode = r.required(k, "mode", in: e, "lockstep (simulators) or realtime (robots)").flatMap { r.choice($0, Mode.allCases.map(\.rawValue)) }.flatMap(Mode.init)
            let rate = r.required(k, "tick_rate", in: e, "ticks per second, e.g. tick_rate: 1 kHz").flatMap { r.quantity($0, .rate, positive: true) }
            let dt = k["dt"].flatMap { r.quantity($0, .time, positive: true) }
            if let dt { nirOptions.dt = dt }
            importGraph()
            if let dt { network?.dt = dt }
            let watchdog = r.required(k, "watchdog_timeout", in: e, "how long without a valid frame before motors go safe, e.g. 50 ms")
                .flatMap { r.quantity($0, .time, positive: true, max: (3_600_000, "1 h (a watchdog is a fraction of a second to a few seconds)")) }
            let autoResume = k["auto_resume"].flatMap(r.bool) ?? false
            var priority: Int32?, lockMemory = false, cpu: Int?, busyWait = 0.0, cpuLatency: Int32?
            var busyWaitEntry: Entry?
            if let rt = k["realtime"], let rk = r.mapping(rt, allowed: ["priority", "lock_memory", "cpu", "busy_wait", "cpu_latency"]) {
                cpuLatency = rk["cpu_latency"].flatMap { r.quantity($0, .time, nonNegative: true, max: (2, "2 ms (a wake-up latency; 0 us keeps the CPUs out of idle states)")) }
                    .map { Int32(($0 * 1000).rounded()) }
                priority = rk["priority"].flatMap { r.integer($0, min: 1, max: 99) }.map(Int32.init)
                lockMemory = rk["lock_memory"].flatMap(r.bool) ?? false
                cpu = rk["cpu"].flatMap { r.integer($0, min: 0) }
                busyWaitEntry = rk["busy_wait"]
                busyWait = busyWaitEntry.flatMap { r.quantity($0, .time, nonNegative: true) } ?? 0
            }
            if let rate, let busyWaitEntry, busyWait >= 1000 / rate {
                r.report(busyWaitEntry, "busy_wait (\(busyWait) ms) must be shorter than the tick period (\(1000 / rate) ms); a few tens of µs, e.g. busy_wait: 50 us")
            }
            if let mode, let rate, let watchdog, let net = network {
                let ticks = 1000 / rate / net.dt
                if (ticks - ticks.rounded()).magnitude > 1e-6 || ticks.rounded() < 1 {
                    r.report(k["tick_rate"]!, "a tick of \(1000 / rate) ms is not a whole number of steps of dt = \(net.dt) ms (\(ticks)); choose tick_rate and dt so that period/dt is an integer")
                } else {
                    loop = Loop(mode: mode, tickRate: rate, stepsPerTick: Int(ticks.rounded()),
                                watchdogTimeout: Int64(watchdog * 1e6), autoResume: autoResume,
                                realtimePriority: priority, lockMemory: lockMemory, cpu: cpu,
                                busyWait: Int64((busyWait * 1e6).rounded()), cpuLatency: cpuLatency)
                }
            }
        }

        importGraph()

        // Endpoints.
        var endpoints: Endpoints?
        if let e = r.required(top, "endpoints", in: root, "frames and control endpoints, e.g. frames: tcp://127.0.0.1:5555"),
           let k = r.mapping(e, allowed: ["frames", "commands", "control", "telemetry", "curve_secret_key", "curve_client_keys", "insecure"]) {
            let insecure = k["insecure"].flatMap(r.bool) ?? false
            let keyFile = k["curve_secret_key"].flatMap(r.string).map(resolve)
            if let keyFile, let entry = k["curve_secret_key"], !offline {
                do { _ = try CurveKeyPair.load(secretKeyFile: keyFile) } catch { r.report(entry, "\(error)") }
                if let problem = CurveKeyPair.secretKeyFileProblem(keyFile) { r.report(entry, problem) }
            }
            var clientKeys: [String] = []
            if let entry = k["curve_client_keys"], let directory = r.string(entry).map(resolve), !offline {
                do {
                    clientKeys = try CurveAuthenticator.loadAuthorizedKeys(directory: directory)
                    if clientKeys.isEmpty { r.report(entry, "\(directory) holds no *.public file; list at least one client's public key there") }
                } catch { r.report(entry, "\(error)") }
            } else if keyFile != nil, !offline {
                r.report(at: e, e.child("curve_client_keys"), "missing; with curve_secret_key, give a directory of the client public keys (*.public) allowed in — without it any client that knows the server's public key gets in")
            }
            func endpoint(_ key: String, required: Bool) -> String? {
                guard let entry = k[key] else {
                    if required { r.report(at: e, e.child(key), "missing; e.g. \(key): \(key == "control" ? "ipc:///run/spikeloop/control" : "tcp://127.0.0.1:5555")") }
                    return nil
                }
                guard let s = r.string(entry) else { return nil }
                if let problem = endpointProblem(s) { r.report(entry, problem); return nil }
                // Control can stop motors and write files: only the daemon's
                // operators may reach it.
                if key == "control", s.hasPrefix("tcp://"), keyFile == nil, !insecure {
                    r.report(entry, "\(s) lets every user of this machine pause the loop and write files; use ipc:// (only the daemon's user and group can connect) or CURVE keys, or set insecure: true")
                    return nil
                }
                do { try EndpointPolicy.check(s, curve: keyFile != nil, insecure: insecure, key: entry.path) } catch {
                    r.report(entry, "\(error)")
                    return nil
                }
                return s
            }
            let frames = endpoint("frames", required: true)
            let commands = endpoint("commands", required: false)
            let control = endpoint("control", required: true)
            let telemetry = endpoint("telemetry", required: false)
            if let frames, let control {
                endpoints = Endpoints(frames: frames, commands: commands, control: control, telemetry: telemetry,
                                      curveSecretKeyFile: keyFile, curveClientKeys: clientKeys, insecure: insecure)
            }
        }
        if let loop, loop.mode == .realtime, let endpoints, endpoints.commands == nil, let e = top["endpoints"] {
            r.report(at: e, e.child("commands"), "missing; realtime mode publishes motor commands on it, e.g. commands: tcp://127.0.0.1:5556")
        }

        // Encoders and decoders.
        var encoders: [EncoderSpec] = [], decoders: [DecoderSpec] = []
        if let robot, let network, let loop {
            if let e = r.required(top, "encoders", in: root, "one entry per sensor channel"), let list = r.sequence(e) {
                encoders = CodingReader.encoders(list, r, robot: robot, network: network, stepsPerTick: loop.stepsPerTick, parent: e)
            }
            if let e = r.required(top, "decoders", in: root, "one entry per motor channel"), let list = r.sequence(e) {
                decoders = CodingReader.decoders(list, r, robot: robot, network: network, stepsPerTick: loop.stepsPerTick, parent: e)
            }
        }

        var recording = Recording(file: nil, enabled: false)
        if let e = top["recording"], let k = r.mapping(e, allowed: ["file", "enabled", "probes", "queue_size", "weights_interval"]) {
            if let w = k["weights_interval"].flatMap({ r.quantity($0, .time, positive: true, max: (86_400_000, "1 day")) }) {
                recording.weightsInterval = Int64(w * 1e6)
            }
            recording.file = k["file"].flatMap(r.string)
            recording.enabled = k["enabled"].flatMap(r.bool) ?? (recording.file != nil)
            if let q = k["queue_size"] { recording.queueMegabytes = r.integer(q, min: 1, max: 4096) ?? recording.queueMegabytes }
            if let list = k["probes"].flatMap(r.sequence), let network {
                for p in list {
                    guard let pk = r.mapping(p, allowed: ["population", "variable", "neurons"]),
                          let popEntry = r.required(pk, "population", in: p, "the population to probe"),
                          let pop = r.string(popEntry) else { continue }
                    guard let spec = network.populations.first(where: { $0.name == pop }) else {
                        r.report(popEntry, "no population '\(pop)'; valid: \(network.populations.map(\.name).joined(separator: ", "))")
                        continue
                    }
                    let variable = pk["variable"].flatMap { r.choice($0, spec.model.probeableVariables) } ?? "v"
                    var neurons: [Int] = [0]
                    if let n = pk["neurons"] {
                        if let list = r.sequence(n) {
                            neurons = list.compactMap { r.integer($0, min: 0, max: spec.size - 1) }
                        } else if let one = r.integer(n, min: 0, max: spec.size - 1) {
                            neurons = [one]
                        }
                    }
                    recording.probes.append(.init(population: pop, variable: variable, neurons: neurons))
                }
            }
        }

        var log = Log()
        if let e = top["log"], let k = r.mapping(e, allowed: ["level", "status_interval"]) {
            if let l = k["level"].flatMap({ r.choice($0, LogLevel.allCases.map(\.rawValue)) }).flatMap(LogLevel.init) { log.level = l }
            if let t = k["status_interval"].flatMap({ r.quantity($0, .time, positive: true, max: (86_400_000, "1 day")) }) { log.statusInterval = Int64(t * 1e6) }
        }

        let persistence = offline ? Persistence() : top["persistence"].flatMap { readPersistence($0, r, configDirectory: directory) } ?? Persistence()
        var learningRate: Float = 1
        if let e = top["learning"], let k = r.mapping(e, allowed: ["rate"]),
           let rate = r.required(k, "rate", in: e, "a number from 0 (weights frozen) to 100; 1 learns as the network file writes").flatMap({ r.number($0, min: 0, max: 100) }) {
            learningRate = Float(rate)
        }

        guard let robot, let network, let loop, let endpoints else { return nil }
        var config = ControllerConfiguration(file: file, robotFile: robotFile, robot: robot, network: network,
                                             encoders: encoders, decoders: decoders, loop: loop,
                                             endpoints: endpoints, recording: recording, persistence: persistence)
        config.log = log
        config.learningRate = learningRate
        config.sources = sources
        config.binarySources = binarySources
        return config
    }

    /// `persistence: {weights: PATH, save_on_shutdown: BOOL}`. A relative PATH
    /// lives in systemd's state directory (`$STATE_DIRECTORY`) when there is
    /// one, else beside the configuration file.
    static func readPersistence(_ e: Entry, _ r: DocumentReader, configDirectory: String) -> Persistence? {
        guard let k = r.mapping(e, allowed: ["weights", "save_on_shutdown"]) else { return nil }
        var p = Persistence()
        p.saveOnShutdown = k["save_on_shutdown"].flatMap(r.bool) ?? true
        guard let entry = k["weights"], let path = r.string(entry) else { return p }
        guard !path.isEmpty, !path.hasSuffix("/") else {
            r.report(entry, "'\(path)' is not a file name; e.g. weights: weights.slw (in $STATE_DIRECTORY, else beside this file)")
            return nil
        }
        let state = getenv("STATE_DIRECTORY").map { String(cString: $0) }?.split(separator: ":").first.map(String.init)
        let base = state ?? configDirectory
        let resolved = path.hasPrefix("/") || base.isEmpty ? path : "\(base)/\(path)"
        let directory = resolved.lastIndex(of: "/").map { resolved[..<$0].isEmpty ? "/" : String(resolved[..<$0]) } ?? "."
        var info = stat()
        guard stat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            r.report(entry, "the directory '\(directory)' of '\(resolved)' does not exist; weights are saved there"
                     + (state == nil ? " (relative paths are resolved against $STATE_DIRECTORY when set, else this file's directory)" : ""))
            return nil
        }
        p.weights = resolved
        return p
    }

    /// Shape of an endpoint the daemon binds: tcp://ADDRESS:PORT (an IPv4
    /// address, [an IPv6 address], `*`, or a network interface of this
    /// machine), ipc://PATH or inproc://NAME — what libzmq can bind.
    public static func endpointProblem(_ s: String) -> String? {
        let valid = "valid: tcp://ADDRESS:PORT, ipc://PATH, inproc://NAME"
        if s.hasPrefix("ipc://") { return s.count > 6 ? nil : "ipc:// needs a path; \(valid)" }
        if s.hasPrefix("inproc://") { return s.count > 9 ? nil : "inproc:// needs a name; \(valid)" }
        guard s.hasPrefix("tcp://") else { return "'\(s)' is not an endpoint; \(valid)" }
        let rest = s.dropFirst(6)
        guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) || rest[rest.index(after: colon)...] == "*",
              colon > rest.startIndex else {
            return "'\(s)' needs a host and a port 1–65535, e.g. tcp://127.0.0.1:5555"
        }
        let host = String(rest[..<colon])
        if host.contains(";") {
            return "'\(s)': a source address (SOURCE;ADDRESS) is for connecting; the daemon binds, give one address, e.g. tcp://127.0.0.1:\(port)"
        }
        if host == "*" { return nil }
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]"), inet_pton(AF_INET6, String(host.dropFirst().dropLast()), &v6) == 1 { return nil }
        if if_nametoindex(host) != 0 { return nil }
        return "'\(s)': \(host) is not an IP address or a network interface of this machine, which is what a bound endpoint needs (host names are not resolved), e.g. tcp://127.0.0.1:\(port) or tcp://[::1]:\(port)"
    }
}
