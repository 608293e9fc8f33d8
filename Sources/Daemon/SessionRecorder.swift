import Control
import NetworkFile
import Neural
import Recording
import SwiftProtobuf
import Synchronization
import Wire
#if canImport(Glibc)
import Glibc
#endif

/// Records one session to an MCAP file on its own thread: it drains the
/// loop's record queue (``SessionTap``) into messages, adds events and loop
/// statistics, and closes a chunk at least once a second, so a killed daemon
/// loses at most the last second (`spikeloop recover`). See docs/recording.md.
public final class SessionRecorder: @unchecked Sendable {
    public let path: String
    private let writer: MCAPWriter
    private let tap: SessionTap
    private let channels: [String: UInt16]
    private var sequences: [UInt16: UInt32] = [:]
    /// CLOCK_REALTIME − CLOCK_MONOTONIC at the start: log times are UTC, ns.
    private let epochOffset: Int64
    /// Lockstep: log times are simulation time, from the recording's start
    /// (UTC) on, one period per tick, so the timeline is as long as the
    /// simulated run; realtime: the daemon's clock, as publish times always are.
    private let simulated: Bool
    private let periodNs: Int64
    private let simulationStart: Int64
    private var ticksWritten: Int64 = 0
    private let stats: @Sendable () -> Spikeloop_V1_LoopStats
    private let pendingEvents = Mutex<[Spikeloop_V1_Event]>([])
    private let stopRequested = Atomic<Bool>(false)
    private var thread: WorkerThread?
    private let layoutHash: UInt64
    private let populationNames: [String]
    private let dtNs: Int64
    private let simStep: @Sendable () -> Int64
    /// Messages written so far.
    public let written = Atomic<Int64>(0)
    private var lastReasons: UInt8 = 0
    private var lastOverruns: Int64 = 0
    private var lastDropped: Int64 = 0
    private var lastTruncated: Int64 = 0
    private var failure: String?
    /// No frame written whose tick is not: a chunk may close here, so that a
    /// chunk, and a file cut after one, holds whole ticks.
    private var betweenTicks = true
    private let initialWeightBytes: [UInt8]?

