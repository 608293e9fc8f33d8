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
        abstract: "Summarise a recording: duration, channels, message counts, metadata, attachments.",
        discussion: "Reads the summary section; a recording without one (cut short) is scanned instead."
    )

    @Argument(help: "The recording (MCAP).")
    var file: String

    func run() throws {
        do {
            let reader = try MCAPReader(path: file)
            let header = try reader.header()
            print("file         \(file) (\(reader.size) bytes)")
            print("written by   \(header.library.isEmpty ? "?" : header.library)\(header.profile.isEmpty ? "" : ", profile \(header.profile)")")
            if let summary = try reader.summary(), let stats = summary.statistics {
                let seconds = Double(stats.messageEndTime &- stats.messageStartTime) / 1e9
                print(String(format: "duration     %.3f s", stats.messageCount == 0 ? 0 : seconds))
                print("messages     \(stats.messageCount) in \(stats.chunkCount) chunks; \(stats.metadataCount) metadata, \(stats.attachmentCount) attachments")
                for (id, channel) in summary.channels.sorted(by: { $0.key < $1.key }) {
                    let schema = summary.schemas[channel.schemaID]?.name ?? "?"
                    print("  \(channel.topic.padding(toLength: 20, withPad: " ", startingAt: 0)) \(String(stats.channelMessageCounts[id] ?? 0).padding(toLength: 10, withPad: " ", startingAt: 0)) \(schema)")
                }
            } else {
                let contents = try reader.readAll(tolerant: true)
                print("no summary (the recording was cut short; `spikeloop recover` writes an indexed copy)")
                var counts: [UInt16: Int] = [:]
                for m in contents.messages { counts[m.channelID, default: 0] += 1 }
                print("messages     \(contents.messages.count) in complete chunks")
                for (id, channel) in contents.channels.sorted(by: { $0.key < $1.key }) {
                    print("  \(channel.topic.padding(toLength: 20, withPad: " ", startingAt: 0)) \(counts[id] ?? 0)")
                }
            }
        } catch {
            throw CommandError("cannot read \(file): \(error)")
        }
    }
}
