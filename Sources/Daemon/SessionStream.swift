import Control
import Foundation
import NetworkFile
import Neural
import Recording
import SwiftProtobuf
import Synchronization
import Wire
#if canImport(Glibc)
import Glibc
#endif

/// The session as messages, on one thread of its own: it drains the loop's
/// record queue (``SessionTap``) into the session's channels, adds events
/// and loop statistics, and hands every message to its sinks: the recording
/// (an MCAP file, while one is open) and the live telemetry stream (a
/// ZeroMQ PUB socket, when configured). Both see the same topics, schemas
/// and log times (docs/recording.md, docs/wire.md "Telemetry").
///
/// A recording starts and ends between two ticks, so that it holds whole
/// ticks, and closes a chunk at least once a second, so that a killed daemon
/// loses at most the last second (`spikeloop recover`).
public final class SessionStream: @unchecked Sendable {
    public let channels: SessionChannels
    private let tap: SessionTap
    private let shared: LoopShared
    private let network: Network
    private let layoutHash: UInt64
    private let populationNames: [String]
    private let dtNs: Int64
    /// CLOCK_REALTIME − CLOCK_MONOTONIC at the start: published times are UTC, ns.
    private let epochOffset: Int64
    private let stats: @Sendable () -> Spikeloop_V1_LoopStats

    // Telemetry: the socket lives on the stream's thread.
    public struct Telemetry: Sendable {
        public var endpoint: String
        public var context: ZMQContext
        public var security: WireSecurity
        public var insecure: Bool

        public init(endpoint: String, context: ZMQContext, security: WireSecurity, insecure: Bool) {
            self.endpoint = endpoint
            self.context = context
            self.security = security
            self.insecure = insecure
        }
    }
    private let telemetry: Telemetry?
    private var live: ZMQSocket?
    private var liveClock: SessionClock
    private let liveTopics: [[UInt8]]
    private let channelsAnnouncement: [UInt8]
    /// Messages published on the telemetry socket so far.
    public let liveMessages = Atomic<Int64>(0)

    // Handed over by other threads.
    private let pendingEvents = Mutex<[Spikeloop_V1_Event]>([])
    private let pendingAttachments = Mutex<[(name: String, data: [UInt8], mediaType: String)]>([])
    private struct Requests {
        var open: RecordingFile?
        var close: [UInt8]??  // .some(weights) once a close is asked for
        var closed: String?
    }
    private let requests = Mutex(Requests())
    private let stopRequested = Atomic<Bool>(false)
    private var thread: WorkerThread?
    private let log: @Sendable (String) -> Void

    // The stream thread's own.
    private var file: RecordingFile?
    /// The open file still owes its `recording_started` event.
    private var fileAwaitsStart = false
    /// No frame seen whose tick is not: a recording may begin or end here.
    private var betweenTicks = true
    /// Where the tap stands: ticks and next network step, from its start record on.
    private var tapStarted = false
    private var tapTicks: Int64 = 0
    private var nextStep: Int64 = 0
    private var lastReasons: UInt8 = 0
    private var lastOverruns: Int64 = 0
    private var lastDropped: Int64 = 0
    private var lastTruncated: Int64 = 0
    private var lastEventTime = Int64.min
    private let frameBuffer: SensorFrameBuffer
    /// Channel indices of the per-tick topics (nil: not in this session).
    private struct Indices {
        var sensors, sensorsNamed, motorsDecoded, motorsSent, motorsNamed, spikes, spikeCounts, probes, probesNamed,
            events, log, loopStats: Int?
    }
    private let ix: Indices

