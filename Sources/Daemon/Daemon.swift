import Coding
import Control
import Histogram
import SwiftProtobuf
import Synchronization
import Wire
#if canImport(Glibc)
import Glibc
#endif

/// The running daemon: the loop thread (sockets for frames and commands), the
/// control server thread (REP), and the statistics reporter thread, started
/// from one checked configuration and stopped together.
public final class Daemon: @unchecked Sendable {
    public let config: ControllerConfiguration
    public let shared = LoopShared()
    public let statistics = StatisticsExchange()
    public let loop: TickLoop
    private let context: ZMQContext
    /// Lets only the configured client keys through CURVE endpoints.
    private let authenticator: CurveAuthenticator?
    private let sink: @Sendable (String) -> Void
    private let clock = MonotonicClock()
    /// The configuration as last reloaded (`config` is the one started with;
    /// everything a reload may not change is equal in both).
    private let current: Mutex<ControllerConfiguration>
    private let logLevel: Atomic<Int>
    private let statusInterval: Atomic<Int64>
    private let reloadsRefused = Atomic<Int64>(0)
    /// The session as messages: to the recording and to telemetry.
    private var stream: SessionStream!
    /// The running recording, if any.
    private let recording = Mutex<RecordingFile?>(nil)
    /// Serialises starting and stopping recordings.
    private let recordingSerial = Mutex(())
    /// The running recording was started by an operator (`run --record`,
    /// `start-recording`): it lasts until stopped; reloads leave it alone.
    private let operatorRecording = Atomic<Bool>(false)
    /// The loop thread owns the network while this is set.
    private let loopRunning = Atomic<Bool>(false)
    /// Cumulative histograms: the reporter thread adds to them, status reads them.
    private let totals = Mutex(TickHistograms())
    private var threads: [WorkerThread] = []
    /// Set once every socket is bound and the network built.
    public let ready = Atomic<Bool>(false)
    /// The weights file: loaded in init, saved on shutdown and on request.
    public let weights: WeightPersistence
    public var weightsPath: String? { weights.path }
    public var weightsSaved: Int { weights.saved.load(ordering: .relaxed) }

    /// `recordedByOperator`: the configuration's recording comes from the
    /// command line (`run --record`), not from its file.
    public init(config: ControllerConfiguration, recordedByOperator: Bool = false,
                log: @escaping @Sendable (String) -> Void) throws {
        self.config = config
        operatorRecording.store(recordedByOperator && config.recording.enabled, ordering: .relaxed)
        sink = log
        current = Mutex(config)
        logLevel = Atomic(LogLevel.allCases.firstIndex(of: config.log.level)!)
        statusInterval = Atomic(config.log.statusInterval)
        let controller = try Controller(config)
        loop = TickLoop(config: config, controller: controller, shared: shared, statistics: statistics, clock: clock)
        context = try ZMQContext()
        authenticator = config.endpoints.curveSecretKeyFile == nil ? nil
            : try CurveAuthenticator(context: context, allowedClientKeys: config.endpoints.curveClientKeys)
        weights = WeightPersistence(config.persistence, network: controller.network, shared: shared, log: log)
        weights.loadAtStart()  // no loop thread yet: the network is ours
        var telemetry: SessionStream.Telemetry?
        if let endpoint = config.endpoints.telemetry {
            telemetry = .init(endpoint: endpoint, context: context, security: try Self.security(config.endpoints),
                              insecure: config.endpoints.insecure)
        }
        stream = SessionStream(loop: loop, telemetry: telemetry, stats: { [unowned self] in loopStats() }, log: { [unowned self] in self.log($0) })
    }

