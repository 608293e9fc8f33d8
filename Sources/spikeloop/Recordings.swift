import ArgumentParser
import Foundation
import Recording

struct Recover: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite a recording cut short (SIGKILL, power loss) into a valid, indexed MCAP file.",
        discussion: """
        Keeps every schema, channel, metadata record, attachment and message up to the last \
        complete chunk whose CRC matches, and writes the summary and footer a finished \
        recording has. The input is not changed.
        """
    )

    @Argument(help: "The damaged recording.")
    var input: String

    @Argument(help: "Where to write the recovered file (default: INPUT with .recovered.mcap).")
    var output: String?

    func run() throws {
        let out = output ?? (input.hasSuffix(".mcap") ? String(input.dropLast(5)) : input) + ".recovered.mcap"
        do {
            let report = try MCAPRecovery.recover(input: input, output: out)
            print(report.description)
            print("written to \(out)")
        } catch {
            throw CommandError("cannot recover \(input): \(error)")
        }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise a recording: duration, channels, message counts, drops, loop statistics, metadata, attachments.",
        discussion: """
        Reads every message once (a recording without a summary, cut short, is scanned up to its \
        last complete chunk). --csv DIR also writes sensors.csv, motors.csv, spikes.csv, \
        probes.csv and events.csv (docs/recording.md).
        """
    )

    @Argument(help: "The recording (MCAP).")
    var file: String

    @Option(name: .customLong("csv"), help: ArgumentHelp("Export the session as CSV files into this directory.", valueName: "dir"))
    var csvDirectory: String?

    func run() throws {
        let csv = try csvDirectory.map { try SessionCSV(directory: $0) }
        do {
            let reader = try MCAPReader(path: file)
            let header = try reader.header()
            let summary = try reader.summary()
            let digest = SessionDigest(csv: csv)
            try digest.read(reader, startTime: summary?.statistics.flatMap { $0.messageCount > 0 ? $0.messageStartTime : nil })
            print("file         \(file) (\(reader.size) bytes)")
            print("written by   \(header.library.isEmpty ? "?" : header.library)\(header.profile.isEmpty ? "" : ", profile \(header.profile)")")
            if summary == nil {
                let why = digest.scan?.stoppedBy.map { ": \($0)" } ?? ""
                print("no summary   the recording was cut short\(why); `spikeloop recover` writes an indexed copy")
            }
            printSession(digest, summary: summary)
            if let csv {
                print("csv          \(csv.directory): " + csv.rowCounts.map { "\($0.0) \($0.1) rows" }.joined(separator: ", "))
            }
        } catch let error as CommandError {
            throw error
        } catch {
            throw CommandError("cannot read \(file): \(error)")
        }
    }

    private func printSession(_ d: SessionDigest, summary: MCAPSummary?) {
        let meta = d.metadata["spikeloop"] ?? [:]
        let first = summary?.statistics?.messageStartTime ?? d.firstLogTime ?? 0
        let last = summary?.statistics?.messageEndTime ?? d.lastLogTime
        print(String(format: "duration     %.3f s of messages", d.messages == 0 ? 0 : Double(last &- first) / 1e9))
        let ticks = d.counts.first { d.channels[$0.key]?.topic == SessionSchema.motorsSent.topic }?.value ?? 0
        if let hz = meta["tick_hz"].flatMap(Double.init), hz > 0 {
            print(String(format: "ticks        %d recorded = %.3f s of control at %g Hz", ticks, Double(ticks) / hz, hz) + " (\(meta["mode"] ?? "?"))")
        }
        if !meta.isEmpty {
            print("session      seed \(meta["seed"] ?? "?"), dt \(meta["dt_ms"] ?? "?") ms, robot \(meta["robot"] ?? "?"), version \(meta["software_version"] ?? "?")")
            print("populations  \(meta["populations"] ?? "?")" + (meta["probes", default: ""].isEmpty ? "" : "; probes \(meta["probes"]!)"))
        }
        print("messages     \(d.messages)\(summary == nil ? " in complete chunks" : ""); \(d.metadata.count) metadata, \(d.attachments.count) attachments")
        let width = max(20, d.channels.values.map(\.topic.count).max() ?? 0)
        for (id, channel) in d.channels.sorted(by: { $0.key < $1.key }) {
            let schema = summary?.schemas[channel.schemaID]?.name ?? ""
            print("  \(channel.topic.padding(toLength: width, withPad: " ", startingAt: 0)) \(String(d.counts[id] ?? 0).padding(toLength: 10, withPad: " ", startingAt: 0)) \(schema)")
        }
        for a in d.attachments { print("  attachment \(a.name) (\(a.size) bytes)") }
        let recorderDropped = d.lastStats.map { String($0.recorderDropped) } ?? "?"
        let truncated = d.eventCounts["spikes_truncated"] ?? 0
        print("drops        \(recorderDropped) records dropped by the recorder (last loop statistics); "
            + "\(d.eventCounts["recorder_dropped"] ?? 0) recorder_dropped events (\(d.droppedByEvents) records)"
            + (truncated > 0 ? "; \(truncated) spikes_truncated events" : ""))
        if let s = d.lastStats {
            print(String(format: "loop         %llu ticks, %llu overruns, tick p50 %.1f µs p99 %.1f µs, latency p99 %.1f µs (last loop statistics)",
                         s.ticks, s.overruns, Double(s.tickNsP50) / 1e3, Double(s.tickNsP99) / 1e3, Double(s.latencyNsP99) / 1e3))
        } else {
            print("loop         no loop statistics in the recording")
        }
        if !d.eventCounts.isEmpty {
            print("events       " + d.eventCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
    }
}
