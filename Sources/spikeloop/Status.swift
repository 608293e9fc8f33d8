import ArgumentParser
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

    func run() throws {
        let reply = try sendControl(.status, endpoint: endpoint, timeout: timeout)
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
        print("watchdog     \(Double(s.watchdogTimeoutNs) / 1e6) ms")
        print("config       generation \(s.configGeneration) (reloads refused \(s.reloadsRefused))")
    }
}

struct Control: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "control",
        abstract: "Send a control request to a running daemon.",
        discussion: "Commands: pause, resume, reset, safe-stop, reward VALUE, reload (as SIGHUP), shutdown."
    )

    @Option(help: "The daemon's control endpoint.")
    var endpoint: String

    @Argument(help: "pause | resume | reset | safe-stop | reward | reload | shutdown")
    var command: String

    @Argument(help: "The reward value, for 'reward'.")
    var value: Float?

    func run() throws {
        let commands: [String: Spikeloop_V1_ControlCommand] = [
            "pause": .pause, "resume": .resume, "reset": .reset, "safe-stop": .safeStop,
            "reward": .setReward, "reload": .reload, "shutdown": .shutdown,
        ]
        guard let c = commands[command] else {
            throw ValidationError("unknown command '\(command)'; valid: \(commands.keys.sorted().joined(separator: ", "))")
        }
        if c == .setReward && value == nil { throw ValidationError("'reward' needs a value, e.g. spikeloop control --endpoint … reward 0.5") }
        let reply = try sendControl(c, endpoint: endpoint, timeout: 2000, reward: value ?? 0)
        print("ok, state \(reply.state)")
    }
}

/// One request/reply on the control socket.
func sendControl(_ command: Spikeloop_V1_ControlCommand, endpoint: String, timeout: Int32, reward: Float = 0) throws -> Spikeloop_V1_ControlReply {
    let context = try ZMQContext()
    defer { context.shutdown() }
    let socket = try ZMQSocket(context, .req)
    try socket.setReceiveTimeout(milliseconds: timeout)
    try socket.connect(endpoint)
    var request = Spikeloop_V1_ControlRequest()
    request.protocolVersion = wireProtocolVersion
    request.requestID = 1
    request.command = command
    request.reward = reward
    _ = try socket.send(Array(try request.serializedBytes() as [UInt8]), .wait)
    guard let bytes = try socket.receiveBytes(.wait) else {
        throw CommandError("no answer from \(endpoint) within \(timeout) ms; is the daemon running with that control endpoint?")
    }
    let reply = try Spikeloop_V1_ControlReply(serializedBytes: bytes)
    if !reply.ok { throw CommandError("refused: \(reply.error)") }
    return reply
}