    /// Starts the threads; returns once the loop's sockets and the control
    /// socket are bound (or throws what prevented it).
    public func start(maxTicks: Int64? = nil) throws {
        stream.start()
        // Recording from the start sees the network's initial state (replayable).
        if config.recording.enabled { try startRecording(path: config.recording.file) }
        let bound = StartupSignal()
        loopRunning.store(true, ordering: .releasing)
        let loopThread = WorkerThread { [self] in
            defer { loopRunning.store(false, ordering: .releasing) }
            RealtimeSetup.nameThread("spikeloop-loop")
            RealtimeSetup.tightenTimerSlack()
            let l = config.loop
            if let p = l.realtimePriority, let w = RealtimeSetup.setFIFO(priority: p) { log("warning: \(w)") }
            var pinned: Int?
            if let c = l.cpu {
                if let w = RealtimeSetup.pin(cpu: c) { log("warning: \(w)") } else { pinned = c }
            }
            // Once the sockets exist (ZeroMQ starts its threads with the first,
            // on this thread's CPU) and before the main thread starts more.
            func keepCPUToItself() {
                guard let c = pinned else { return }
                switch RealtimeSetup.moveOtherThreads(offCPU: c) {
                case .success(let n): log("the loop has CPU \(c) to itself (\(n) other threads moved off it)")
                case .failure(let warning): log("warning: \(warning)")
                }
            }
            do {
                switch l.mode {
                case .lockstep:
                    let socket = try ZMQSocket(context, .rep)
                    try socket.setMaxMessageSize(Int64(Self.messageSizeLimit))
                    try bindSecure(socket, config.endpoints.frames)
                    keepCPUToItself()
                    bound.succeeded()
                    try loop.runLockstep(socket: socket, maxTicks: maxTicks)
                case .realtime:
                    let frames = try ZMQSocket(context, .sub)
                    // Larger frames close the robot's connection in libzmq
                    // rather than being read whole.
                    try frames.setMaxMessageSize(Int64(TickLoop.receiveBufferSize))
                    // A short queue the loop drains every tick, rather than
                    // CONFLATE: every message is validated and counted, and a
                    // multipart one is refused as in lockstep (CONFLATE would
                    // keep its last part and take it).
                    try frames.setReceiveHighWaterMark(Int32(TickLoop.frameQueueLength))
                    try frames.subscribe()
                    try bindSecure(frames, config.endpoints.frames)
                    let commands = try ZMQSocket(context, .pub)
                    try commands.setSendHighWaterMark(TickLoop.commandQueueLength)
                    try bindSecure(commands, config.endpoints.commands!)
                    keepCPUToItself()
                    bound.succeeded()
                    // Held while the loop runs; the kernel drops it when the file closes.
                    var latency: CPULatencyRequest?
                    if let us = l.cpuLatency {
                        switch CPULatencyRequest.hold(microseconds: us) {
                        case .success(let request):
                            latency = request
                            log("holding a CPU wake-up latency of \(us) µs (\(CPULatencyRequest.device)) while the loop runs")
                        case .failure(let warning): log("warning: \(warning)")
                        }
                    }
                    defer { withExtendedLifetime(latency) {} }
                    do {
                        try loop.runRealtime(frames: frames, commands: commands, maxTicks: maxTicks)
                    } catch ZMQError.terminated {}
                    // The last word to the robot is a safe command; give it up to
                    // 200 ms to leave before the socket closes.
                    try? commands.setLinger(milliseconds: 200)
                    _ = try? commands.send(loop.safeCommand(), .dontWait)
                }
            } catch ZMQError.terminated {
            } catch {
                if !bound.fail("\(error)") { log("error: the loop stopped: \(error)") }
            }
            shared.setState(.stopping)
            shared.requestStop()
            loop.tap.active.store(false, ordering: .releasing)  // the recorder may close the session
        }
        threads.append(loopThread)
        if let failure = bound.wait() {
            loopThread.join()
            threads.removeAll()
            throw DaemonError(description: failure)
        }
        if config.loop.lockMemory, let w = RealtimeSetup.lockMemory() { log("warning: \(w)") }

        let controlBound = StartupSignal()
        threads.append(WorkerThread { [self] in
            RealtimeSetup.nameThread("spikeloop-ctl")
            do { try serveControl(bound: controlBound) } catch ZMQError.terminated {} catch {
                if !controlBound.fail("\(error)") { log("error: the control server stopped: \(error)") }
            }
        })
        if let failure = controlBound.wait() {
            stop()
            throw DaemonError(description: failure)
        }
        threads.append(WorkerThread { [self] in
            RealtimeSetup.nameThread("spikeloop-stats")
            report()
        })
        ready.store(true, ordering: .releasing)
    }

    private func bindSecure(_ socket: borrowing ZMQSocket, _ endpoint: String) throws {
        try socket.bind(endpoint, security: try Self.security(config.endpoints), insecure: config.endpoints.insecure)
    }