    public init(loop: TickLoop, telemetry: Telemetry?, stats: @escaping @Sendable () -> Spikeloop_V1_LoopStats = { Spikeloop_V1_LoopStats() },
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        tap = loop.tap
        shared = loop.shared
        let config = loop.config
        network = loop.controller.network
        layoutHash = loop.layout.layoutHash
        populationNames = network.populationNames
        dtNs = Int64((network.dt * 1e6).rounded())
        self.telemetry = telemetry
        self.stats = stats
        self.log = log
        channels = SessionChannels(robot: config.robot, network: network, probes: tap.probes)
        liveClock = SessionClock(loop: config.loop)
        epochOffset = liveClock.start - monotonicNanoseconds()
        liveTopics = channels.channels.map { Array($0.topic.utf8) }
        var announcement = Spikeloop_V1_TelemetryChannels()
        announcement.channel = channels.channels.map { c in
            var t = Spikeloop_V1_TelemetryChannel()
            t.topic = c.topic
            t.messageEncoding = SessionSchema.encoding
            t.schemaName = c.schemaName
            t.schemaEncoding = SessionSchema.encoding
            t.schema = Data(c.schema)
            t.metadata = c.metadata
            return t
        }
        channelsAnnouncement = (try? announcement.serializedBytes()) ?? []
        frameBuffer = SensorFrameBuffer(capacity: config.robot.sensors.count)
        let c = channels
        ix = Indices(sensors: c.index(SessionSchema.sensors.topic), sensorsNamed: c.index(SessionChannels.sensorsNamedTopic),
                     motorsDecoded: c.index(SessionSchema.motorsDecoded.topic), motorsSent: c.index(SessionSchema.motorsSent.topic),
                     motorsNamed: c.index(SessionChannels.motorsNamedTopic), spikes: c.index(SessionSchema.spikes.topic),
                     spikeCounts: c.index(SessionChannels.spikeCountsTopic), probes: c.index(SessionSchema.probes.topic),
                     probesNamed: c.index(SessionChannels.probesNamedTopic), events: c.index(SessionSchema.events.topic),
                     log: c.index(SessionSchema.log.topic), loopStats: c.index(SessionSchema.loopStats.topic))
    }

    /// Topic of the telemetry stream's channel list.
    public static let channelsTopic = "@channels"

    // MARK: - Lifecycle

    /// With telemetry: streams from the loop's first tick on. Without, the
    /// thread runs only while a recording is open (none wakes beside a
    /// realtime loop for nothing).
    public func start() {
        guard telemetry != nil else { return }
        tap.requested.store(true, ordering: .releasing)
        shared.wakeup.signal()
        startThread()
    }

    private func startThread() {
        stopRequested.store(false, ordering: .releasing)
        thread = WorkerThread { [self] in
            RealtimeSetup.nameThread("spikeloop-rec")
            // The queue absorbs bursts (at 1 kHz, seconds of them). In
            // realtime what the stream cannot catch up with is dropped and
            // counted, never taken out of the loop's or the robot's CPU time;
            // in lockstep the loop waits for it while a recording is open.
            _ = RealtimeSetup.yieldToEveryone()
            if let telemetry {
                do {
                    let socket = try ZMQSocket(telemetry.context, .pub)
                    try socket.setSendHighWaterMark(100_000)
                    try socket.bind(telemetry.endpoint, security: telemetry.security, insecure: telemetry.insecure)
                    // The session's data is for the service's user and group,
                    // like the control socket (chmod: umask is process-wide).
                    if telemetry.endpoint.hasPrefix("ipc://") { chmod(String(telemetry.endpoint.dropFirst(6)), 0o660) }
                    live = consume socket
                } catch { log("warning: no telemetry on \(telemetry.endpoint): \(error)") }
            }
            run()
            live = nil
        }
    }

    /// Ends the thread (the loop has stopped); a recording still open is closed.
    public func stop() {
        stopThread()
        if file != nil || requests.withLock({ $0.open != nil }) { _ = closeNow(finalWeights: nil) }
    }

    private func stopThread() {
        stopRequested.store(true, ordering: .releasing)
        thread?.join()
        thread = nil
    }

    // MARK: - Recordings

