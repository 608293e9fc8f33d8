import ArgumentParser
import Control
import Daemon
import Foundation
import Neural
import NetworkFile
import Recording
import SwiftProtobuf
import Wire

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-run a recorded session's controller on its recorded sensor frames.",
        discussion: """
        Rebuilds the controller from the recording alone (the configuration, robot and network \
        files, the seed and the initial weights it stores) and feeds it the recorded frames, tick \
        by tick, offline and as fast as it can. With --verify it compares every decoded motor \
        command and every spike with the recorded ones and reports the first divergence (tick, \
        channel or population, both values), or that they are identical (exit 0; 1 on divergence).

        Ticks are recovered from the decoded commands' sim_time_ns (ticks since the last reset): \
        it advances by one period when the network ran, stays when it did not (paused, no frame \
        yet), and drops to 0 or 1 after a reset. A reset right after the first tick cannot be told \
        from a paused tick. The recording must start from the network's initial state (recording \
        set in the configuration, or `run --record`).
        """
    )

    @Argument(help: "The session recording (MCAP).")
    var file: String

    @Flag(help: "Compare every motor command and spike with the recording.")
    var verify = false

    func run() throws {
        let session = try RecordedSession(path: file)
        let replayer = try SessionReplayer(session)
        let start = Date()
        let outcome = try replayer.run(verify: verify)
        let wall = Date().timeIntervalSince(start)
        let simulated = Double(replayer.ticks) / session.tickHz
        print("replayed     \(replayer.ticks) ticks (\(outcome.resets) resets, \(outcome.reloads) reloads), \(String(format: "%.3f", simulated)) s simulated in "
              + "\(String(format: "%.3f", wall)) s (\(String(format: "%.1f", simulated / max(wall, 1e-9)))× real time)")
        guard verify else { return }
        if let divergence = outcome.divergence {
            print("diverged     \(divergence)")
            throw ExitCode(1)
        }
        print("identical    \(outcome.commands) motor commands (\(outcome.values) values) and \(outcome.spikes) spikes in "
              + "\(outcome.batches) batches equal the recording")
    }
}

/// What replay needs from a recording, checked as it is read.
struct RecordedSession {
    let path: String
    let configuration: ControllerConfiguration
    let initialWeights: WeightSnapshot?
    let tickHz: Double
    /// Reloads in the order they took effect: the first command they shaped
    /// and the configuration they brought.
    let reloads: [(fromCommand: UInt64, configuration: ControllerConfiguration)]
    /// Messages of the replayed topics, in file (= recording) order.
    let messages: [(topic: String, data: [UInt8])]

    init(path: String) throws {
        self.path = path
        let contents: MCAPReader.Contents
        do { contents = try MCAPReader(path: path).readAll(tolerant: false) } catch {
            throw CommandError("\(path): not a readable recording: \(error)")
        }
        guard let meta = contents.metadata.first(where: { $0.name == "spikeloop" })?.metadata,
              let configPath = meta["configuration"] else {
            throw CommandError("\(path): no 'spikeloop' metadata record with the configuration; was it written by `spikeloop run`?")
        }
        // The configuration and the files it names, as they were when recorded.
        var files: [String: [UInt8]] = [:]
        var reloadFiles: [UInt64: [String: [UInt8]]] = [:]
        for a in contents.attachments where a.mediaType == "application/yaml" || a.mediaType == RecordingFile.binaryMediaType {
            if a.name.hasPrefix(RecordingFile.reloadsPrefix) {
                let rest = a.name.dropFirst(RecordingFile.reloadsPrefix.count)
                guard let slash = rest.firstIndex(of: "/"), let from = UInt64(rest[..<slash]) else { continue }
                reloadFiles[from, default: [:]][String(rest[rest.index(after: slash)...])] = a.data
            } else {
                files[a.name] = a.data
            }
        }
        guard files[configPath] != nil else {
            throw CommandError("\(path): the configuration \(configPath) is not attached; replay needs it")
        }
        FileOverlay.install(bytes: files)
        do { configuration = try ControllerConfiguration.load(path: configPath, offline: true) } catch {
            throw CommandError("\(path): the recorded configuration does not load: \(error)")
        }
        var reloads: [(fromCommand: UInt64, configuration: ControllerConfiguration)] = []
        for (from, files) in reloadFiles.sorted(by: { $0.key < $1.key }) {
            FileOverlay.install(bytes: files)
            do { reloads.append((from, try ControllerConfiguration.load(path: configPath, offline: true))) } catch {
                throw CommandError("\(path): the configuration reloaded from command \(from) does not load: \(error)")
            }
        }
        self.reloads = reloads
        if let w = contents.attachments.first(where: { $0.name == RecordingFile.initialWeights }) {
            do { initialWeights = try WeightSnapshot(decoding: w.data, file: "\(path):\(w.name)") } catch {
                throw CommandError("\(error)")
            }
        } else {
            initialWeights = nil
        }
        tickHz = configuration.loop.tickRate
        let wanted: Set<String> = [SessionSchema.sensors.topic, SessionSchema.motorsDecoded.topic, SessionSchema.spikes.topic,
                                   SessionSchema.events.topic]
        let topics = contents.channels.mapValues(\.topic)
        messages = contents.messages.compactMap { m in
            guard let t = topics[m.channelID], wanted.contains(t) else { return nil }
            return (t, m.data)
        }
    }
}

