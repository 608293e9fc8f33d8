import ArgumentParser
import Control
import Foundation
import NetworkFile
import Sim
import Wire

struct Sim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run a built-in simulator as the daemon's robot.",
        discussion: """
        Loads the robot description (Robots/NAME.yaml), builds the simulator its `simulator:` \
        mapping names (cartpole, pendulum, diffdrive; see docs/simulators.md), connects to a \
        running daemon (`spikeloop run --config FILE`) and runs --episodes episodes of \
        --duration simulated time each (an episode also ends when the task fails). Episode k \
        (from 0) starts from seed --seed + k.

        Lockstep (default): a REQ socket connects to the daemon's frames endpoint; each frame \
        is answered by one tick, whose command is held for one control period (1 / --rate) \
        of simulated time. Realtime: frames are published to --endpoint and commands read \
        from --commands, paced by the wall clock.

        Prints one summary per episode; --csv writes the state, the applied motor values and \
        the reward of every tick.

        Example:
          spikeloop run --config Config/cartpole.yaml &
          spikeloop sim --robot Robots/cartpole.yaml --duration 60s --episodes 20
        """
    )

    @Option(help: "The robot description (YAML) with a `simulator:` mapping.")
    var robot: String

    @Option(help: "The daemon's frames endpoint (lockstep: its REP; realtime: its SUB).")
    var endpoint: String = "tcp://127.0.0.1:5555"

    @Flag(help: "Lockstep (REQ/REP, simulated time; the default) or realtime (PUB/SUB, wall clock).")
    var mode: SimMode = .lockstep

    @Option(help: "Realtime: the daemon's command endpoint (its PUB).")
    var commands: String?

    @Option(help: "Simulated time per episode, with a unit (e.g. 20s).")
    var duration: String = "20 s"

    @Option(help: "Number of episodes.")
    var episodes: Int = 1

    @Option(help: "Seed of the first episode.")
    var seed: UInt64 = 1

    @Option(help: "Control rate: frames per simulated second, with a unit (e.g. 1kHz).")
    var rate: String = "1 kHz"

    @Option(help: "Smallest integration rate (RK4 substeps per control period), with a unit.")
    var physicsRate: String = "1 kHz"

    @Option(help: "Lockstep: give up when the daemon does not answer within this time.")
    var timeout: String = "5 s"

    @Flag(help: "Lockstep: skip the Hello handshake (for peers that only speak SensorFrame/MotorCommand).")
    var noHello = false

    @Option(name: .customLong("set"), help: ArgumentHelp(
        "Override a parameter of the robot file's `simulator:` mapping (repeatable), e.g. --set light_reach=0.15.",
        valueName: "key=value"))
    var settings: [String] = []

    @Option(help: "Write the state, applied motor values and reward of every tick to this CSV file.")
    var csv: String?

    @Option(help: "Lockstep: the daemon's control endpoint; a `reset` is sent there before every episode, so one daemon serves them all.")
    var control: String?

    @Option(help: "Run a classical controller in this process instead of a daemon (cart-pole): lqr or pd (docs/controllers.md).")
    var controller: Baseline?

    @Option(help: "With --controller: the feedback gains on x, v, angle, rate (N per unit), e.g. 1,2,30.6,7.8.")
    var gains: String?

    enum SimMode: String, EnumerableFlag {
        case lockstep, realtime
    }

    enum Baseline: String, ExpressibleByArgument, CaseIterable {
        case lqr, pd
    }

    mutating func validate() throws {
        if mode == .realtime && commands == nil {
            throw ValidationError("--realtime needs --commands ENDPOINT, the daemon's command publisher, e.g. tcp://127.0.0.1:5556")
        }
        if episodes < 1 { throw ValidationError("--episodes must be at least 1") }
        if control != nil && mode == .realtime { throw ValidationError("--control is for lockstep mode") }
        if controller == nil && gains != nil { throw ValidationError("--gains goes with --controller") }
    }

    func run() throws {
        // The daemon's reader validates the channels fully, with its messages.
        do { _ = try RobotDescription.load(path: robot) } catch let e as ConfigurationError {
            throw CommandError("the robot description is not valid; nothing was run.\n\(e.description)")
        }
        var options = SimOptions()
        options.duration = try cliQuantity(duration, .time, option: "--duration") / 1000
        guard options.duration > 0 else { throw ValidationError("--duration must be positive, e.g. --duration 20s") }
        options.rate = try cliQuantity(rate, .rate, option: "--rate")
        options.physicsRate = try cliQuantity(physicsRate, .rate, option: "--physics-rate")
        guard options.rate > 0, options.physicsRate > 0 else { throw ValidationError("--rate and --physics-rate must be positive") }
        options.timeoutMilliseconds = Int32(min(max(try cliQuantity(timeout, .time, option: "--timeout"), 1), 3_600_000))
        options.episodes = episodes
        options.seed = seed
        options.hello = !noHello
        options.csvPath = csv

        let sim: any SimRobotProtocol
        do {
            var file = try RobotFile.load(path: robot)
            file.simulator = try file.simulator.setting(settings)
            sim = try makeSimRobot(robot: file, options: options)
        } catch let e as SimError {
            throw CommandError(e.description)
        }
        print("robot        \(sim.layout.robot) (\(sim.modelName) simulator, layout \(hex(sim.layout.layoutHash)))")
        print("loop         \(mode.rawValue), \(format(options.rate)) Hz control, \(options.substeps) RK4 substep\(options.substeps == 1 ? "" : "s") per tick, "
            + "\(format(options.duration)) s × \(episodes) episode\(episodes == 1 ? "" : "s") from seed \(seed)")
        if let d = sim.disturbanceSummary { print("disturbances \(d)") }
        if let c = sim.conditionSummary { print("episodes     \(c)") }

        var local: LinearFeedback?
        if let controller {
            guard sim.modelName == "cartpole" else { throw ValidationError("--controller is for the cart-pole (model cartpole)") }
            var k = controller == .lqr ? LinearFeedback.lqr : LinearFeedback.pd
            if let gains {
                let parsed = gains.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
                guard parsed.count == 4, parsed.allSatisfy(\.isFinite) else { throw ValidationError("--gains needs four numbers: x,v,angle,rate") }
                k = parsed
            }
            let description = try RobotDescription.load(path: robot)
            let m = description.motors[0]
            local = LinearFeedback(gains: k, min: m.min, max: m.max,
                                   maxStep: m.maxSlewPerSecond.map { Float(Double($0) / options.rate) } ?? .infinity, safe: m.safe)
            print("controller   \(controller.rawValue) in process: F = \(k[0]) x + \(k[1]) v + \(k[2]) angle + \(k[3]) rate")
        }

        let start = monotonicNanoseconds()
        let results: [SimEpisodeResult]
        do {
            if let feedback = local {
                results = try sim.runLocal(reset: { _ in feedback.reset() },
                                           control: { feedback.control($0, $1) }, report: printEpisode)
            } else {
                switch mode {
                case .lockstep:
                    let reset: (Int) throws -> Void = { [control] _ in
                        if let control { try resetDaemon(control: control) }
                    }
                    results = try sim.runLockstep(endpoint: endpoint, beforeEpisode: reset, report: printEpisode)
                case .realtime: results = try sim.runRealtime(frames: endpoint, commands: commands!, report: printEpisode)
                }
            }
        } catch let e as SimError {
            throw CommandError(e.description)
        }
        let wall = Double(monotonicNanoseconds() - start) / 1e9
        let steps = results.reduce(0) { $0 + $1.steps }
        let simulated = results.reduce(0) { $0 + $1.simulatedSeconds }
        let failed = results.filter(\.failed).count
        print("total        \(steps) ticks, \(format(simulated)) s simulated in \(String(format: "%.3f", wall)) s wall: "
            + "\(Int(Double(steps) / max(wall, 1e-9))) ticks/s, \(String(format: "%.1f", simulated / max(wall, 1e-9)))× real time"
            + (failed > 0 ? "; \(failed) of \(results.count) episodes failed" : ""))
        for key in results.first?.statistics.map(\.key) ?? [] where results.count > 1 {
            let values = results.compactMap { $0.statistic(key) }
            let mean = values.reduce(0, +) / Double(values.count)
            let unit = results.first?.statistics.first { $0.key == key }?.unit ?? ""
            print("  mean " + pad(key, 18) + format(mean) + (unit.isEmpty ? "" : " \(unit)"))
        }
        if let csv { print("per tick in  \(csv)") }
    }

    private func printEpisode(_ r: SimEpisodeResult) {
        var line = "episode \(r.episode + 1)  seed \(r.seed)  \(r.steps) ticks  \(format(r.simulatedSeconds)) s"
        line += r.failed ? "  FAILED" : ""
        for s in r.statistics { line += "  \(s.key) \(format(s.value))\(s.unit.isEmpty ? "" : " \(s.unit)")" }
        if r.sequenceErrors > 0 { line += "  sequence errors \(r.sequenceErrors)" }
        if r.badCommands > 0 { line += "  bad commands \(r.badCommands)" }
        if r.safeStopTicks > 0 { line += "  safe-stop ticks \(r.safeStopTicks)" }
        if r.saturatedValues > 0 { line += "  saturated sensor values \(r.saturatedValues)" }
        if r.pushes > 0 { line += "  pushes \(r.pushes)" }
        for (key, value) in r.parameters { line += "  \(key) \(String(format: "%.4g", value))" }
        if mode == .realtime { line += "  commands \(r.commandsReceived)  max command age \(r.maxCommandAge) ticks" }
        print(line)
    }
}

/// A `reset` on the daemon's control socket (its reply arrives after the
/// request is queued, and the loop applies it before the next frame).
private func resetDaemon(control endpoint: String) throws {
    do {
        _ = try sendControl(.reset, endpoint: endpoint, timeout: 5000)
    } catch {
        throw CommandError("cannot reset the daemon through --control \(endpoint): \(error)")
    }
}

private func format(_ x: Double) -> String {
    if x == x.rounded() && abs(x) < 1e12 { return String(Int(x)) }
    return String(format: abs(x) >= 100 ? "%.1f" : (abs(x) >= 1 ? "%.3f" : "%.4f"), x)
}

private func pad(_ s: String, _ n: Int) -> String { s.count < n ? s + String(repeating: " ", count: n - s.count) : s + " " }

private func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 16 - digits.count)) + digits
}