    /// Opens `path` and records into it from the next tick boundary.
    /// `configuration`: as loaded (its files are stored); `weights`: the
    /// initial weights file's bytes.
    public func startRecording(to path: String, configuration: ControllerConfiguration, weights: [UInt8]?) throws -> RecordingFile {
        let file = try RecordingFile(path: path, config: configuration, channels: channels, network: network, layoutHash: layoutHash,
                                     probes: tap.probes, weights: weights)
        requests.withLock { $0 = Requests(open: file) }
        // Lockstep: from now on the loop waits for room rather than drop.
        tap.consumerAlive.store(true, ordering: .releasing)
        tap.requested.store(true, ordering: .releasing)
        shared.wakeup.signal()
        if thread == nil { startThread() }
        return file
    }

    /// Stops the open recording between two ticks and closes its file;
    /// returns a one-line summary.
    public func stopRecording(finalWeights: [UInt8]?) -> String {
        if telemetry == nil {
            // The loop lets go at its next tick boundary (lockstep: also
            // while waiting, when woken); a loop that ended already has.
            tap.requested.store(false, ordering: .releasing)
            _ = shared.wakeup.wait(timeout: 1_000_000_000) { !tap.active.load(ordering: .acquiring) }
        }
        guard thread != nil else { return closeNow(finalWeights: finalWeights) }
        requests.withLock { $0.close = .some(finalWeights) }
        while true {
            if let summary = requests.withLock({ r -> String? in defer { if r.closed != nil { r = Requests() } }; return r.closed }) {
                if telemetry == nil { stopThread() }
                return summary
            }
            usleep(1000)
        }
    }

    /// A reload took effect from command `sequence` (any thread): its files
    /// are stored so that replay applies it where the daemon did.
    public func reloaded(fromCommand sequence: UInt64, configuration: ControllerConfiguration) {
        let files = configuration.sources.map { (name: "\(RecordingFile.reloadsPrefix)\(sequence)/\(normalizedPath($0.key))", data: Array($0.value.utf8),
                                                 mediaType: "application/yaml") }
            + configuration.binarySources.map { (name: "\(RecordingFile.reloadsPrefix)\(sequence)/\(normalizedPath($0.key))", data: $0.value,
                                                 mediaType: RecordingFile.binaryMediaType) }
        pendingAttachments.withLock { $0 += files.sorted { $0.name < $1.name } }
        event("reload", "configuration \(normalizedPath(configuration.file)) reloaded; it shapes the commands from sequence \(sequence) on")
    }

    /// Queues a weights snapshot taken at about `step` (any thread).
    public func weightsSnapshot(_ bytes: [UInt8], atStep step: Int64) {
        pendingAttachments.withLock {
            $0.append((name: "\(RecordingFile.weightsProgressPrefix)\(step).slw", data: bytes, mediaType: "application/x-spikeloop-weights"))
        }
    }

    // MARK: - Events

    /// Queues an event (any thread but the loop's). `atStep`: the network
    /// step the event belongs to, when the caller knows it better than "now"
    /// (learning changes: the step they apply from).
    public func event(_ kind: String, _ message: String, severity: Spikeloop_V1_Severity = .info, atStep: Int64? = nil) {
        var e = Spikeloop_V1_Event()
        e.timeNs = monotonicNanoseconds()
        e.simStep = UInt64(max(0, atStep ?? shared.simStep.load(ordering: .relaxed)))
        e.severity = severity
        e.kind = kind
        e.message = message
        pendingEvents.withLock { $0.append(e) }
    }

    /// A daemon log line as an event ("control: pause" → kind "control").
    /// Safe-state changes are left out: the stream takes them from the
    /// ticks themselves, at the tick they happened (`safe_stop` events).
    public func logged(_ line: String, level: LogLevel) {
        let head = line.prefix { $0 != ":" }
        let kind = head.count < line.count && head.count <= 16 && !head.contains(" ") ? String(head) : "log"
        guard kind != "safety" else { return }
        event(kind, line, severity: level == .error ? .error : level == .warning ? .warning : .info)
    }

    // MARK: - The thread