/// Runs the recorded controller over the recorded frames.
final class SessionReplayer: StepTap {
    let session: RecordedSession
    let controller: Controller
    private(set) var ticks = 0
    private let motorNames: [String]
    private let populationNames: [String]
    /// Spikes of the tick being compared, per population: (step offset, neuron), in emission order.
    private var tickSpikes: [[(UInt32, UInt32)]]
    private var tickFirstStep: Int64 = 0
    private var tickNumber = 0
    private var batchesSeen: Set<Int> = []

    struct Outcome {
        var commands = 0, values = 0, spikes = 0, batches = 0, resets = 0, reloads = 0
        var divergence: String?
    }

    init(_ session: RecordedSession) throws {
        self.session = session
        controller = try Controller(session.configuration)
        motorNames = session.configuration.robot.motors.map(\.name)
        populationNames = controller.network.populationNames
        tickSpikes = Array(repeating: [], count: populationNames.count)
        if let snapshot = session.initialWeights {
            do {
                let prepared = try WeightStore.prepare(snapshot, for: controller.network, file: "\(session.path):\(RecordingFile.initialWeights)")
                for p in prepared { controller.network.install(p) }
            } catch { throw CommandError("\(error)") }
        }
        controller.stepTap = self
    }

    enum LearningChange { case reward(Float), learningRate(Float) }

    /// The operator's learning changes of a session (events `reward` and
    /// `learning_rate`, "NAME=VALUE …", at the step they took effect), by step.
    static func learningEvents(in session: RecordedSession) throws -> [(step: Int64, change: LearningChange)] {
        var out: [(step: Int64, change: LearningChange)] = []
        for (topic, data) in session.messages where topic == SessionSchema.events.topic {
            let e = try Spikeloop_V1_Event(serializedBytes: data)
            guard e.kind == "reward" || e.kind == "learning_rate" else { continue }
            let token = e.message.split(separator: " ").first ?? ""
            guard token.hasPrefix("\(e.kind)="), let value = Float(token.dropFirst(e.kind.count + 1)) else {
                throw CommandError("\(session.path): event '\(e.kind)' says '\(e.message)', expected '\(e.kind)=VALUE …'")
            }
            out.append((Int64(e.simStep), e.kind == "reward" ? .reward(value) : .learningRate(value)))
        }
        // Stable: changes at the same step keep the order they were made in.
        return out.enumerated().sorted { ($0.element.step, $0.offset) < ($1.element.step, $1.offset) }.map(\.element)
    }

    func afterStep(_ network: Network, offset: Int) {
        for p in 0..<populationNames.count {
            for i in network.spikes(ofPopulation: p).buffer { tickSpikes[p].append((UInt32(offset), i)) }
        }
    }

