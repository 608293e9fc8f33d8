import Coding
import Synchronization
import Wire

/// How much the daemon logs.
public enum LogLevel: String, Sendable, CaseIterable, Comparable {
    case debug, info, warning, error

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rank < b.rank }

    /// The level of one of the daemon's log lines ("warning: …", "error: …", else info).
    public init(line: String) {
        self = line.hasPrefix("error:") ? .error : line.hasPrefix("warning:") ? .warning : .info
    }
}

/// What a reload may change while the loop runs. Built off the loop thread,
/// applied by the loop between two ticks, so a tick never sees half of it.
struct ConfigurationUpdate {
    var safetyMotors: [SafetyFilter.Motor]
    var watchdogTimeout: Int64
    var autoResume: Bool
    /// One per running decoder, in the controller's decoder order.
    var decoders: [DecoderSpec]
}

/// Hands one value from a non-real-time thread to the loop without locks: the
/// loop only ever swaps in place, so it neither allocates nor frees.
final class LoopMailbox<Value>: @unchecked Sendable {
    private enum State: Int { case empty, posted, applied }
    private let state = Atomic<Int>(State.empty.rawValue)
    private var value: Value?

    /// Posts `v` unless the loop still holds an earlier post; callers
    /// serialise (one poster at a time).
    func post(_ v: Value) -> Bool {
        _ = collect()
        // An earlier post the loop has not taken yet is withdrawn and replaced.
        if state.compareExchange(expected: State.posted.rawValue, desired: State.empty.rawValue, ordering: .acquiringAndReleasing).exchanged {
            value = nil
        }
        guard state.load(ordering: .acquiring) == State.empty.rawValue else { return false }
        value = v
        state.store(State.posted.rawValue, ordering: .releasing)
        return true
    }

    /// Loop side: applies a posted value in place, if there is one.
    @inline(__always)
    func receive(_ apply: (inout Value) -> Void) {
        guard state.load(ordering: .acquiring) == State.posted.rawValue else { return }
        // The poster withdraws only by a compare-exchange from `posted`, so
        // claiming it the same way makes the value ours until we publish `applied`.
        guard state.compareExchange(expected: State.posted.rawValue, desired: -1, ordering: .acquiringAndReleasing).exchanged else { return }
        apply(&value!)
        state.store(State.applied.rawValue, ordering: .releasing)
    }

    /// Poster side: whether the loop has applied the last post (and frees what it handed back).
    func collect() -> Bool {
        guard state.load(ordering: .acquiring) == State.applied.rawValue else { return false }
        value = nil
        state.store(State.empty.rawValue, ordering: .releasing)
        return true
    }
}

