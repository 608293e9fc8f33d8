import ArgumentParser
import Foundation
import Wire

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a running daemon's state and loop statistics.",
        discussion: "Asks the daemon's control socket (the configuration's endpoints.control)."
    )

    @Option(help: "The daemon's control endpoint, e.g. ipc:///run/spikeloop/control.")
    var endpoint: String

    @Option(help: "How long to wait for the answer, in ms.")
    var timeout: Int32 = 2000

    @OptionGroup var curve: CurveClientOptions

    func run() throws {
        let reply = try sendControl(.status, endpoint: endpoint, timeout: timeout, security: try curve.security())
        let s = reply.stats
        func us(_ ns: Int64) -> String { String(format: "%.1f µs", Double(ns) / 1000) }
        print("state        \(reply.state)")
        print("mode         \(s.mode) at \(s.tickHz) Hz")
        print("ticks        \(s.ticks) (overruns \(s.overruns), stale \(s.staleTicks))")
        print("tick time    p50 \(us(s.tickNsP50))  p99 \(us(s.tickNsP99))  max \(us(s.tickNsMax))")
        print("latency      p50 \(us(s.latencyNsP50))  p99 \(us(s.latencyNsP99))")
        print("lateness     p99 \(us(s.latenessNsP99))   frame age p99 \(us(s.frameAgeNsP99))")
        let r = s.rejected
        print("frames       \(s.framesAccepted) accepted; rejected: malformed \(r.malformed), empty \(r.empty), oversized \(r.oversized), "
            + "wrong version \(r.wrongVersion), wrong layout \(r.wrongLayout), wrong count \(r.wrongValueCount), "
            + "non-finite \(r.nonFinite), out of range \(r.outOfRange)")
        print("safe         \(s.safeReasons.isEmpty ? "no (motors follow the controller)" : s.safeReasons.joined(separator: ", "))")
        print("weights      \(s.weightsPath.isEmpty ? "not kept (no persistence.weights)" : s.weightsPath), saved \(s.weightsSaved) times since start")
        print("watchdog     \(Double(s.watchdogTimeoutNs) / 1e6) ms")
        print("config       generation \(s.configGeneration) (reloads refused \(s.reloadsRefused))")
        if s.curveClientsRefused > 0 { print("curve        \(s.curveClientsRefused) unknown clients refused") }
        if s.repliesCopied > 0 { print("replies      \(s.repliesCopied) copied: every zero-copy message was inside ZeroMQ (an allocation each)") }
        if s.learningRate >= 0 { print("learning     rate \(s.learningRate)\(s.learningRate == 0 ? " (weights frozen)" : "")") }
    }
}

struct Control: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "control",
        abstract: "Send a control request to a running daemon.",
        discussion: """
        Commands: pause, resume, reset, safe-stop, reward VALUE, learning-rate VALUE, save-weights [--path P], \
        load-weights --path P, start-recording [--path P], stop-recording, reload, shutdown. reward gives the reward signal \
        to every tick until a frame carries its own; learning-rate scales the plastic weights' changes (0 freezes them, 1 as \
        the network file writes; docs/plasticity.md); both apply from the next tick and are recorded. save-weights writes the network's weights atomically \
        (default: the configured persistence.weights file); load-weights checks a weights file \
        against the network and applies it at a tick boundary (docs/weights.md). start-recording opens a session file (default: the configured recording.file); reload re-reads the configuration as SIGHUP does. A relative \
        --path is taken from this command's working directory.
        """
    )

    @Option(help: "The daemon's control endpoint.")
    var endpoint: String

    @Argument(help: "pause | resume | reset | safe-stop | reward | learning-rate | save-weights | load-weights | start-recording | stop-recording | reload | shutdown")
    var command: String

    @Argument(help: "The value, for 'reward' and 'learning-rate' (a negative one after --, e.g. reward -- -0.5).")
    var value: Float?

    @Option(help: "The weights file, for save-weights (optional) and load-weights (required); the session file for start-recording (optional, inside the daemon's recording directory, never an existing file).")
    var path: String?

    @OptionGroup var curve: CurveClientOptions

    func run() throws {
        let commands: [String: Spikeloop_V1_ControlCommand] = [
            "pause": .pause, "resume": .resume, "reset": .reset, "safe-stop": .safeStop,
            "reward": .setReward, "shutdown": .shutdown, "save-weights": .saveWeights, "load-weights": .loadWeights,
            "start-recording": .startRecording, "stop-recording": .stopRecording, "reload": .reload,
            "learning-rate": .setLearningRate,
        ]
        guard let c = commands[command] else {
            throw ValidationError("unknown command '\(command)'; valid: \(commands.keys.sorted().joined(separator: ", "))")
        }
        if c == .setReward && value == nil { throw ValidationError("'reward' needs a value, e.g. spikeloop control --endpoint … reward 0.5") }
        if c == .setLearningRate && value == nil { throw ValidationError("'learning-rate' needs a value from 0 (frozen) to 100, e.g. spikeloop control --endpoint … learning-rate 0") }
        if c == .loadWeights && path == nil { throw ValidationError("'load-weights' needs --path FILE") }
        // The daemon resolves relative paths against its own directory; the user means theirs.
        let absolute = path.map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 } ?? ""
        // A save of a large network takes a while: the daemon answers once the file is on disk.
        let timeout: Int32 = c == .saveWeights || c == .loadWeights ? 60_000 : 2000
        let reply = try sendControl(c, endpoint: endpoint, timeout: timeout, reward: c == .setReward ? value ?? 0 : 0,
                                    learningRate: c == .setLearningRate ? value ?? 1 : 0, path: absolute,
                                    security: try curve.security())
        print("ok, state \(reply.state)" + (reply.message.isEmpty ? "" : ": \(reply.message)"))
    }
}