    /// Opens `path` and writes the session's metadata and attachments.
    /// `weights`: the network's weights at the start, stored for replay.
    init(path: String, config: ControllerConfiguration, tap: SessionTap, layoutHash: UInt64, network: Network,
         weights: [UInt8]?, stats: @escaping @Sendable () -> Spikeloop_V1_LoopStats,
         simStep: @escaping @Sendable () -> Int64) throws {
        self.path = path
        self.tap = tap
        initialWeightBytes = weights
        self.stats = stats
        self.simStep = simStep
        self.layoutHash = layoutHash
        populationNames = network.populationNames
        dtNs = Int64((network.dt * 1e6).rounded())
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let realtime = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
        epochOffset = realtime - monotonicNanoseconds()
        simulated = config.loop.mode == .lockstep
        periodNs = config.loop.periodNanoseconds
        simulationStart = realtime

        var options = MCAPWriterOptions()
        options.profile = SessionSchema.profile
        options.library = "spikeloop \(SoftwareVersion.current)"
        options.syncToDisk = false  // a killed process loses at most the open chunk; power loss is the robot's concern
        options.exclusive = true  // a recording never replaces a file
        options.closesFullChunks = false  // chunks end between ticks (`betweenTicks`)
        writer = try MCAPWriter(path: path, options: options)
        // /probes only when there are probes: a channel without messages
        // would only confuse readers (and MCAP checkers).
        channels = try SessionSchema.addChannels(to: writer,
                                                 topics: SessionSchema.topics.filter { $0 != SessionSchema.probes || !tap.probes.isEmpty })

        let l = config.loop
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count)
        try writer.addMetadata(name: "spikeloop", [
            "software_version": SoftwareVersion.current,
            "configuration": config.file,
            "robot": config.robot.name,
            "robot_file": config.robotFile,
            "seed": String(config.network.seed),
            "mode": l.mode.rawValue,
            "tick_hz": String(l.tickRate),
            "dt_ms": String(config.network.dt),
            "steps_per_tick": String(l.stepsPerTick),
            "layout_hash": String(layoutHash, radix: 16),
            "populations": zip(network.populationNames, 0...).map { "\($0):\(network.size(ofPopulation: $1))" }.joined(separator: ","),
            "probes": tap.probes.map { "\($0.name).\($0.variable)\($0.neurons)" }.joined(separator: ";"),
            "started_utc_ns": String(realtime),
            "host": String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
        ])
        let t = UInt64(realtime)
        for (file, text) in config.sources.map({ (normalizedPath($0.key), $0.value) }).sorted(by: { $0.0 < $1.0 }) {
            try writer.addAttachment(name: file, mediaType: "application/yaml", logTime: t, createTime: t, data: Array(text.utf8))
        }
        if let weights {
            try writer.addAttachment(name: Self.initialWeights, mediaType: "application/x-spikeloop-weights",
                                     logTime: t, createTime: t, data: weights)
        }
    }

    /// Attachment names of the weights snapshots (docs/weights.md).
    public static let initialWeights = "weights/initial.slw"
    public static let finalWeights = "weights/final.slw"

    func start() {
        tap.consumerAlive.store(true, ordering: .releasing)
        thread = WorkerThread { [self] in
            // A loop waiting for room (lockstep) must not wait for a recorder
            // that has stopped draining.
            defer { tap.consumerAlive.store(false, ordering: .releasing) }
            RealtimeSetup.nameThread("spikeloop-rec")
            // The queue absorbs bursts (at 1 kHz, seconds of them). In
            // realtime what the recorder cannot catch up with is dropped and
            // counted, never taken out of the loop's or the robot's CPU time;
            // in lockstep the loop waits for it (nothing is dropped).
            _ = RealtimeSetup.yieldToEveryone()
            run()
        }
    }

    /// Attachments to write on the recorder thread (the writer is its own).
    private let pendingAttachments = Mutex<[(name: String, data: [UInt8], mediaType: String)]>([])

    /// Attachment names of a reload: `reloads/COMMAND/PATH`, the files of the
    /// configuration that shaped the commands from sequence COMMAND on.
    public static let reloadsPrefix = "reloads/"

    /// A reload took effect from command `sequence` (any thread): its files
    /// are stored so that replay applies it where the daemon did.
    public func reloaded(fromCommand sequence: UInt64, configuration: ControllerConfiguration) {
        let files = configuration.sources.map { (name: "\(Self.reloadsPrefix)\(sequence)/\(normalizedPath($0.key))", data: Array($0.value.utf8),
                                                 mediaType: "application/yaml") }
        pendingAttachments.withLock { $0 += files.sorted { $0.name < $1.name } }
        event("reload", "configuration \(normalizedPath(configuration.file)) reloaded; it shapes the commands from sequence \(sequence) on")
    }

    /// Weights taken while the session runs, `weights/step-STEP.slw` (STEP:
    /// the network step they were copied at, within a tick), so that a
    /// learning session shows its progress (docs/weights.md).
    public static let weightsProgressPrefix = "weights/step-"

    /// Queues a weights snapshot taken at about `step` (any thread).
    public func weightsSnapshot(_ bytes: [UInt8], atStep step: Int64) {
        pendingAttachments.withLock {
            $0.append((name: "\(Self.weightsProgressPrefix)\(step).slw", data: bytes, mediaType: "application/x-spikeloop-weights"))
        }
    }

    /// Queues an event (any thread but the loop's).
    /// `atStep`: the network step the event belongs to, when the caller
    /// knows it better than "now" (learning changes: the step they apply from).
    public func event(_ kind: String, _ message: String, severity: Spikeloop_V1_Severity = .info, atStep: Int64? = nil) {
        var e = Spikeloop_V1_Event()
        e.timeNs = monotonicNanoseconds()
        e.simStep = UInt64(max(0, atStep ?? simStep()))
        e.severity = severity
        e.kind = kind
        e.message = message
        pendingEvents.withLock { $0.append(e) }
    }

    /// A daemon log line as an event ("control: pause" → kind "control").
    /// Safe-state changes are left out: the recorder takes them from the
    /// ticks themselves, at the tick they happened (`safe_stop` events).
    func logged(_ line: String, level: LogLevel) {
        let head = line.prefix { $0 != ":" }
        let kind = head.count < line.count && head.count <= 16 && !head.contains(" ") ? String(head) : "log"
        guard kind != "safety" else { return }
        event(kind, line, severity: level == .error ? .error : level == .warning ? .warning : .info)
    }

    private func run() {
        var nextStats = monotonicNanoseconds() + 1_000_000_000
        while !stopRequested.load(ordering: .acquiring) && failure == nil {
            let n = drainOnce()
            let now = monotonicNanoseconds()
            if now >= nextStats {
                nextStats += 1_000_000_000
                write(SessionSchema.loopStats.topic, stats(), at: now)
            }
            if betweenTicks {
                do { _ = try writer.flush(now: UInt64(now)) } catch { failure = "\(error)" }
            }
            if n == 0 { usleep(5000) }
        }
    }

    /// Ends the session once the loop has stopped writing to it: the rest of
    /// the queue, the final statistics, `finalWeights` if they differ from
    /// the initial ones, the summary.
    /// Returns a one-line summary.
    func finish(finalWeights: [UInt8]?, wakeup: LoopWakeup) -> String {
        // The loop lets go at its next tick boundary (lockstep: also while
        // waiting, when woken); a loop that ended already has let go.
        _ = wakeup.wait(timeout: 1_000_000_000) { !tap.active.load(ordering: .acquiring) }
        stopRequested.store(true, ordering: .releasing)
        thread?.join()
        thread = nil
        while drainOnce() > 0 {}
        let now = monotonicNanoseconds()
        write(SessionSchema.loopStats.topic, stats(), at: now)
        flushEvents()
        do {
            if let finalWeights, finalWeights != initialWeightBytes {
                let t = UInt64(now + epochOffset)
                try writer.addAttachment(name: Self.finalWeights, mediaType: "application/x-spikeloop-weights",
                                         logTime: t, createTime: t, data: finalWeights)
            }
            try writer.close()
        } catch { failure = failure ?? "\(error)" }
        let dropped = tap.dropped.load(ordering: .relaxed)
        return "recording: \(path) closed, \(writer.messageCount) messages in \(writer.chunkCount) chunks, "
            + "\(dropped) records dropped (queue full)" + (failure.map { "; error: \($0)" } ?? "")
    }

    // MARK: - Records to messages

    private func drainOnce() -> Int {
        let n = tap.queue.drain { kind, payload in
            switch SessionTap.Kind(rawValue: kind) {
            case .frame: frame(payload)
            case .tick: tick(payload)
            case .start: started(payload)
            case nil: break
            }
        }
        let dropped = tap.dropped.load(ordering: .relaxed)
        if dropped != lastDropped {
            event("recorder_dropped", "\(dropped - lastDropped) records dropped: the recorder queue was full (\(dropped) in this session)", severity: .warning)
            lastDropped = dropped
        }
        let truncated = tap.truncated.load(ordering: .relaxed)
        if truncated != lastTruncated {
            event("spikes_truncated", "\(truncated - lastTruncated) spikes left out: more in one tick than the recorder's buffer holds", severity: .warning)
            lastTruncated = truncated
        }
        flushEvents()
        return n
    }

    private func flushEvents() {
        let events = pendingEvents.withLock { e -> [Spikeloop_V1_Event] in defer { e.removeAll() }; return e }
        for e in events { writeEvent(e) }
        let attachments = pendingAttachments.withLock { a -> [(name: String, data: [UInt8], mediaType: String)] in defer { a.removeAll() }; return a }
        guard failure == nil, !attachments.isEmpty else { return }
        let t = UInt64(monotonicNanoseconds() + epochOffset)
        do {
            for a in attachments { try writer.addAttachment(name: a.name, mediaType: a.mediaType, logTime: t, createTime: t, data: a.data) }
        } catch { failure = "\(error)" }
    }

    /// Events come from the ticks (their tick's time) and from other
    /// threads (queued, written later): stamped no earlier than the last one,
    /// so that /events reads in order; the event's own time is in `time_ns`.
    private var lastEventTime = Int64.min

    private func writeEvent(_ e: Spikeloop_V1_Event) {
        lastEventTime = max(lastEventTime, e.timeNs)
        write(SessionSchema.events.topic, e, at: lastEventTime)
        // The same for Foxglove's Log panel.
        let level: SessionSchema.LogLevel = switch e.severity {
        case .debug: .debug
        case .info: .info
        case .warning: .warning
        case .error: .error
        default: .unknown
        }
        if let channel = channels[SessionSchema.log.topic] {
            write(channel, SessionSchema.foxgloveLog(timestamp: UInt64(max(0, e.timeNs + epochOffset)), level: level,
                                                     message: e.message, name: e.kind), at: lastEventTime)
        }
    }

    private func write(_ topic: String, _ message: some SwiftProtobuf.Message, at time: Int64) {
        guard failure == nil, let channel = channels[topic], let bytes = try? message.serializedBytes() as [UInt8] else { return }
        write(channel, bytes, at: time)
    }

    private func write(_ channel: UInt16, _ bytes: [UInt8], at time: Int64) {
        guard failure == nil else { return }
        let sequence = sequences[channel, default: 0]
        sequences[channel] = sequence &+ 1
        let published = UInt64(max(0, time + epochOffset))
        let logged = simulated ? UInt64(max(0, simulationStart + ticksWritten * periodNs)) : published
        do {
            try bytes.withUnsafeBytes { try writer.write(channel: channel, sequence: sequence, logTime: logged, publishTime: published, data: $0) }
            written.add(1, ordering: .relaxed)
        } catch { failure = "\(error)" }
    }

    private func frame(_ payload: UnsafeRawBufferPointer) {
        var r = RecordReader(payload)
        let time: Int64 = r.get()
        write(channels[SessionSchema.sensors.topic]!, r.bytes(count: payload.count - 8), at: time)
        betweenTicks = false
    }

    private func started(_ payload: UnsafeRawBufferPointer) {
        var r = RecordReader(payload)
        let time: Int64 = r.get()
        let ticks: Int64 = r.get()
        let step: Int64 = r.get()
        var e = Spikeloop_V1_Event()
        e.timeNs = time
        e.simStep = UInt64(step)
        e.severity = .info
        e.kind = "recording_started"
        e.message = ticks == 0 && step == 0 ? "recording from the network's initial state"
            : "recording started after \(ticks) ticks (network step \(step)); replay needs a recording from the initial state"
        writeEvent(e)
    }

    private func tick(_ payload: UnsafeRawBufferPointer) {
        var r = RecordReader(payload)
        let start: Int64 = r.get()
        let simTime: Int64 = r.get()
        let sequence: UInt64 = r.get()
        let sensorSequence: UInt64 = r.get()
        let senderTime: Int64 = r.get()
        let firstStep: Int64 = r.get()
        let overruns: Int64 = r.get()
        let stepCount: UInt32 = r.get()
        let ticked: UInt8 = r.get()
        let safeStop: UInt8 = r.get()
        let reasons: UInt8 = r.get()
        let motors = Int(r.get(UInt32.self))
        let decoded = r.array(Float.self, count: motors)
        let sent = r.array(Float.self, count: motors)

        var command = Spikeloop_V1_MotorCommand()
        command.protocolVersion = wireProtocolVersion
        command.layoutHash = layoutHash
        command.sequence = sequence
        command.sensorSequence = sensorSequence
        command.senderTimeNs = senderTime
        command.simTimeNs = simTime
        command.values = decoded
        write(SessionSchema.motorsDecoded.topic, command, at: start)
        command.values = sent
        command.safeStop = safeStop != 0
        write(SessionSchema.motorsSent.topic, command, at: start)

        let populations = Int(r.get(UInt32.self))
        for _ in 0..<populations {
            let p = Int(r.get(UInt32.self))
            let n = Int(r.get(UInt32.self))
            var batch = Spikeloop_V1_SpikeBatch()
            batch.population = p < populationNames.count ? populationNames[p] : "population \(p)"
            batch.firstStep = UInt64(firstStep)
            batch.stepCount = stepCount
            batch.dtNs = dtNs
            batch.neuron.reserveCapacity(n)
            batch.stepOffset.reserveCapacity(n)
            for _ in 0..<n {
                batch.neuron.append(r.get())
                batch.stepOffset.append(r.get())
            }
            write(SessionSchema.spikes.topic, batch, at: start)
        }
        if ticked != 0 {
            let count = Int(r.get(UInt32.self))
            let values = r.array(Float.self, count: count)
            let steps = Int(stepCount)
            var at = 0
            for probe in tap.probes {
                var m = Spikeloop_V1_StateProbe()
                m.population = probe.name
                m.variable = probe.variable
                m.unit = probe.variable == "u" ? "mV/ms" : "mV"  // Izhikevich's u is in dv/dt's unit
                m.firstStep = UInt64(firstStep)
                m.stepCount = stepCount
                m.dtNs = dtNs
                m.neuron = probe.neurons.map(UInt32.init)
                let width = probe.neurons.count
                let perStep = count / max(1, steps)
                for s in 0..<steps {
                    for k in 0..<width { m.value.append(values[s * perStep + at + k]) }
                }
                at += width
                write(SessionSchema.probes.topic, m, at: start)
            }
        }
        if reasons != lastReasons {
            let names = SafetyFilter.Reasons(rawValue: reasons).names
            event(names.isEmpty ? "safe_stop_cleared" : "safe_stop",
                  names.isEmpty ? "motors follow the controller" : "motors held at their safe values: \(names.joined(separator: ", "))",
                  severity: names.isEmpty ? .info : .warning)
            lastReasons = reasons
        }
        if overruns != lastOverruns {
            event("overrun", "\(overruns - lastOverruns) ticks missed their deadline (\(overruns) since start)", severity: .warning)
            lastOverruns = overruns
        }
        betweenTicks = true
        ticksWritten += 1
        if failure == nil {
            do { try writer.closeChunkIfFull() } catch { failure = "\(error)" }
        }
    }
}

extension TickLoop {
    /// Starts recording this loop's ticks to `path` from its next tick
    /// boundary (docs/recording.md). `configuration`: as loaded (its files
    /// are stored); `weights`: the initial weights file's bytes.
    public func startRecording(to path: String, configuration: ControllerConfiguration, weights: [UInt8]?,
                               stats: @escaping @Sendable () -> Spikeloop_V1_LoopStats = { Spikeloop_V1_LoopStats() }) throws -> SessionRecorder {
        let shared = shared
        let session = try SessionRecorder(path: path, config: configuration, tap: tap, layoutHash: layout.layoutHash,
                                          network: controller.network, weights: weights, stats: stats,
                                          simStep: { shared.simStep.load(ordering: .relaxed) })
        session.start()
        tap.requested.store(true, ordering: .releasing)
        shared.wakeup.signal()
        return session
    }

    /// Stops `session` (from the next tick boundary) and closes its file;
    /// returns a one-line summary.
    public func stopRecording(_ session: SessionRecorder, finalWeights: [UInt8]?) -> String {
        tap.requested.store(false, ordering: .releasing)
        return session.finish(finalWeights: finalWeights, wakeup: shared.wakeup)
    }
}