extension ControllerConfiguration {
    /// Differences from `self` to `new` that only a restart can apply, one
    /// line each naming the key (empty: a reload can take `new`).
    public func restartChanges(to new: ControllerConfiguration) -> [String] {
        var changes: [String] = []
        func check<T: Equatable>(_ key: String, _ a: T, _ b: T, _ show: (T) -> String) {
            if a != b { changes.append("\(key): \(show(a)) → \(show(b))") }
        }
        func layout(_ r: RobotDescription) -> [String] {
            r.sensors.map { "\($0.name) \($0.unit) [\($0.min), \($0.max)]" } + r.motors.map { "\($0.name) \($0.unit) [\($0.min), \($0.max)]" }
        }
        check("robot", robot.name, new.robot.name) { $0 }
        if layout(robot) != layout(new.robot) { changes.append("robot: channels, units or ranges changed (the wire layout)") }
        // dt is reported as loop.dt below, not as a network change too.
        var newNetwork = new.network
        newNetwork.dt = network.dt
        if network != newNetwork { changes.append("network: populations, projections, parameters or seed changed") }
        if encoders != new.encoders { changes.append("encoders changed") }
        check("loop.mode", loop.mode, new.loop.mode) { $0.rawValue }
        check("loop.tick_rate", loop.tickRate, new.loop.tickRate) { "\($0) Hz" }
        check("loop.dt", network.dt, new.network.dt) { "\($0) ms" }
        check("loop.realtime.priority", loop.realtimePriority, new.loop.realtimePriority) { $0.map { "\($0)" } ?? "none" }
        check("loop.realtime.lock_memory", loop.lockMemory, new.loop.lockMemory) { "\($0)" }
        check("loop.realtime.cpu", loop.cpu, new.loop.cpu) { $0.map { "\($0)" } ?? "any" }
        check("loop.realtime.busy_wait", loop.busyWait, new.loop.busyWait) { "\(Double($0) / 1000) µs" }
        let a = endpoints, b = new.endpoints
        check("endpoints.frames", a.frames, b.frames) { $0 }
        check("endpoints.commands", a.commands, b.commands) { $0 ?? "none" }
        check("endpoints.control", a.control, b.control) { $0 }
        check("endpoints.telemetry", a.telemetry, b.telemetry) { $0 ?? "none" }
        check("endpoints.curve_secret_key", a.curveSecretKeyFile, b.curveSecretKeyFile) { $0 ?? "none" }
        check("endpoints.curve_client_keys", a.curveClientKeys, b.curveClientKeys) { "\($0.count) keys" }
        check("endpoints.insecure", a.insecure, b.insecure) { "\($0)" }
        check("recording.probes", recording.probes, new.recording.probes) { $0.map { "\($0.population).\($0.variable)\($0.neurons)" }.joined(separator: ", ") }
        check("recording.queue_size", recording.queueMegabytes, new.recording.queueMegabytes) { "\($0) MiB" }
        let channels = decoders.map(\.channel), newChannels = new.decoders.map(\.channel)
        if Set(channels) != Set(newChannels) { changes.append("decoders: channels \(channels) → \(newChannels)") }
        return changes
    }

    /// The decoders of `new` in this configuration's decoder order (matched by channel).
    func decoders(orderedLike new: ControllerConfiguration) -> [DecoderSpec] {
        decoders.compactMap { d in new.decoders.first { $0.channel == d.channel } }
    }

    /// What a reload to `new` changes while running, one line each (for the log).
    public func safeChanges(to new: ControllerConfiguration) -> [String] {
        var changes: [String] = []
        func ms(_ ns: Int64) -> String { "\(Double(ns) / 1e6) ms" }
        if loop.watchdogTimeout != new.loop.watchdogTimeout {
            changes.append("loop.watchdog_timeout: \(ms(loop.watchdogTimeout)) → \(ms(new.loop.watchdogTimeout))")
        }
        if loop.autoResume != new.loop.autoResume { changes.append("loop.auto_resume: \(loop.autoResume) → \(new.loop.autoResume)") }
        for (m, n) in zip(robot.motors, new.robot.motors) {
            if m.maxSlewPerSecond != n.maxSlewPerSecond {
                changes.append("robot motor \(m.name) max_slew_per_s: \(m.maxSlewPerSecond.map { "\($0)" } ?? "none") → \(n.maxSlewPerSecond.map { "\($0)" } ?? "none")")
            }
            if m.safe != n.safe { changes.append("robot motor \(m.name) safe: \(m.safe) → \(n.safe)") }
        }
        for (d, n) in zip(decoders, decoders(orderedLike: new)) where d != n {
            changes.append("decoder \(d.channel): mapping parameters changed")
        }
        if log.level != new.log.level { changes.append("log.level: \(log.level.rawValue) → \(new.log.level.rawValue)") }
        if log.statusInterval != new.log.statusInterval {
            changes.append("log.status_interval: \(ms(log.statusInterval)) → \(ms(new.log.statusInterval))")
        }
        if recording.enabled != new.recording.enabled || recording.file != new.recording.file {
            changes.append("recording: \(recording.enabled ? recording.file ?? "on" : "off") → \(new.recording.enabled ? new.recording.file ?? "on" : "off")")
        }
        return changes
    }
}