/// CURVE keys for a daemon whose control endpoint uses CURVE.
struct CurveClientOptions: ParsableArguments {
    @Option(name: .customLong("server-key"), help: "The daemon's CURVE public key file (the .public of its endpoints.curve_secret_key).")
    var serverKey: String?

    @Option(name: .customLong("client-key"), help: "This operator's CURVE secret key file (mode 0600); its public key must be in the daemon's endpoints.curve_client_keys.")
    var clientKey: String?

    func security() throws -> WireSecurity {
        switch (serverKey, clientKey) {
        case (nil, nil): return .none
        case let (server?, client?):
            if let problem = CurveKeyPair.secretKeyFileProblem(client) { throw ValidationError("--client-key: \(problem)") }
            return .curveClient(serverPublicKey: try CurveKeyPair.loadPublicKey(server), keys: try CurveKeyPair.load(secretKeyFile: client))
        default: throw ValidationError("CURVE needs both --server-key and --client-key")
        }
    }
}

/// One request/reply on the control socket.
func sendControl(_ command: Spikeloop_V1_ControlCommand, endpoint: String, timeout: Int32, reward: Float = 0,
                 learningRate: Float = 0, path: String = "", security: WireSecurity = .none) throws -> Spikeloop_V1_ControlReply {
    if endpoint.hasPrefix("ipc://") {
        // libzmq retries an ipc connect silently: say what is wrong instead of timing out.
        let socketPath = String(endpoint.dropFirst(6))
        if !socketPath.hasPrefix("@") && access(socketPath, F_OK) != 0 {
            throw CommandError("no daemon listens at \(endpoint): \(socketPath) does not exist")
        }
        if !socketPath.hasPrefix("@") && access(socketPath, W_OK) != 0 && errno == EACCES {
            throw CommandError("permission denied on \(socketPath): the control socket is for the daemon's user and group (run as them, or join the group)")
        }
    }
    let context = try ZMQContext()
    defer { context.shutdown() }
    let socket = try ZMQSocket(context, .req)
    try socket.setReceiveTimeout(milliseconds: timeout)
    try socket.connect(endpoint, security: security, insecure: true)
    var request = Spikeloop_V1_ControlRequest()
    request.protocolVersion = wireProtocolVersion
    request.requestID = 1
    request.command = command
    request.reward = reward
    request.learningRate = learningRate
    request.path = path
    _ = try socket.send(Array(try request.serializedBytes() as [UInt8]), .wait)
    guard let bytes = try socket.receiveBytes(.wait) else {
        throw CommandError("no answer from \(endpoint) within \(timeout) ms; is the daemon running with that control endpoint?")
    }
    let reply = try Spikeloop_V1_ControlReply(serializedBytes: bytes)
    if !reply.ok { throw CommandError("refused: \(reply.error)") }
    return reply
}
