/// The spikeloop.v1 schemas and the topics of a session recording.
public enum SessionSchema {
    /// MCAP header profile of spikeloop recordings ("" = no ROS profile).
    public static let profile = ""
    /// Schema and message encoding of every channel.
    public static let encoding = "protobuf"

    /// The binary FileDescriptorSet of spikeloop.v1 (Proto/spikeloop.v1.pb,
    /// embedded at build time), the `data` of every Schema record.
    public static let descriptorSet: [UInt8] = decodeBase64(spikeloopDescriptorSetBase64)

    /// A recorded topic and the full protobuf name of its messages.
    public struct Topic: Sendable, Equatable {
        public var topic: String
        public var messageName: String
        public var what: String
    }

    public static let sensors = Topic(topic: "/sensors", messageName: "spikeloop.v1.SensorFrame",
                                      what: "every accepted sensor frame, byte for byte as received")
    public static let motorsDecoded = Topic(topic: "/motors/decoded", messageName: "spikeloop.v1.MotorCommand",
                                            what: "motor command as the decoders produced it, before the safety filter")
    public static let motorsSent = Topic(topic: "/motors/sent", messageName: "spikeloop.v1.MotorCommand",
                                         what: "motor command as sent after the safety filter")
    public static let spikes = Topic(topic: "/spikes", messageName: "spikeloop.v1.SpikeBatch",
                                     what: "spikes of one population during one tick")
    public static let loopStats = Topic(topic: "/loop_stats", messageName: "spikeloop.v1.LoopStats",
                                        what: "loop statistics, about once a second")
    public static let events = Topic(topic: "/events", messageName: "spikeloop.v1.Event",
                                     what: "safety stops, overruns, rejected messages, control requests, recorder drops")

    public static let probes = Topic(topic: "/probes", messageName: "spikeloop.v1.StateProbe",
                                     what: "configured state variables (e.g. membrane voltages) at every step of a tick")

    public static let log = Topic(topic: "/log", messageName: "foxglove.Log",
                                  what: "the events again, as Foxglove's well-known log message (its Log panel shows them)")

    public static let topics: [Topic] = [sensors, motorsDecoded, motorsSent, spikes, probes, loopStats, events, log]

    /// The FileDescriptorSet that holds `t`'s message type.
    public static func schema(of t: Topic) -> [UInt8] { t == log ? foxgloveLogDescriptorSet : descriptorSet }

    /// A channel as written: its topic, the full name of its message type, a
    /// FileDescriptorSet holding that type, and the channel's metadata.
    public struct Channel: Sendable {
        public var topic: String
        public var schemaName: String
        public var schema: [UInt8]
        public var metadata: [String: String]

        public init(topic: String, schemaName: String, schema: [UInt8], metadata: [String: String] = [:]) {
            self.topic = topic
            self.schemaName = schemaName
            self.schema = schema
            self.metadata = metadata
        }

        /// One of the topics above, described by its `what`.
        public init(_ t: Topic) {
            self.init(topic: t.topic, schemaName: t.messageName, schema: SessionSchema.schema(of: t), metadata: ["description": t.what])
        }
    }

    /// The binary FileDescriptorSet of foxglove.Log (Proto/foxglove.Log.pb:
    /// Proto/foxglove/Log.proto and google/protobuf/timestamp.proto).
    public static let foxgloveLogDescriptorSet: [UInt8] = decodeBase64(foxgloveLogDescriptorSetBase64)

    /// foxglove.Log's levels (its `Level` enum).
    public enum LogLevel: UInt64 { case unknown = 0, debug, info, warning, error, fatal }

    /// A foxglove.Log message, encoded: `timestamp` (UTC ns), `level`,
    /// `message`, `name`.
    public static func foxgloveLog(timestamp: UInt64, level: LogLevel, message: String, name: String) -> [UInt8] {
        var out: [UInt8] = []
        func varint(_ v: UInt64) {
            var v = v
            while v >= 0x80 { out.append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
            out.append(UInt8(v))
        }
        // google.protobuf.Timestamp {seconds = 1, nanos = 2}, as field 1.
        var time: [UInt8] = []
        swap(&out, &time)
        if timestamp / 1_000_000_000 > 0 { out.append(0x08); varint(timestamp / 1_000_000_000) }
        if timestamp % 1_000_000_000 > 0 { out.append(0x10); varint(timestamp % 1_000_000_000) }
        swap(&out, &time)
        out.append(0x0A); varint(UInt64(time.count)); out += time
        if level != .unknown { out.append(0x10); varint(level.rawValue) }
        for (tag, text) in [(UInt8(0x1A), message), (0x22, name)] where !text.isEmpty {
            out.append(tag); varint(UInt64(text.utf8.count)); out += Array(text.utf8)
        }
        return out
    }

    /// Adds one schema per message type and one channel per topic; returns
    /// the channel id of each topic.
    public static func addChannels(to writer: MCAPWriter, topics: [Topic] = topics) throws -> [String: UInt16] {
        let ids = try addChannels(to: writer, topics.map { Channel(topic: $0.topic, schemaName: $0.messageName, schema: schema(of: $0)) })
        return Dictionary(uniqueKeysWithValues: zip(topics.map(\.topic), ids))
    }

    /// Adds one schema per message type (by name) and the channels, in
    /// order; returns their channel ids.
    public static func addChannels(to writer: MCAPWriter, _ channels: [Channel]) throws -> [UInt16] {
        var schemaIDs: [String: UInt16] = [:]
        return try channels.map { c in
            let schemaID: UInt16
            if let id = schemaIDs[c.schemaName] {
                schemaID = id
            } else {
                schemaID = try writer.addSchema(name: c.schemaName, encoding: encoding, data: c.schema)
                schemaIDs[c.schemaName] = schemaID
            }
            return try writer.addChannel(topic: c.topic, messageEncoding: encoding, schemaID: schemaID, metadata: c.metadata)
        }
    }
}

/// RFC 4648 base64, skipping whitespace (the embedded descriptor set is wrapped).
func decodeBase64(_ text: String) -> [UInt8] {
    var table = [UInt8](repeating: 255, count: 256)
    for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
        table[Int(c)] = UInt8(i)
    }
    var out: [UInt8] = []
    out.reserveCapacity(text.utf8.count * 3 / 4)
    var acc: UInt32 = 0
    var bits = 0
    for c in text.utf8 {
        let v = table[Int(c)]
        if v == 255 { continue }  // whitespace and '=' padding
        acc = (acc << 6) | UInt32(v)
        bits += 6
        if bits >= 8 {
            bits -= 8
            out.append(UInt8((acc >> UInt32(bits)) & 0xFF))
        }
    }
    return out
}
