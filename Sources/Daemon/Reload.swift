import Coding
import Control
import Wire

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
    public func decoders(orderedLike new: ControllerConfiguration) -> [DecoderSpec] {
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
        if learningRate != new.learningRate { changes.append("learning.rate: \(learningRate) → \(new.learningRate)") }
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
