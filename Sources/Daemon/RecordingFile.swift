import Control
import NetworkFile
import Neural
import Recording
import Synchronization
import Wire
#if canImport(Glibc)
import Glibc
#endif

/// Log times of a session's messages, ns UTC. Lockstep: simulation time,
/// one period per tick from the session's start, so that a timeline is as
/// long as the simulated run; realtime: the daemon's clock, as publish times
/// always are. A probe's step within its tick adds its offset.
struct SessionClock {
    let simulated: Bool
    let periodNs: Int64
    let start: Int64
    /// Ticks of the session so far.
    var ticks: Int64 = 0

    /// A session of `loop` starting now (`start`: CLOCK_REALTIME, ns).
    init(loop: ControllerConfiguration.Loop) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        simulated = loop.mode == .lockstep
        periodNs = loop.periodNanoseconds
        start = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    func logTime(published: Int64, offsetNs: Int64 = 0) -> UInt64 {
        UInt64(max(0, (simulated ? start + ticks * periodNs : published) + offsetNs))
    }
}

/// One recording: an MCAP file with the session's metadata, configuration
/// files and weights as attachments, and the stream's messages (written by
/// ``SessionStream`` on its thread). See docs/recording.md.
public final class RecordingFile: @unchecked Sendable {
    public let path: String
    /// Messages written so far.
    public let written = Atomic<Int64>(0)
    private let writer: MCAPWriter
    private let channelIDs: [UInt16]
    private var sequences: [UInt32]
    var clock: SessionClock
    private let initialWeights: [UInt8]?
    private(set) var failure: String?
    /// The tap's drop count when this file began (its own drops are the rest).
    var droppedBefore: Int64 = 0

    /// Attachment names of the weights snapshots (docs/weights.md).
    public static let initialWeights = "weights/initial.slw"
    /// Attached files that are not text: the NIR graph a configuration names.
    public static let binaryMediaType = "application/x-hdf5"
    public static let finalWeights = "weights/final.slw"
    /// Weights taken while the session runs, `weights/step-STEP.slw` (STEP:
    /// the network step they were copied at, within a tick), so that a
    /// learning session shows its progress (docs/weights.md).
    public static let weightsProgressPrefix = "weights/step-"
    /// Attachment names of a reload: `reloads/COMMAND/PATH`, the files of the
    /// configuration that shaped the commands from sequence COMMAND on.
    public static let reloadsPrefix = "reloads/"

    /// Opens `path` (never replacing a file) and writes the session's
    /// metadata, channels and attachments. `weights`: the network's weights
    /// at the start, stored for replay.
    init(path: String, config: ControllerConfiguration, channels: SessionChannels, network: Network, layoutHash: UInt64,
         probes: [SessionTap.ResolvedProbe], weights: [UInt8]?) throws {
        self.path = path
        initialWeights = weights
        clock = SessionClock(loop: config.loop)
        let realtime = clock.start

        var options = MCAPWriterOptions()
        options.profile = SessionSchema.profile
        options.library = "spikeloop \(SoftwareVersion.current)"
        options.syncToDisk = false  // a killed process loses at most the open chunk; power loss is the robot's concern
        options.exclusive = true  // a recording never replaces a file
        options.closesFullChunks = false  // chunks end between ticks (SessionStream)
        writer = try MCAPWriter(path: path, options: options)
        channelIDs = try SessionSchema.addChannels(to: writer, channels.channels)
        sequences = Array(repeating: 0, count: channelIDs.count)

        let l = config.loop
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count)
        try writer.addMetadata(name: "spikeloop", [
            "software_version": SoftwareVersion.current,
            "configuration": config.file,
            "robot": config.robot.name,
            "robot_file": config.robotFile,
            "seed": String(config.network.seed),
            "precision": config.network.precision.rawValue,
            "mode": l.mode.rawValue,
            "tick_hz": String(l.tickRate),
            "dt_ms": String(config.network.dt),
            "steps_per_tick": String(l.stepsPerTick),
            "layout_hash": String(layoutHash, radix: 16),
            "populations": zip(network.populationNames, 0...).map { "\($0):\(network.size(ofPopulation: $1))" }.joined(separator: ","),
            "probes": probes.map { "\($0.name).\($0.variable)\($0.neurons)" }.joined(separator: ";"),
            "started_utc_ns": String(realtime),
            "host": String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
        ])
        let t = UInt64(realtime)
        for (file, text) in config.sources.map({ (normalizedPath($0.key), $0.value) }).sorted(by: { $0.0 < $1.0 }) {
            try writer.addAttachment(name: file, mediaType: "application/yaml", logTime: t, createTime: t, data: Array(text.utf8))
        }
        for (file, bytes) in config.binarySources.map({ (normalizedPath($0.key), $0.value) }).sorted(by: { $0.0 < $1.0 }) {
            try writer.addAttachment(name: file, mediaType: Self.binaryMediaType, logTime: t, createTime: t, data: bytes)
        }
        if let weights {
            try writer.addAttachment(name: Self.initialWeights, mediaType: "application/x-spikeloop-weights",
                                     logTime: t, createTime: t, data: weights)
        }
    }

    /// Writes one message of channel `channel` (an index in ``SessionChannels``).
    func write(_ channel: Int, _ bytes: [UInt8], published: Int64, offsetNs: Int64 = 0) {
        guard failure == nil else { return }
        let sequence = sequences[channel]
        sequences[channel] = sequence &+ 1
        do {
            try bytes.withUnsafeBytes {
                try writer.write(channel: channelIDs[channel], sequence: sequence, logTime: clock.logTime(published: published, offsetNs: offsetNs),
                                 publishTime: UInt64(max(0, published)), data: $0)
            }
            written.add(1, ordering: .relaxed)
        } catch { failure = "\(error)" }
    }

    /// A tick's messages are written: a chunk may close here, so that a
    /// chunk, and a file cut after one, holds whole ticks.
    func tickEnded() {
        clock.ticks += 1
        guard failure == nil else { return }
        do { _ = try writer.closeChunkIfFull() } catch { failure = "\(error)" }
    }

    /// Between ticks: closes the open chunk once it is a second old.
    func flush(now: Int64) {
        guard failure == nil else { return }
        do { _ = try writer.flush(now: UInt64(now)) } catch { failure = "\(error)" }
    }

    func attach(name: String, mediaType: String, data: [UInt8], at time: Int64) {
        guard failure == nil else { return }
        do {
            try writer.addAttachment(name: name, mediaType: mediaType, logTime: UInt64(max(0, time)), createTime: UInt64(max(0, time)), data: data)
        } catch { failure = "\(error)" }
    }

    /// Writes `finalWeights` if they differ from the initial ones, closes the
    /// file; returns a one-line summary.
    func close(finalWeights: [UInt8]?, at time: Int64, dropped: Int64) -> String {
        if let finalWeights, finalWeights != initialWeights {
            attach(name: Self.finalWeights, mediaType: "application/x-spikeloop-weights", data: finalWeights, at: time)
        }
        do { try writer.close() } catch { failure = failure ?? "\(error)" }
        return "recording: \(path) closed, \(writer.messageCount) messages in \(writer.chunkCount) chunks, "
            + "\(dropped) records dropped (queue full)" + (failure.map { "; error: \($0)" } ?? "")
    }
}