    private func run() {
        var nextStats = monotonicNanoseconds() + 1_000_000_000
        announceChannels()
        while true {
            let stopping = stopRequested.load(ordering: .acquiring)
            if betweenTicks { openIfAsked() }
            let n = drainOnce()
            let now = monotonicNanoseconds()
            if now >= nextStats {
                nextStats += 1_000_000_000
                emit(ix.loopStats, try? stats().serializedBytes(), at: now)
                announceChannels()
            }
            if betweenTicks {
                file?.flush(now: now)
                if let weights = requests.withLock({ $0.close }) {
                    let summary = closeNow(finalWeights: weights)
                    requests.withLock { $0.closed = summary }
                }
            }
            if stopping && n == 0 { break }
            if n == 0 { usleep(5000) }
        }
    }

    private func openIfAsked() {
        guard file == nil, let opening = requests.withLock({ r -> RecordingFile? in defer { r.open = nil }; return r.open }) else { return }
        file = opening
        opening.droppedBefore = tap.dropped.load(ordering: .relaxed)
        // With telemetry the tap runs already: the file begins here; else
        // it begins with the tap's start record.
        fileAwaitsStart = true
        if telemetry != nil && tapStarted { recordingStarted(ticks: tapTicks, step: nextStep, at: monotonicNanoseconds()) }
    }

