import NetworkFile

/// A robot's sensor and motor channels, in the order that defines the wire
/// layout (and its hash): `Robots/NAME.yaml`.
public struct RobotDescription: Sendable, Equatable {
    public struct Sensor: Sendable, Equatable {
        public var name: String
        public var unit: String
        public var min: Float
        public var max: Float
        /// Nominal sampling rate, Hz (informative; the tick rate decides).
        public var rate: Double?

        public init(name: String, unit: String, min: Float, max: Float, rate: Double? = nil) {
            self.name = name
            self.unit = unit
            self.min = min
            self.max = max
            self.rate = rate
        }
    }

    public struct Motor: Sendable, Equatable {
        public var name: String
        public var unit: String
        public var min: Float
        public var max: Float
        /// Largest change per second in `unit`; nil for no limit.
        public var maxSlewPerSecond: Float?
        /// The value held while safe-stopped.
        public var safe: Float

        public init(name: String, unit: String, min: Float, max: Float, maxSlewPerSecond: Float? = nil, safe: Float) {
            self.name = name
            self.unit = unit
            self.min = min
            self.max = max
            self.maxSlewPerSecond = maxSlewPerSecond
            self.safe = safe
        }
    }

    public var name: String
    public var sensors: [Sensor]
    public var motors: [Motor]

    public init(name: String, sensors: [Sensor], motors: [Motor]) {
        self.name = name
        self.sensors = sensors
        self.motors = motors
    }

    public var safetyMotors: [SafetyFilter.Motor] {
        motors.map { .init(min: $0.min, max: $0.max, maxSlewPerSecond: $0.maxSlewPerSecond ?? .infinity, safeValue: $0.safe) }
    }

    public static let keys = ["robot", "description", "sensors", "motors", "simulator"]

    /// Reads and validates `path`; every problem is reported at once.
    public static func load(path: String) throws -> RobotDescription {
        let text: String
        do { text = try readText(path) } catch {
            throw ConfigurationError(problems: [Problem(file: path, line: nil, keyPath: "", message: "cannot read the robot description: \(error)")])
        }
        return try parse(yaml: text, file: path)
    }

    /// Validates a robot description's text; `file` names it in problems.
    public static func parse(yaml: String, file: String) throws -> RobotDescription {
        let r = DocumentReader(file: file)
        let robot = r.root(yaml: yaml).flatMap { read($0, r) }
        guard let robot, r.problems.isEmpty else { throw ConfigurationError(problems: r.problems) }
        return robot
    }

    static func read(_ root: Entry, _ r: DocumentReader) -> RobotDescription? {
        guard let top = r.mapping(root, allowed: keys) else { return nil }
        let name = r.required(top, "robot", in: root, "the robot's name, e.g. robot: cartpole").flatMap(r.string)
        var sensors: [Sensor] = [], motors: [Motor] = []
        var names = Set<String>()
        if let e = r.required(top, "sensors", in: root, "the sensor channels in wire order"), let list = r.sequence(e) {
            for item in list {
                guard let k = r.mapping(item, allowed: ["name", "unit", "range", "rate"]) else { continue }
                let n = r.required(k, "name", in: item, "the channel's name").flatMap(r.string)
                let unit = r.required(k, "unit", in: item, "the channel's physical unit, e.g. rad, m/s, 1").flatMap(r.string)
                let range = r.required(k, "range", in: item, "[min, max] in the channel's unit").flatMap { readRange($0, r) }
                let rate = k["rate"].flatMap { r.quantity($0, .rate, positive: true) }
                guard let n, let unit, let range else { continue }
                if !names.insert(n).inserted { r.report(item, "channel name '\(n)' is used twice"); continue }
                sensors.append(Sensor(name: n, unit: unit, min: range.0, max: range.1, rate: rate))
            }
            if list.isEmpty { r.report(e, "at least one sensor channel is needed") }
        }
        if let e = r.required(top, "motors", in: root, "the motor channels in wire order"), let list = r.sequence(e) {
            for item in list {
                guard let k = r.mapping(item, allowed: ["name", "unit", "range", "max_slew_per_s", "safe"]) else { continue }
                let n = r.required(k, "name", in: item, "the channel's name").flatMap(r.string)
                let unit = r.required(k, "unit", in: item, "the channel's physical unit, e.g. N, rad/s").flatMap(r.string)
                let range = r.required(k, "range", in: item, "[min, max] in the channel's unit").flatMap { readRange($0, r) }
                let slew = k["max_slew_per_s"].flatMap { r.number($0, min: 0) }
                let safe = r.required(k, "safe", in: item, "the value held while safe-stopped, within range").flatMap { r.number($0) }
                guard let n, let unit, let range, let safe else { continue }
                if Float(safe) < range.0 || Float(safe) > range.1 {
                    r.report(k["safe"]!, "safe value \(safe) is outside the range [\(range.0), \(range.1)]")
                    continue
                }
                if !names.insert(n).inserted { r.report(item, "channel name '\(n)' is used twice"); continue }
                motors.append(Motor(name: n, unit: unit, min: range.0, max: range.1,
                                    maxSlewPerSecond: slew.map(Float.init), safe: Float(safe)))
            }
            if list.isEmpty { r.report(e, "at least one motor channel is needed") }
        }
        guard let name else { return nil }
        return RobotDescription(name: name, sensors: sensors, motors: motors)
    }

    static func readRange(_ e: Entry, _ r: DocumentReader) -> (Float, Float)? {
        guard let b = r.sequence(e), b.count == 2 else {
            r.report(e, "expected [min, max], e.g. range: [-1.5, 1.5]")
            return nil
        }
        guard let lo = r.number(b[0]), let hi = r.number(b[1]) else { return nil }
        guard lo < hi else {
            r.report(e, "min (\(lo)) must be below max (\(hi))")
            return nil
        }
        return (Float(lo), Float(hi))
    }
}