    /// CURVE with the daemon's key pair when one is configured, else none.
    private static func security(_ endpoints: ControllerConfiguration.Endpoints) throws -> WireSecurity {
        guard let file = endpoints.curveSecretKeyFile else { return .none }
        return .curveServer(try CurveKeyPair.load(secretKeyFile: file))
    }

    /// Asks every thread to stop and waits for them.
    public func stop() {
        let ran = !threads.isEmpty && ready.load(ordering: .acquiring)
        shared.requestStop()
        // A lockstep loop waiting for a frame may have missed the first signal.
        _ = shared.wakeup.wait(timeout: .max) { !loopRunning.load(ordering: .acquiring) }
        for t in threads { t.join() }
        threads.removeAll()
        stopRecording()
        stream.stop()
        if ran { weights.saveAtShutdown() }  // the loop thread has ended: the network is ours again
        authenticator?.stop()
        context.shutdown()
        totals.withLock { statistics.drainAfterLoopEnded(into: &$0) }
    }

    /// The loop's timing distributions since start (complete once stopped).
    public var totalHistograms: TickHistograms { totals.withLock { $0 } }

    /// Logs `line` unless the configured level filters it out.
    public func log(_ line: String) {
        let level = LogLevel(line: line)
        if level >= LogLevel.allCases[logLevel.load(ordering: .relaxed)] { sink(line) }
        stream?.logged(line, level: level)
    }

    // MARK: - Recording

    /// Starts recording a session to `path` (or the configured file, or
    /// `session-….mcap` in the working directory); see ``SessionStream``.
    /// A recording never replaces a file: an operator's configured or given
    /// name that exists gets a number (`name-1.mcap`, …). A path from the
    /// control channel (`remote`) must lie in the recording directory and
    /// must not exist. Returns the file's path.
    @discardableResult
    public func startRecording(path: String?, remote: Bool = false) throws -> String {
        try recordingSerial.withLock { _ in
            if let running = recording.withLock({ $0?.path }) {
                throw DaemonError(description: "already recording to \(running); stop that recording first")
            }
            var file: String
            if remote, let path {
                file = try Self.confined(path, to: recordingDirectory)
                if access(file, F_OK) == 0 {
                    throw DaemonError(description: "\(file) exists; recordings never replace a file, give a new name")
                }
            } else {
                file = Self.freePath(Self.sessionPath(path ?? config.recording.file ?? ""))
            }
            let session: RecordingFile
            do {
                session = try stream.startRecording(to: file, configuration: current.withLock { $0 }, weights: weightsForRecording())
            } catch {
                throw DaemonError(description: "cannot record to \(file): \(error)")
            }
            recording.withLock { $0 = session }
            log("recording: \(file) (from the next tick)")
            return file
        }
    }

    /// Stops the running recording and closes its file; nil when none ran.
    @discardableResult
    public func stopRecording() -> String? {
        recordingSerial.withLock { _ in
            guard let session = recording.withLock({ $0 }) else { return nil }
            let summary = stream.stopRecording(finalWeights: weightsForRecording())
            recording.withLock { $0 = nil }
            operatorRecording.store(false, ordering: .relaxed)
            log(summary)
            return session.path
        }
    }

    /// The weights snapshot stored in recordings (docs/weights.md).
    private func weightsForRecording() -> [UInt8]? { weights.snapshotBytes(loopRunning: loopRunning.load(ordering: .acquiring)) }

    /// Where recordings asked for over the control channel go:
    /// `$LOGS_DIRECTORY` under systemd, else the configuration file's directory.
    var recordingDirectory: String {
        if let logs = getenv("LOGS_DIRECTORY").map({ String(cString: $0) }), !logs.isEmpty {
            return logs.split(separator: ":").first.map(String.init)!
        }
        guard let slash = config.file.lastIndex(of: "/") else {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            return getcwd(&buffer, buffer.count).map { String(cString: $0) } ?? "."
        }
        let directory = String(config.file[..<slash])
        return directory.isEmpty ? "/" : directory
    }

