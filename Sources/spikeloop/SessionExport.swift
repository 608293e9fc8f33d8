import Control
import Foundation
import Recording
import Wire

/// What `inspect` learns from one pass over a session's messages, and the
/// optional CSV export done in the same pass (a session can be much larger
/// than memory, so nothing is collected per message).
final class SessionDigest {
    var metadata: [String: [String: String]] = [:]
    var attachments: [(name: String, size: Int)] = []
    var channels: [UInt16: MCAPChannel] = [:]
    var counts: [UInt16: Int] = [:]
    var messages = 0
    var lastStats: Spikeloop_V1_LoopStats?
    var eventCounts: [String: Int] = [:]
    var droppedByEvents = 0
    var firstLogTime: UInt64?
    var lastLogTime: UInt64 = 0
    var sensorNames: [String]?
    var motorNames: [String]?
    var scan: MCAPScanResult?
    let csv: SessionCSV?

    init(csv: SessionCSV?) { self.csv = csv }

    /// Reads `reader` linearly (tolerating a cut end only when the file has
    /// no footer: a finished file that does not read through is corrupt).
    /// `startTime`: log time that CSV times count from.
    func read(_ reader: MCAPReader, startTime: UInt64?) throws {
        csv?.startTime = startTime
        scan = try reader.scan(tolerant: !reader.hasFooter) { record in
            switch record {
            case .channel(let c): channels[c.id] = c
            case .metadata(let m): metadata[m.name] = m.metadata
            case .attachment(let a):
                attachments.append((a.name, a.data.count))
                if sensorNames == nil, let robot = robotDescription(a) {
                    sensorNames = robot.sensors.map(\.name)
                    motorNames = robot.motors.map(\.name)
                    csv?.sensorNames = sensorNames
                    csv?.motorNames = motorNames
                }
            case .message(let m): try message(m)
            default: break
            }
        }
        try csv?.finish()
    }

    /// The robot description among the attachments: the file the metadata
    /// names, else the first YAML attachment that reads as one.
    private func robotDescription(_ a: MCAPAttachment) -> RobotDescription? {
        if let named = metadata["spikeloop"]?["robot_file"] {
            guard a.name == named else { return nil }
        } else if a.mediaType != "application/yaml" {
            return nil
        }
        return try? RobotDescription.parse(yaml: String(decoding: a.data, as: UTF8.self), file: a.name)
    }

    private func message(_ m: MCAPMessage) throws {
        messages += 1
        counts[m.channelID, default: 0] += 1
        firstLogTime = min(firstLogTime ?? m.logTime, m.logTime)
        lastLogTime = max(lastLogTime, m.logTime)
        if csv != nil && csv!.startTime == nil { csv!.startTime = m.logTime }
        guard let topic = channels[m.channelID]?.topic else { return }
        switch topic {
        case SessionSchema.loopStats.topic:
            lastStats = try Spikeloop_V1_LoopStats(serializedBytes: m.data)
        case SessionSchema.events.topic:
            let e = try Spikeloop_V1_Event(serializedBytes: m.data)
            eventCounts[e.kind, default: 0] += 1
            // The message starts with the count since the previous event.
            if e.kind == "recorder_dropped" { droppedByEvents += Int(e.message.prefix { $0.isNumber }) ?? 0 }
            try csv?.event(e, logTime: m.logTime)
        case SessionSchema.sensors.topic:
            try csv?.sensors(try Spikeloop_V1_SensorFrame(serializedBytes: m.data), logTime: m.logTime)
        case SessionSchema.motorsDecoded.topic:
            try csv?.motors(try Spikeloop_V1_MotorCommand(serializedBytes: m.data), sent: false, logTime: m.logTime)
        case SessionSchema.motorsSent.topic:
            try csv?.motors(try Spikeloop_V1_MotorCommand(serializedBytes: m.data), sent: true, logTime: m.logTime)
        case SessionSchema.spikes.topic:
            try csv?.spikes(try Spikeloop_V1_SpikeBatch(serializedBytes: m.data))
        case SessionSchema.probes.topic:
            try csv?.probe(try Spikeloop_V1_StateProbe(serializedBytes: m.data))
        default: break
        }
    }
}

/// `inspect --csv DIR`: one CSV file per kind of message, opened when the
/// first such message arrives. Times are exact decimal seconds from integer
/// nanoseconds; floats are printed in their shortest round-trip form, so a
/// reader parsing them as float32 gets the recorded bits back.
final class SessionCSV {
    let directory: String
    var startTime: UInt64?
    var sensorNames: [String]?
    var motorNames: [String]?
    private var files: [String: CSVFile] = [:]
    /// Decoded commands waiting for the sent command of the same tick (the
    /// recorder writes both from one record, decoded first).
    private var pendingDecoded: [UInt64: (Spikeloop_V1_MotorCommand, UInt64)] = [:]
    private var motorWidth: Int?

