import ArgumentParser
import Control
import Daemon
import Foundation
import Logging
import Wire
import NetworkFile

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the controller daemon.",
        discussion: """
        Binds the endpoints of the configuration, builds the network and runs the tick loop: \
        in lockstep mode one tick per frame from a simulator, in realtime mode on the daemon's \
        own clock. Motors are held at their safe values until the first valid frame, when frames \
        stop for the watchdog timeout, on e-stop, and on a safe_stop request.

        SIGINT or SIGTERM stops it: the last command is the safe command, and it exits 0. \
        SIGHUP re-reads the configuration: watchdog, safety limits, decoder mappings, logging and \
        recording change at the next tick boundary; a change that needs a restart (network, \
        encoders, endpoints, tick rate, dt, mode, robot layout) is refused and logged, and the \
        running configuration stays.
        Logs go to stderr, one line per event (journald adds the time).
        """
    )

    @Option(help: "The controller configuration (YAML).")
    var config: String

    @Option(help: "Stop after this much time: simulated time in lockstep, wall time in realtime (e.g. 20s).")
    var duration: String?

    @Option(help: ArgumentHelp("Record the session to this MCAP file (a directory gets session-DATE.mcap).",
                               discussion: "Overrides the configuration's recording.file and turns recording on."))
    var record: String?

    @Option(help: ArgumentHelp("Stream the session live on this endpoint (e.g. ipc:///tmp/spikeloop-telemetry).",
                               discussion: "Overrides endpoints.telemetry: every channel of a recording, as it happens (docs/wire.md, Telemetry); Bridges/foxglove shows it in Foxglove."))
    var telemetry: String?

    func run() throws {
        var configuration: ControllerConfiguration
        do { configuration = try ControllerConfiguration.load(path: config) } catch let e as ConfigurationError {
            throw CommandError("the configuration is not valid; nothing was started.\n\(e.description)")
        }
        if let record {
            configuration.recording.file = record
            configuration.recording.enabled = true
        }
        if let telemetry {
            let e = configuration.endpoints
            if let problem = ControllerConfiguration.endpointProblem(telemetry) { throw CommandError("--telemetry \(telemetry): \(problem); nothing was started") }
            do { try EndpointPolicy.check(telemetry, curve: e.curveSecretKeyFile != nil, insecure: e.insecure, key: "--telemetry") } catch {
                throw CommandError("--telemetry: \(error); nothing was started")
            }
            configuration.endpoints.telemetry = telemetry
        }
        var logger = Logger(label: "spikeloop")
        logger.logLevel = .info
        let log: @Sendable (String) -> Void = { [logger] line in
            switch LogLevel(line: line) {
            case .error: logger.error("\(line)")
            case .warning: logger.warning("\(line)")
            default: logger.info("\(line)")
            }
        }

        var maxTicks: Int64?
        if let duration {
            let ms = try cliQuantity(duration, .time, option: "--duration")
            maxTicks = Int64((ms / 1000 * configuration.loop.tickRate).rounded())
        }
        SignalWaiter.blockTerminationSignals()
        ServiceTestHooks.blockSignals()  // SIGUSR1 (SPIKELOOP_TEST_HOOKS=1 only)
        // systemd (Type=notify): READY=1, STATUS=, WATCHDOG=1, STOPPING=1 — docs/service.md.
        let notifier = ServiceNotifier()
        let daemon: Daemon
        do {
            daemon = try Daemon(config: configuration, recordedByOperator: record != nil, log: log)
            try daemon.start(maxTicks: maxTicks)
        } catch {
            notifier?.status("cannot start: \(error)")
            throw CommandError("cannot start: \(error)")
        }
        let service = notifier.map { ServiceLink(notifier: $0, daemon: daemon) }
        let l = configuration.loop
        log("ready: \(l.mode.rawValue) at \(l.tickRate) Hz, \(l.stepsPerTick) steps of \(configuration.network.dt) ms per tick, "
            + "\(daemon.loop.controller.network.neuronCount) neurons, \(daemon.loop.controller.network.connectionsDescription); "
            + "frames on \(configuration.endpoints.frames)"
            + (configuration.endpoints.commands.map { ", commands on \($0)" } ?? "")
            + ", control on \(configuration.endpoints.control)")
        service?.daemonStarted()
        ServiceTestHooks.start(daemon, log: log)
        daemon.waitUntilStopped(signals: true, reloading: { body in
            service?.notifier.reloading()
            body()
            service.map { $0.notifier.ready(status: $0.statusLine()) }
        }, stopping: { service?.daemonStopping() })
        log(daemon.statusLine())
        log("stopped")
    }
}