    /// `requested` as a path inside `directory` (relative ones are taken
    /// from there), or why it is not: no `..`, and an absolute path must
    /// lie in `directory` once symbolic links are resolved.
    static func confined(_ requested: String, to directory: String) throws -> String {
        if requested.split(separator: "/").contains("..") {
            throw DaemonError(description: "\(requested): a recording path may not contain '..'; give a name inside the recording directory \(directory)")
        }
        let path = requested.hasPrefix("/") ? requested : directory + "/" + requested
        let parent = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        guard let realParent = realpath(parent.isEmpty ? "/" : parent, nil), let realDirectory = realpath(directory, nil) else {
            throw DaemonError(description: "\(requested): its directory does not exist; recordings go into \(directory)")
        }
        defer { free(realParent); free(realDirectory) }
        let p = String(cString: realParent), d = String(cString: realDirectory)
        guard p == d || p.hasPrefix(d.hasSuffix("/") ? d : d + "/") else {
            throw DaemonError(description: "\(requested) is outside the recording directory \(directory); the control channel may only record there")
        }
        return p + "/" + String(path[path.index(after: path.lastIndex(of: "/")!)...])
    }

    /// `path`, or the first of `name-1.ext`, `name-2.ext`, … that does not exist.
    static func freePath(_ path: String) -> String {
        guard access(path, F_OK) == 0 else { return path }
        let slash = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        let dot = path[slash...].lastIndex(of: ".") ?? path.endIndex
        for n in 1... {
            let candidate = String(path[..<dot]) + "-\(n)" + String(path[dot...])
            if access(candidate, F_OK) != 0 { return candidate }
        }
        return path
    }