    init(directory: String) throws {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw CommandError("cannot create the CSV directory \(directory): \(error.localizedDescription)")
        }
    }

    /// Rows written per file name.
    var rowCounts: [(String, Int)] { files.keys.sorted().map { ($0, files[$0]!.rows) } }

    private func file(_ name: String, header: @autoclosure () -> [String]) throws -> CSVFile {
        if let f = files[name] { return f }
        let f = try CSVFile(path: (directory as NSString).appendingPathComponent(name), header: header())
        files[name] = f
        return f
    }

    private func time(_ logTime: UInt64) -> String {
        seconds(Int64(bitPattern: logTime &- (startTime ?? logTime)))
    }

    func sensors(_ f: Spikeloop_V1_SensorFrame, logTime: UInt64) throws {
        let out = try file("sensors.csv", header: ["time_s", "sim_time_s", "sequence"] + names(sensorNames, "sensor", f.values.count))
        try out.row([time(logTime), seconds(f.simTimeNs), String(f.sequence)] + f.values.map(\.description))
    }

    func motors(_ c: Spikeloop_V1_MotorCommand, sent: Bool, logTime: UInt64) throws {
        if !sent {
            pendingDecoded[c.sequence] = (c, logTime)
            return
        }
        let decoded = pendingDecoded.removeValue(forKey: c.sequence)?.0
        try motorRow(decoded: decoded, sent: c, logTime: logTime)
    }

    private func motorRow(decoded: Spikeloop_V1_MotorCommand?, sent: Spikeloop_V1_MotorCommand?, logTime: UInt64) throws {
        let any = (sent ?? decoded)!
        let width = motorWidth ?? any.values.count
        motorWidth = width
        let names = names(motorNames, "motor", width)
        let out = try file("motors.csv", header: ["time_s", "sim_time_s", "sequence", "sensor_sequence"]
            + names.flatMap { ["\($0).decoded", "\($0).sent"] } + ["safe_stop"])
        var row = [time(logTime), seconds(any.simTimeNs), String(any.sequence), String(any.sensorSequence)]
        for i in 0..<width {
            row.append(decoded.flatMap { i < $0.values.count ? $0.values[i].description : nil } ?? "")
            row.append(sent.flatMap { i < $0.values.count ? $0.values[i].description : nil } ?? "")
        }
        row.append(sent.map { $0.safeStop ? "1" : "0" } ?? "")
        try out.row(row)
    }

    func spikes(_ b: Spikeloop_V1_SpikeBatch) throws {
        let out = try file("spikes.csv", header: ["time_s", "step", "population", "neuron"])
        let population = CSVFile.field(b.population)
        for (neuron, offset) in zip(b.neuron, b.stepOffset) {
            let step = b.firstStep + UInt64(offset)
            try out.row([seconds(Int64(step) * b.dtNs), String(step), population, String(neuron)])
        }
    }

    func probe(_ p: Spikeloop_V1_StateProbe) throws {
        let out = try file("probes.csv", header: ["time_s", "step", "population", "variable", "unit", "neuron", "value"])
        let width = p.neuron.count
        guard width > 0 else { return }
        let population = CSVFile.field(p.population), variable = CSVFile.field(p.variable), unit = CSVFile.field(p.unit)
        for s in 0..<(p.value.count / width) {
            let step = p.firstStep + UInt64(s)
            let t = seconds(Int64(step) * p.dtNs)
            for k in 0..<width {
                try out.row([t, String(step), population, variable, unit, String(p.neuron[k]), p.value[s * width + k].description])
            }
        }
    }

    func event(_ e: Spikeloop_V1_Event, logTime: UInt64) throws {
        let out = try file("events.csv", header: ["time_s", "sim_step", "severity", "kind", "message"])
        let severity = String(describing: e.severity)
        try out.row([time(logTime), String(e.simStep), severity, CSVFile.field(e.kind), CSVFile.field(e.message)])
    }

    func finish() throws {
        // A file cut between a tick's two commands: its decoded half alone.
        for (_, (c, t)) in pendingDecoded.sorted(by: { $0.key < $1.key }) { try motorRow(decoded: c, sent: nil, logTime: t) }
        pendingDecoded.removeAll()
        for f in files.values { try f.close() }
    }

    private func names(_ known: [String]?, _ kind: String, _ count: Int) -> [String] {
        let k = known ?? []
        return (0..<max(count, k.count)).map { $0 < k.count ? CSVFile.field(k[$0]) : "\(kind)\($0)" }
    }
}

/// A CSV file written through a buffer (millions of rows for a long session).
final class CSVFile {
    let path: String
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private(set) var rows = 0

    init(path: String, header: [String]) throws {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw CommandError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        handle = h
        buffer.reserveCapacity(1 << 20)
        append(header)
    }

    func row(_ fields: [String]) throws {
        append(fields)
        rows += 1
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func append(_ fields: [String]) {
        for (i, f) in fields.enumerated() {
            if i > 0 { buffer.append(UInt8(ascii: ",")) }
            buffer.append(contentsOf: f.utf8)
        }
        buffer.append(UInt8(ascii: "\n"))
    }

    private func flush() throws {
        do { try handle.write(contentsOf: buffer) } catch { throw CommandError("cannot write \(path): \(error.localizedDescription)") }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        try flush()
        try? handle.close()
    }

    /// RFC 4180 quoting for text that may hold commas, quotes or newlines.
    static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// Exact decimal seconds of a nanosecond count (no binary rounding on the way).
func seconds(_ ns: Int64) -> String {
    let magnitude = ns.magnitude
    let fraction = String(magnitude % 1_000_000_000)
    return (ns < 0 ? "-" : "") + "\(magnitude / 1_000_000_000)." + String(repeating: "0", count: 9 - fraction.count) + fraction
}