    /// Closes the open file (or the one about to open) after the rest of
    /// what is queued for it.
    private func closeNow(finalWeights: [UInt8]?) -> String {
        if file == nil { openIfAsked() }
        guard let closing = file else { return "recording: none open" }
        let now = monotonicNanoseconds()
        flushPending()
        if let bytes = try? stats().serializedBytes() as [UInt8], let c = ix.loopStats {
            closing.write(c, bytes, published: now + epochOffset)
        }
        let dropped = tap.dropped.load(ordering: .relaxed) - closing.droppedBefore
        let summary = closing.close(finalWeights: finalWeights, at: now + epochOffset, dropped: dropped)
        file = nil
        tap.consumerAlive.store(false, ordering: .releasing)
        return summary
    }

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
        flushPending()
        return n
    }

    private func flushPending() {
        let events = pendingEvents.withLock { e -> [Spikeloop_V1_Event] in defer { e.removeAll() }; return e }
        for e in events { writeEvent(e) }
        let attachments = pendingAttachments.withLock { a -> [(name: String, data: [UInt8], mediaType: String)] in defer { a.removeAll() }; return a }
        guard let file, !attachments.isEmpty else { return }
        let t = monotonicNanoseconds() + epochOffset
        for a in attachments { file.attach(name: a.name, mediaType: a.mediaType, data: a.data, at: t) }
    }

    // MARK: - Sinks

    /// Hands a message of channel `channel` to the recording and to
    /// telemetry; `time`: the daemon's monotonic clock.
    private func emit(_ channel: Int?, _ bytes: [UInt8]?, at time: Int64, offsetNs: Int64 = 0) {
        guard let channel, let bytes else { return }
        let published = time + epochOffset
        file?.write(channel, bytes, published: published, offsetNs: offsetNs)
        guard live != nil else { return }
        var logTime = liveClock.logTime(published: published, offsetNs: offsetNs).littleEndian
        do {
            _ = try live!.send(liveTopics[channel], .dontWait, more: true)
            _ = try withUnsafeBytes(of: &logTime) { try live!.send($0, .dontWait, more: true) }
            _ = try live!.send(bytes, .dontWait)
            liveMessages.add(1, ordering: .relaxed)
        } catch {}
    }

    private func announceChannels() {
        guard live != nil else { return }
        _ = try? live!.send(Array(Self.channelsTopic.utf8), .dontWait, more: true)
        _ = try? live!.send(channelsAnnouncement, .dontWait)
    }

    /// Events come from the ticks (their tick's time) and from other
    /// threads (queued, written later): stamped no earlier than the last one,
    /// so that /events reads in order; the event's own time is in `time_ns`.
    private func writeEvent(_ e: Spikeloop_V1_Event) {
        lastEventTime = max(lastEventTime, e.timeNs)
        emit(ix.events, try? e.serializedBytes(), at: lastEventTime)
        // The same for Foxglove's Log panel.
        let level: SessionSchema.LogLevel = switch e.severity {
        case .debug: .debug
        case .info: .info
        case .warning: .warning
        case .error: .error
        default: .unknown
        }
        emit(ix.log, SessionSchema.foxgloveLog(timestamp: UInt64(max(0, e.timeNs + epochOffset)), level: level,
                                                           message: e.message, name: e.kind), at: lastEventTime)
    }

    // MARK: - Records to messages

    private func frame(_ payload: UnsafeRawBufferPointer) {
        var r = RecordReader(payload)
        let time: Int64 = r.get()
        let frame = UnsafeRawBufferPointer(rebasing: payload[8...])
        emit(ix.sensors, Array(frame), at: time)
        if HotCodec.decode(frame, into: frameBuffer) == nil {
            emit(ix.sensorsNamed, channels.sensorsNamed.encode(UnsafeBufferPointer(frameBuffer.valueBuffer)), at: time)
        }
        betweenTicks = false
    }

    private func started(_ payload: UnsafeRawBufferPointer) {
        var r = RecordReader(payload)
        let time: Int64 = r.get()
        tapTicks = r.get()
        nextStep = r.get()
        tapStarted = true
        if fileAwaitsStart { recordingStarted(ticks: tapTicks, step: nextStep, at: time) }
    }

    private func recordingStarted(ticks: Int64, step: Int64, at time: Int64) {
        fileAwaitsStart = false
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
        emit(ix.motorsDecoded, try? command.serializedBytes(), at: start)
        command.values = sent
        command.safeStop = safeStop != 0
        emit(ix.motorsSent, try? command.serializedBytes(), at: start)
        (decoded + sent).withUnsafeBufferPointer { emit(ix.motorsNamed, channels.motorsNamed.encode($0), at: start) }

        let populations = Int(r.get(UInt32.self))
        var counts = [UInt32](repeating: 0, count: populationNames.count)
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
            if p < counts.count { counts[p] = UInt32(n) }
            emit(ix.spikes, try? batch.serializedBytes(), at: start)
        }
        if ticked != 0 {
            emit(ix.spikeCounts, channels.spikeCounts.encode(counts: counts), at: start)
            let count = Int(r.get(UInt32.self))
            let values = r.array(Float.self, count: count)
            probes(values, firstStep: firstStep, stepCount: Int(stepCount), at: start)
            nextStep = firstStep + Int64(stepCount)
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
        tapTicks += 1
        liveClock.ticks += 1
        file?.tickEnded()
    }

    /// One /probes message per probe and tick; one /probes/named message per step.
    private func probes(_ values: [Float], firstStep: Int64, stepCount steps: Int, at start: Int64) {
        guard !tap.probes.isEmpty, steps > 0 else { return }
        let perStep = values.count / steps
        var at = 0
        for probe in tap.probes {
            var m = Spikeloop_V1_StateProbe()
            m.population = probe.name
            m.variable = probe.variable
            m.unit = probe.variable == "u" ? "mV/ms" : "mV"  // Izhikevich's u is in dv/dt's unit
            m.firstStep = UInt64(firstStep)
            m.stepCount = UInt32(steps)
            m.dtNs = dtNs
            m.neuron = probe.neurons.map(UInt32.init)
            let width = probe.neurons.count
            for s in 0..<steps {
                for k in 0..<width { m.value.append(values[s * perStep + at + k]) }
            }
            at += width
            emit(ix.probes, try? m.serializedBytes(), at: start)
        }
        guard let named = channels.probesNamed else { return }
        values.withUnsafeBufferPointer { all in
            for s in 0..<steps {
                let step = UnsafeBufferPointer(rebasing: all[(s * perStep)..<((s + 1) * perStep)])
                emit(ix.probesNamed, named.encode(step), at: start, offsetNs: Int64(s) * dtNs)
            }
        }
    }
}