    /// A session file path: a directory (or "" / a path ending in "/") gets
    /// `session-YYYYMMDD-HHMMSS.mcap`; relative paths go to `$LOGS_DIRECTORY`
    /// when systemd set it.
    static func sessionPath(_ requested: String) -> String {
        var path = requested
        if !path.hasPrefix("/"), let logs = getenv("LOGS_DIRECTORY").map({ String(cString: $0) }), !logs.isEmpty {
            path = logs.split(separator: ":").first.map(String.init)! + "/" + path
        }
        var info = stat()
        if path.isEmpty || path.hasSuffix("/") || (stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR) {
            var now = time(nil)
            var parts = tm()
            gmtime_r(&now, &parts)
            var name = [CChar](repeating: 0, count: 64)
            strftime(&name, name.count, "session-%Y%m%d-%H%M%S.mcap", &parts)
            let base = path.isEmpty ? "" : (path.hasSuffix("/") ? path : path + "/")
            path = base + String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return path
    }

    /// Blocks until the loop ends (shutdown request, `maxTicks`, or an error),
    /// reloading on SIGHUP. `reloading` wraps each reload (service:
    /// RELOADING=1 … READY=1); `stopping` runs before the threads are joined
    /// (service: STOPPING=1).
    public func waitUntilStopped(signals: Bool, reloading: (() -> Void) -> Void = { $0() }, stopping: () -> Void = {}) {
        while !shared.stopRequested.load(ordering: .acquiring) {
            if signals, let s = SignalWaiter.wait(milliseconds: 100) {
                if s == SIGHUP {
                    log("received SIGHUP: reloading \(config.file)")
                    reloading { _ = reload() }
                    continue
                }
                log("received \(s == SIGTERM ? "SIGTERM" : s == SIGINT ? "SIGINT" : "signal \(s)"); stopping: motors to their safe values")
                break
            } else if !signals {
                usleep(50_000)
            }
        }
        stopping()
        stop()
    }

    // MARK: - Reload

    private let reloadSerial = Mutex(())

    /// Re-reads the configuration file (SIGHUP, control `reload`). Safe
    /// changes (watchdog, safety limits, decoder mappings, logging,
    /// recording) reach the loop between two ticks; if anything needs a
    /// restart (network, encoders, endpoints, tick rate, dt, mode, robot
    /// layout) the whole reload is refused and the running configuration stays.
    /// Returns the outcome as logged; `ok` false when refused.
    @discardableResult
    public func reload() -> (ok: Bool, message: String) {
        reloadSerial.withLock { _ in
            let outcome = reloadNow()
            if !outcome.ok { reloadsRefused.add(1, ordering: .relaxed) }
            log(outcome.ok ? outcome.message : "warning: \(outcome.message)")
            return outcome
        }
    }

    /// A reload that turns recording on or off (or moves it) starts or stops
    /// it, unless an operator started the running one.
    private func applyRecordingChange(from old: ControllerConfiguration.Recording, to new: ControllerConfiguration.Recording) {
        guard old.enabled != new.enabled || old.file != new.file else { return }
        if operatorRecording.load(ordering: .relaxed) && recording.withLock({ $0 != nil }) {
            log("reload: the recording an operator started goes on (stop it with stop-recording)")
            return
        }
        stopRecording()
        if new.enabled {
            do { try startRecording(path: new.file) } catch { log("warning: \(error)") }
        }
    }

    private func reloadNow() -> (ok: Bool, message: String) {
        let new: ControllerConfiguration
        do { new = try ControllerConfiguration.load(path: config.file) } catch {
            return (false, "reload refused, the running configuration stays: \(error)")
        }
        let old = current.withLock { $0 }
        var needRestart = old.restartChanges(to: new)
        if needRestart.isEmpty { needRestart = loop.controller.retuneProblems(old.decoders(orderedLike: new)) }
        guard needRestart.isEmpty else {
            return (false, "reload refused, the running configuration stays; these changes need a restart: \(needRestart.joined(separator: "; "))")
        }
        let changes = old.safeChanges(to: new)
        guard !changes.isEmpty else { return (true, "reload: \(config.file) has no changes") }
        let update = ConfigurationUpdate(safetyMotors: new.robot.safetyMotors, watchdogTimeout: new.loop.watchdogTimeout,
                                         autoResume: new.loop.autoResume, decoders: old.decoders(orderedLike: new),
                                         learningRate: new.learningRate)
        let generation = shared.configGeneration.load(ordering: .acquiring)
        while !shared.updates.post(update) { usleep(1000) }
        logLevel.store(LogLevel.allCases.firstIndex(of: new.log.level)!, ordering: .relaxed)
        statusInterval.store(new.log.statusInterval, ordering: .relaxed)
        current.withLock { $0 = new }
        applyRecordingChange(from: old.recording, to: new.recording)
        // The loop takes it at its next tick boundary (lockstep: also while
        // waiting for frames, when woken).
        _ = shared.wakeup.wait(timeout: 2_000_000_000) { shared.configGeneration.load(ordering: .acquiring) != generation }
        _ = shared.updates.collect()
        let applied = shared.configGeneration.load(ordering: .acquiring) != generation
        if applied {
            // Replay follows it: the new files, from the command it shaped on.
            let from = shared.reloadedAtCommand.load(ordering: .relaxed)
            stream.reloaded(fromCommand: from, configuration: new)
        }
        let when = applied ? "applied before tick \(shared.reloadedAfterTick.load(ordering: .relaxed) + 1)" : "posted; the loop applies it at its next tick"
        return (true, "reload: \(when): \(changes.joined(separator: "; "))")
    }

    // MARK: - Control channel

    private func serveControl(bound: StartupSignal) throws {
        let socket = try ZMQSocket(context, .rep)
        try socket.setReceiveTimeout(milliseconds: 100)
        // Up to this size a request is read and answered (an error when it
        // does not fit the buffer); a larger one makes libzmq drop the peer.
        try socket.setMaxMessageSize(Int64(Self.messageSizeLimit))
        let endpoint = config.endpoints.control
        if endpoint.hasPrefix("ipc://") {
            // Readable and writable by the service's user and group only.
            let old = umask(0o007)
            defer { umask(old) }
            try bindSecure(socket, endpoint)
        } else {
            try bindSecure(socket, endpoint)
        }
        bound.succeeded()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        while !shared.stopRequested.load(ordering: .relaxed) {
            guard let received = try socket.receive(into: buffer, .wait) else { continue }
            if received.more { try socket.discardRemainingParts() }
            var reply = Spikeloop_V1_ControlReply()
            reply.protocolVersion = wireProtocolVersion
            let bytes = Array(UnsafeRawBufferPointer(rebasing: buffer[0..<min(received.byteCount, buffer.count)]))
            switch Self.controlRequest(bytes, truncated: received.truncated || received.more, size: received.byteCount) {
            case let .success(request):
                reply.requestID = request.requestID
                handle(request, &reply)
            case let .failure(problem):
                reply.ok = false
                reply.error = problem.description
            }
            reply.state = wireState
            reply.stats = loopStats()
            _ = try socket.send(Array(try reply.serializedBytes() as [UInt8]), .wait)
        }
    }

    /// The largest message any socket of the daemon reads; larger ones make
    /// libzmq close the sender's connection (nothing is buffered).
    public static let messageSizeLimit = 1 << 20

    /// A control request from `bytes`, strictly: a message of another type
    /// (a SensorFrame, a Hello) shares field numbers with ControlRequest, so
    /// a field it does not have, or one with the wrong wire type, refuses it.
    static func controlRequest(_ bytes: [UInt8], truncated: Bool, size: Int) -> Result<Spikeloop_V1_ControlRequest, DaemonError> {
        if truncated {
            return .failure(DaemonError(description: "request of \(size) bytes is too large (at most 65536): not a spikeloop.v1 ControlRequest"))
        }
        guard let request = try? Spikeloop_V1_ControlRequest(serializedBytes: bytes) else {
            return .failure(DaemonError(description: "not a spikeloop.v1 ControlRequest (not parseable)"))
        }
        guard request.unknownFields.data.isEmpty else {
            return .failure(DaemonError(description: "not a spikeloop.v1 ControlRequest: it has fields a ControlRequest does not have (a SensorFrame or Hello sent to the control endpoint?)"))
        }
        guard request.command != .unspecified else {
            return .failure(DaemonError(description: "not a spikeloop.v1 ControlRequest: command is missing"))
        }
        return .success(request)
    }

    /// Hands an operator's change to learning to the loop and waits (up to
    /// 2 s, as a reload) until the loop takes it at a tick boundary; returns
    /// the network step it applies from, which the recording notes.
    private func changeLearning(_ post: () -> Void) -> Int64 {
        let before = shared.learningChanges.load(ordering: .acquiring)
        post()
        _ = shared.wakeup.wait(timeout: 2_000_000_000) { shared.learningChanges.load(ordering: .acquiring) != before }
        return shared.learningChangedAtStep.load(ordering: .acquiring)
    }

    private func handle(_ request: Spikeloop_V1_ControlRequest, _ reply: inout Spikeloop_V1_ControlReply) {
        reply.ok = true
        guard request.protocolVersion == wireProtocolVersion else {
            reply.ok = false
            reply.error = "protocol_version \(request.protocolVersion) is not supported; this daemon speaks \(wireProtocolVersion)"
            return
        }
        switch request.command {
        case .status: break
        case .pause: shared.request(.pause); log("control: pause")
        case .resume:
            let holding = shared.reasons.subtracting([.request, .awaitingResume, .startup])
            if !holding.isEmpty {
                reply.ok = false
                reply.error = "cannot resume while \(holding.names.joined(separator: ", ")) holds; motors stay safe"
            } else {
                shared.request(.resume)
                log("control: resume")
            }
        case .reset: shared.request(.reset); log("control: reset (network back to its initial state)")
        case .safeStop: shared.request(.safeStop); log("control: safe stop")
        case .setReward:
            if request.reward.isFinite && abs(request.reward) <= maximumRewardMagnitude {
                let step = changeLearning { shared.setReward(request.reward) }
                stream.event("reward", "reward=\(request.reward) every tick from step \(step) until a frame carries a reward", atStep: step)
                log("control: reward \(request.reward)")
            } else {
                reply.ok = false
                reply.error = "reward \(request.reward) refused: a reward is finite and within ±\(maximumRewardMagnitude)"
            }
        case .setLearningRate:
            if request.learningRate.isFinite && request.learningRate >= 0 && request.learningRate <= 100 {
                let step = changeLearning { shared.setLearningRate(request.learningRate) }
                stream.event("learning_rate", "learning_rate=\(request.learningRate) from step \(step)", atStep: step)
                log("control: learning rate \(request.learningRate)\(request.learningRate == 0 ? " (weights frozen)" : "")")
            } else {
                reply.ok = false
                reply.error = "learning rate \(request.learningRate) refused: it is a number from 0 (weights frozen) to 100; 1 learns as the network file writes"
            }
        case .shutdown:
            log("control: shutdown")
            shared.requestStop()
        case .reload:
            log("control: reload")
            let outcome = reload()
            if !outcome.ok {
                reply.ok = false
                reply.error = outcome.message
            }
        case .startRecording:
            do {
                reply.message = "recording to " + (try startRecording(path: request.path.isEmpty ? nil : request.path, remote: true))
                operatorRecording.store(true, ordering: .relaxed)
            } catch {
                reply.ok = false
                reply.error = "\(error)"
            }
        case .stopRecording:
            if let path = stopRecording() { reply.message = "closed \(path)" } else {
                reply.ok = false
                reply.error = "not recording"
            }
        case .saveWeights:
            if let problem = weights.save(to: request.path) { reply.ok = false; reply.error = problem }
        case .loadWeights:
            if let problem = weights.load(from: request.path) { reply.ok = false; reply.error = problem }
        default:
            reply.ok = false
            reply.error = "unknown command \(request.command.rawValue); valid: status, pause, resume, reset, safe_stop, set_reward, save_weights, load_weights, start_recording, stop_recording, reload, shutdown, set_learning_rate"
        }
    }

    private var wireState: Spikeloop_V1_LoopState {
        switch shared.state {
        case .waiting: .waiting
        case .running: .running
        case .paused: .paused
        case .safeStop: .safeStop
        case .stopping: .stopping
        }
    }

    /// Loop statistics as they stand (control replies, telemetry, logs).
    public func loopStats() -> Spikeloop_V1_LoopStats {
        var s = Spikeloop_V1_LoopStats()
        s.ticks = UInt64(shared.ticks.load(ordering: .relaxed))
        s.overruns = UInt64(shared.overruns.load(ordering: .relaxed))
        s.tickHz = config.loop.tickRate
        s.framesAccepted = UInt64(loop.validator.counters.accepted)
        var r = Spikeloop_V1_RejectionCounts()
        let c = loop.validator.counters
        r.malformed = c.count(.malformed)
        r.empty = c.count(.empty)
        r.oversized = c.count(.oversized)
        r.wrongVersion = c.count(.wrongVersion)
        r.wrongLayout = c.count(.wrongLayout)
        r.wrongValueCount = c.count(.wrongValueCount)
        r.nonFinite = c.count(.nonFinite)
        r.outOfRange = c.count(.outOfRange)
        s.rejected = r
        s.staleTicks = UInt64(shared.staleTicks.load(ordering: .relaxed))
        s.simStep = UInt64(shared.simStep.load(ordering: .relaxed))
        s.timeNs = clock.now()
        s.mode = config.loop.mode.rawValue
        s.safeReasons = shared.reasons.names
        s.weightsPath = weightsPath ?? ""
        s.weightsSaved = UInt64(weightsSaved)
        s.configGeneration = UInt64(shared.configGeneration.load(ordering: .relaxed))
        s.reloadsRefused = UInt64(reloadsRefused.load(ordering: .relaxed))
        s.watchdogTimeoutNs = shared.watchdogTimeout.load(ordering: .relaxed)
        s.recorderDropped = UInt64(loop.recordsDropped)
        s.curveClientsRefused = UInt64(authenticator?.refused ?? 0)
        s.repliesCopied = UInt64(loop.repliesCopied)
        s.learningRate = loop.controller.network.plasticSynapseCount > 0
            ? Float(bitPattern: shared.learningRate.load(ordering: .relaxed)) : -1
        recording.withLock { r in
            s.recordingPath = r?.path ?? ""
            s.recorderWritten = UInt64(r?.written.load(ordering: .relaxed) ?? 0)
        }
        totals.withLock { totals in
            func ns(_ h: Histogram<UInt64>, _ p: Double) -> Int64 { h.totalCount == 0 ? 0 : Int64(h.valueAtPercentile(p)) }
            s.tickNsP50 = ns(totals.compute, 50)
            s.tickNsP99 = ns(totals.compute, 99)
            s.tickNsMax = totals.compute.totalCount == 0 ? 0 : Int64(totals.compute.max)
            s.latenessNsP99 = ns(totals.lateness, 99)
            s.latencyNsP50 = ns(totals.latency, 50)
            s.latencyNsP99 = ns(totals.latency, 99)
            s.frameAgeNsP99 = ns(totals.frameAge, 99)
        }
        return s
    }

    // MARK: - Statistics reporter

    /// Collects the loop's histograms every 200 ms and logs one line every
    /// `logInterval` seconds, plus a line whenever the safe state changes.
    private func report() {
        let rejections = RejectionLog(counters: loop.validator.counters, source: "frames \(config.endpoints.frames)",
                                      channelNames: config.robot.sensors.map(\.name), ranges: loop.layout.sensorRanges,
                                      emit: { [self] in log($0) })
        var nextLog = clock.now() + statusInterval.load(ordering: .relaxed)
        var lastReasons = shared.reasons
        // Histograms are merged once a second into one reused buffer: each
        // merge walks about a megabyte, which on one shared core shows up in
        // the loop's own round trip.
        var collected = TickHistograms()
        var nextCollect = clock.now()
        // A learning session stores its weights now and then (docs/weights.md).
        let learns = loop.controller.network.plasticSynapseCount > 0
        var nextWeights = clock.now() + config.recording.weightsInterval
        while !shared.stopRequested.load(ordering: .relaxed) {
            clock.sleep(until: clock.now() + 200_000_000)
            let now = clock.now()
            if now >= nextCollect || now >= nextLog {
                nextCollect = clock.now() + 1_000_000_000
                if statistics.collect(into: &collected, timeout: 50_000_000, wakeup: shared.wakeup) {
                    totals.withLock { $0.add(collected) }
                    collected.reset()
                }
            }
            rejections.poll(nowNs: clock.now())
            let reasons = shared.reasons
            if reasons != lastReasons {
                log(reasons.isEmpty ? "safety: running, motors follow the controller"
                    : "safety: motors held at their safe values (\(reasons.names.joined(separator: ", ")))")
                lastReasons = reasons
            }
            if clock.now() >= nextLog {
                nextLog = max(nextLog + statusInterval.load(ordering: .relaxed), clock.now())
                log(statusLine())
            }
            if learns && clock.now() >= nextWeights {
                nextWeights = max(nextWeights + config.recording.weightsInterval, clock.now())
                if recording.withLock({ $0 != nil }), let bytes = weightsForRecording() {
                    stream.weightsSnapshot(bytes, atStep: shared.simStep.load(ordering: .relaxed))
                }
            }
        }
        rejections.poll(nowNs: .max)
    }

    /// One line: mode, tick rate, ticks, overruns, compute and latency, safe state.
    public func statusLine() -> String {
        let s = loopStats()
        func us(_ ns: Int64) -> String { String((Double(ns) / 100).rounded() / 10) }
        return "loop: \(s.mode) \(Int(s.tickHz)) Hz, \(shared.state.name), ticks \(s.ticks), overruns \(s.overruns), "
            + "tick p50 \(us(s.tickNsP50)) µs p99 \(us(s.tickNsP99)) µs, latency p99 \(us(s.latencyNsP99)) µs, "
            + "lateness p99 \(us(s.latenessNsP99)) µs, frames \(s.framesAccepted) accepted \(loop.validator.counters.totalRejected) rejected"
            + (s.safeReasons.isEmpty ? "" : ", safe: \(s.safeReasons.joined(separator: ", "))")
    }
}

/// Waits for SIGINT/SIGTERM (stop) and SIGHUP (reload) synchronously. They are blocked in every thread
/// (call `blockTerminationSignals()` before starting any), so only `wait` sees them.
public enum SignalWaiter {
    public static func blockTerminationSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGHUP)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    public static func wait(milliseconds: Int) -> Int32? {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGHUP)
        var timeout = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        let s = sigtimedwait(&set, nil, &timeout)
        return s > 0 ? s : nil
    }
}

/// A daemon that could not start: what failed, e.g. an endpoint already in use.
public struct DaemonError: Error, CustomStringConvertible {
    public let description: String
}

/// One thread tells another that its sockets are bound, or why not.
final class StartupSignal: Sendable {
    private let state = Atomic<Int>(0)  // 0 pending, 1 bound, 2 failed
    private let failure = Mutex<String?>(nil)

    func succeeded() { state.store(1, ordering: .releasing) }

    /// Records a failure before binding finished; false if it came later.
    func fail(_ message: String) -> Bool {
        guard state.load(ordering: .acquiring) == 0 else { return false }
        failure.withLock { $0 = message }
        state.store(2, ordering: .releasing)
        return true
    }

    /// Waits for the outcome: nil when bound, else the failure.
    func wait() -> String? {
        while state.load(ordering: .acquiring) == 0 { usleep(1000) }
        return state.load(ordering: .acquiring) == 2 ? failure.withLock { $0 } : nil
    }
}