    func run(verify: Bool) throws -> Outcome {
        var outcome = Outcome()
        let period = session.configuration.loop.periodNanoseconds
        let sensors = UnsafeMutablePointer<Float>.allocate(capacity: max(1, controller.sensorCount))
        let motors = UnsafeMutablePointer<Float>.allocate(capacity: max(1, controller.motorCount))
        defer { sensors.deallocate(); motors.deallocate() }
        sensors.initialize(repeating: 0, count: max(1, controller.sensorCount))
        motors.initialize(repeating: 0, count: max(1, controller.motorCount))
        var frames: [UInt64: [Float]] = [:]
        var nextReload = 0
        var current = session.configuration
        controller.network.learningRate = current.learningRate
        // Learning as the loop had it: the frames' rewards (summed per tick),
        // an operator's reward signal until a frame carries one, and the
        // operator's learning-rate changes, each from the step it took effect.
        var reward = TickReward()
        let learningEvents = try Self.learningEvents(in: session)
        var nextLearningEvent = 0

        /// Spikes of the last tick that no recorded batch matched.
        func unmatchedSpikes() -> String? {
            for p in 0..<populationNames.count where !tickSpikes[p].isEmpty && !batchesSeen.contains(p) {
                return "tick \(tickNumber), population \(populationNames[p]): recorded no spikes, replayed \(tickSpikes[p].count) "
                    + "(first: neuron \(tickSpikes[p][0].1) at step \(tickFirstStep + Int64(tickSpikes[p][0].0)))"
            }
            return nil
        }

        for (topic, data) in session.messages {
            switch topic {
            case SessionSchema.events.topic:
                let e = try Spikeloop_V1_Event(serializedBytes: data)
                if e.kind == "recording_started" && e.simStep != 0 {
                    throw CommandError("\(session.path): \(e.message)")
                }
            case SessionSchema.sensors.topic:
                let f = try Spikeloop_V1_SensorFrame(serializedBytes: data)
                frames[f.sequence] = f.values
                if f.hasReward { reward.frame(f.reward) }
            case SessionSchema.motorsDecoded.topic:
                if verify, let d = unmatchedSpikes() { outcome.divergence = d; return outcome }
                let c = try Spikeloop_V1_MotorCommand(serializedBytes: data)
                // A reload that took effect here: its decoders from now on, as in the loop.
                while nextReload < session.reloads.count, session.reloads[nextReload].fromCommand <= c.sequence {
                    var decoders = current.decoders(orderedLike: session.reloads[nextReload].configuration)
                    controller.retune(&decoders)
                    current = session.reloads[nextReload].configuration
                    controller.network.learningRate = current.learningRate
                    nextReload += 1
                    outcome.reloads += 1
                }
                let k = Int(c.simTimeNs / period)
                var tick = false
                if k == ticks + 1 {
                    tick = true
                } else if k == ticks {
                } else if k == 0 || k == 1 {
                    controller.reset()
                    ticks = 0
                    outcome.resets += 1
                    tick = k == 1
                } else {
                    throw CommandError("\(session.path): command \(c.sequence) is at tick \(k) after tick \(ticks); "
                                       + "the recording has a gap (records dropped?) and cannot be replayed")
                }
                for p in 0..<tickSpikes.count { tickSpikes[p].removeAll(keepingCapacity: true) }
                batchesSeen.removeAll(keepingCapacity: true)
                tickNumber = k
                if tick {
                    guard let values = frames[c.sensorSequence], values.count == controller.sensorCount else {
                        throw CommandError("\(session.path): tick \(k) used sensor frame \(c.sensorSequence), which is not in the recording")
                    }
                    values.withUnsafeBufferPointer { sensors.update(from: $0.baseAddress!, count: values.count) }
                    tickFirstStep = controller.network.stepIndex
                    while nextLearningEvent < learningEvents.count, learningEvents[nextLearningEvent].step <= tickFirstStep {
                        switch learningEvents[nextLearningEvent].change {
                        case .reward(let r): reward.operatorSignal(r)
                        case .learningRate(let x): controller.network.learningRate = x
                        }
                        nextLearningEvent += 1
                    }
                    if let r = reward.take(), r != 0 { controller.network.reward(Double(r)) }
                    controller.tick(sensors: sensors, motors: motors)
                    ticks += 1
                }
                if !tick { _ = reward.take() }  // as the loop's paused tick: the frames' rewards are used up
                if verify {
                    outcome.commands += 1
                    for i in 0..<min(c.values.count, controller.motorCount) {
                        outcome.values += 1
                        if c.values[i].bitPattern != motors[i].bitPattern {
                            outcome.divergence = "tick \(k) (command \(c.sequence)), motor \(motorNames[i]): recorded \(c.values[i]), replayed \(motors[i])"
                            return outcome
                        }
                    }
                }
            case SessionSchema.spikes.topic:
                guard verify else { continue }
                let b = try Spikeloop_V1_SpikeBatch(serializedBytes: data)
                outcome.batches += 1
                guard let p = populationNames.firstIndex(of: b.population) else {
                    throw CommandError("\(session.path): spikes of population '\(b.population)', which the recorded network does not have")
                }
                batchesSeen.insert(p)
                let replayed = tickSpikes[p]
                if Int64(b.firstStep) != tickFirstStep {
                    outcome.divergence = "tick \(tickNumber), population \(b.population): recorded batch at step \(b.firstStep), replayed tick starts at step \(tickFirstStep)"
                    return outcome
                }
                for j in 0..<max(b.neuron.count, replayed.count) {
                    let rec = j < b.neuron.count ? (b.stepOffset[j], b.neuron[j]) : nil
                    let rep = j < replayed.count ? replayed[j] : nil
                    if rec?.0 != rep?.0 || rec?.1 != rep?.1 {
                        func show(_ s: (UInt32, UInt32)?) -> String { s.map { "neuron \($0.1) at step \(Int64(b.firstStep) + Int64($0.0))" } ?? "none" }
                        outcome.divergence = "tick \(tickNumber), population \(b.population), spike \(j + 1): recorded \(show(rec)), replayed \(show(rep)) "
                            + "(\(b.neuron.count) recorded, \(replayed.count) replayed in this tick)"
                        return outcome
                    }
                }
                outcome.spikes += replayed.count
            default:
                break
            }
        }
        if verify, let d = unmatchedSpikes() { outcome.divergence = d }
        return outcome
    }
}
