// What a real robot adds between its physics and the controller: noisy,
// biased, quantised and late sensors, late actuators, and pushes. Every
// built-in simulator takes them from `simulator.disturbances` (robot file, or
// `spikeloop sim --set 'disturbances={...}'`), drawn from the episode's seed.

import Yams

/// An external force or torque added to a motor channel's applied value
/// (beyond the actuator's range: it does not come from the controller),
/// for `duration` seconds every `every` seconds from `first`.
public struct SimPush: Sendable, Equatable {
    public enum Sign: String, Sendable, CaseIterable { case positive, alternate, random }
    public var motor: Int
    public var value: Double
    public var duration: Double
    public var every: Double
    public var first: Double
    public var sign: Sign
}

public struct Disturbances: Sendable, Equatable {
    /// Per sensor channel (wire order), in the channel's unit.
    public var noise: [Double]
    public var bias: [Double]
    /// Reported values are multiples of this (0: none).
    public var quantum: [Double]
    /// Ticks between a reading and the frame that carries it.
    public var sensorDelay: Int
    /// Ticks between a command's arrival and the tick that applies it.
    public var actuatorDelay: Int
    public var push: SimPush?

    public init(sensors: Int) {
        noise = Array(repeating: 0, count: sensors)
        bias = noise
        quantum = noise
        sensorDelay = 0
        actuatorDelay = 0
        push = nil
    }

    public var isEmpty: Bool {
        noise.allSatisfy { $0 == 0 } && bias.allSatisfy { $0 == 0 } && quantum.allSatisfy { $0 == 0 }
            && sensorDelay == 0 && actuatorDelay == 0 && push == nil
    }

    static let keys = ["sensor_noise", "sensor_bias", "quantization", "sensor_delay", "actuator_delay", "push"]
    static let pushKeys = ["motor", "value", "duration", "every", "first", "sign"]

    /// Reads `disturbances:` of a robot file's `simulator:` mapping; errors
    /// name the file (or `--set`), the key and what is valid.
    public init(_ p: SimParameters, sensors: [String], motors: [String]) throws {
        self.init(sensors: sensors.count)
        guard let node = p.mapping["disturbances"] else { return }
        let here = p.location("disturbances")
        guard let m = node.mapping else {
            throw SimError("\(here): expected a mapping of \(Self.keys.joined(separator: ", "))")
        }
        for (k, _) in m {
            guard let key = k.string, Self.keys.contains(key) else {
                throw SimError("\(here).\(k.string ?? "?"): unknown; valid: \(Self.keys.joined(separator: ", "))")
            }
        }
        func perChannel(_ key: String, nonNegative: Bool) throws -> [Double] {
            var values = Array(repeating: 0.0, count: sensors.count)
            guard let entry = m[key] else { return values }
            guard let channels = entry.mapping else {
                throw SimError("\(here).\(key): expected {channel: value, …}, e.g. {\(sensors.first ?? "x"): 0.01}")
            }
            for (c, v) in channels {
                let name = c.string ?? ""
                guard let i = sensors.firstIndex(of: name) else {
                    throw SimError("\(here).\(key).\(name): no such sensor; the robot's sensors: \(sensors.joined(separator: ", "))")
                }
                guard let x = v.float, x.isFinite, !(nonNegative && x < 0) else {
                    throw SimError("\(here).\(key).\(name): '\(v.string ?? "")' must be a\(nonNegative ? " non-negative" : "") number in the channel's unit")
                }
                values[i] = x
            }
            return values
        }
        func ticks(_ key: String) throws -> Int {
            guard let entry = m[key] else { return 0 }
            guard let n = entry.int, n >= 0, n <= 10_000 else {
                throw SimError("\(here).\(key): '\(entry.string ?? "")' must be a whole number of ticks in 0…10000")
            }
            return n
        }
        noise = try perChannel("sensor_noise", nonNegative: true)
        bias = try perChannel("sensor_bias", nonNegative: false)
        quantum = try perChannel("quantization", nonNegative: true)
        sensorDelay = try ticks("sensor_delay")
        actuatorDelay = try ticks("actuator_delay")
        if let entry = m["push"] {
            let at = "\(here).push"
            guard let q = entry.mapping else {
                throw SimError("\(at): expected {motor: NAME, value: X, duration: S, every: S}, e.g. {motor: \(motors.first ?? "m"), value: 10, duration: 0.1, every: 2}")
            }
            for (k, _) in q where !Self.pushKeys.contains(k.string ?? "") {
                throw SimError("\(at).\(k.string ?? "?"): unknown; valid: \(Self.pushKeys.joined(separator: ", "))")
            }
            guard let name = q["motor"]?.string, let motor = motors.firstIndex(of: name) else {
                throw SimError("\(at).motor: one of the robot's motors: \(motors.joined(separator: ", "))")
            }
            func number(_ key: String, _ fallback: Double?, positive: Bool) throws -> Double {
                guard let e = q[key] else {
                    if let fallback { return fallback }
                    throw SimError("\(at).\(key): missing (seconds, or the motor's unit for value)")
                }
                guard let x = e.float, x.isFinite, positive ? x > 0 : x >= 0 else {
                    throw SimError("\(at).\(key): '\(e.string ?? "")' must be a \(positive ? "positive" : "non-negative") number")
                }
                return x
            }
            let value = try number("value", nil, positive: false)
            let duration = try number("duration", nil, positive: true)
            let every = try number("every", nil, positive: true)
            guard duration < every else { throw SimError("\(at).duration: \(duration) s must be shorter than every (\(every) s)") }
            let first = try number("first", every, positive: false)
            var sign = SimPush.Sign.alternate
            if let e = q["sign"] {
                guard let s = e.string.flatMap(SimPush.Sign.init(rawValue:)) else {
                    throw SimError("\(at).sign: one of \(SimPush.Sign.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sign = s
            }
            push = SimPush(motor: motor, value: value, duration: duration, every: every, first: first, sign: sign)
        }
    }

    /// One line for a summary, nil if there is nothing.
    public func summary(sensors: [String], motors: [String]) -> String? {
        guard !isEmpty else { return nil }
        var parts: [String] = []
        func channels(_ label: String, _ values: [Double]) {
            let set = values.indices.filter { values[$0] != 0 }.map { "\(sensors[$0]) \(values[$0])" }
            if !set.isEmpty { parts.append("\(label) " + set.joined(separator: ", ")) }
        }
        channels("noise sd", noise)
        channels("bias", bias)
        channels("quantum", quantum)
        if sensorDelay > 0 { parts.append("sensor delay \(sensorDelay) ticks") }
        if actuatorDelay > 0 { parts.append("actuator delay \(actuatorDelay) ticks") }
        if let p = push {
            parts.append("push \(motors[p.motor]) \(p.value) for \(p.duration) s every \(p.every) s from \(p.first) s (\(p.sign.rawValue))")
        }
        return parts.joined(separator: "; ")
    }
}

/// The disturbances' state during an episode: the delay lines and the
/// generator, allocated once; a tick allocates nothing.
final class DisturbanceState {
    let spec: Disturbances
    private let sensors: Int, motors: Int
    /// `sensorDelay + 1` frames of sensor values, and `actuatorDelay + 1` of motor values.
    private let sensorLine: UnsafeMutablePointer<Float>
    private let motorLine: UnsafeMutablePointer<Float>
    private var sensorHead = 0, motorHead = 0
    private var primed = false
    private var random = SimRandom(seed: 0)
    private var pushSign = 1.0
    private var pushIndex = -1
    private(set) var pushes = 0

    init(_ spec: Disturbances, sensors: Int, motors: Int) {
        self.spec = spec
        self.sensors = sensors
        self.motors = motors
        sensorLine = .allocate(capacity: max(1, (spec.sensorDelay + 1) * sensors))
        sensorLine.initialize(repeating: 0, count: max(1, (spec.sensorDelay + 1) * sensors))
        motorLine = .allocate(capacity: max(1, (spec.actuatorDelay + 1) * motors))
        motorLine.initialize(repeating: 0, count: max(1, (spec.actuatorDelay + 1) * motors))
    }

    deinit {
        sensorLine.deallocate()
        motorLine.deallocate()
    }

    /// A new episode: its own generator; the lines hold the episode's first
    /// reading and the safe motor values until real ones have passed through.
    func reset(seed: UInt64, safe: UnsafePointer<Float>) {
        random = SimRandom(seed: seed ^ 0x6469_7374_7572_6221)   // "disturb!": not the model's stream
        for k in 0...spec.actuatorDelay { (motorLine + k * motors).update(from: safe, count: motors) }
        primed = false
        sensorHead = 0
        motorHead = 0
        pushSign = 1
        pushIndex = -1
        pushes = 0
    }

    /// Replaces `values` (the true reading) with what the robot reports:
    /// the reading of `sensorDelay` ticks ago, biased, noisy and quantised.
    @inline(__always)
    func sense(_ values: UnsafeMutablePointer<Float>) {
        let slot = sensorLine + sensorHead * sensors
        for i in 0..<sensors {
            var x = Double(values[i]) + spec.bias[i]
            if spec.noise[i] > 0 { x += spec.noise[i] * random.normal() }
            let q = spec.quantum[i]
            if q > 0 { x = (x / q).rounded() * q }
            slot[i] = Float(x)
        }
        if !primed {
            for k in 1..<(spec.sensorDelay + 1) { (sensorLine + k * sensors).update(from: slot, count: sensors) }
            primed = true
        }
        sensorHead = (sensorHead + 1) % (spec.sensorDelay + 1)
        values.update(from: sensorLine + sensorHead * sensors, count: sensors)
    }

    /// Replaces `values` (the commanded motors of this tick) with those the
    /// plant gets at `time` seconds: commanded `actuatorDelay` ticks ago,
    /// plus the push if one is on.
    @inline(__always)
    func actuate(_ values: UnsafeMutablePointer<Float>, time: Double) {
        (motorLine + motorHead * motors).update(from: values, count: motors)
        motorHead = (motorHead + 1) % (spec.actuatorDelay + 1)
        values.update(from: motorLine + motorHead * motors, count: motors)
        guard let p = spec.push, time >= p.first else { return }
        let k = Int(((time - p.first) / p.every).rounded(.down))
        guard time - p.first - Double(k) * p.every < p.duration else { return }
        if k != pushIndex {
            pushIndex = k
            pushes += 1
            switch p.sign {
            case .positive: pushSign = 1
            case .alternate: pushSign = k % 2 == 0 ? 1 : -1
            case .random: pushSign = random.unit() < 0.5 ? 1 : -1
            }
        }
        values[p.motor] += Float(pushSign * p.value)
    }
}
