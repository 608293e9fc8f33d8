// What a simulator needs from a robot description (`Robots/NAME.yaml`): the
// channels in wire order (they make the layout and its hash) and the
// `simulator:` mapping. The daemon reads the same file with
// Control.RobotDescription, which validates it fully; this reader takes only
// what the simulator uses and checks it against the model.

import Wire
import Yams

/// A problem with a robot file or a simulator parameter, naming the file,
/// the line and the key.
public struct SimError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One wire channel as a simulator model defines it.
public struct SimChannel: Equatable, Sendable, CustomStringConvertible {
    public var name: String
    public var unit: String
    public init(_ name: String, _ unit: String) { self.name = name; self.unit = unit }
    public var description: String { "\(name) (\(unit))" }
}

/// A channel of the robot file: name, unit, validity range (and, for motors,
/// the safe value).
public struct RobotFileChannel: Equatable, Sendable {
    public var name: String
    public var unit: String
    public var min: Float
    public var max: Float
    public var safe: Float
}

public struct RobotFile: Sendable {
    public var path: String
    public var robot: String
    public var sensors: [RobotFileChannel]
    public var motors: [RobotFileChannel]
    public var simulator: SimParameters

    /// The wire layout (with its hash) the daemon builds from the same file.
    public var layout: Spikeloop_V1_RobotLayout {
        .make(robot: robot,
              sensors: sensors.map { (name: $0.name, unit: $0.unit, min: $0.min, max: $0.max) },
              motors: motors.map { (name: $0.name, unit: $0.unit, min: $0.min, max: $0.max) })
    }

    public static func load(path: String) throws -> RobotFile {
        let text: String
        do { text = try readTextFile(path) } catch {
            throw SimError("\(path): cannot read the robot description (\(error))")
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws -> RobotFile {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw SimError("\(path): the file is empty") }
            root = node
        } catch let e as SimError { throw e } catch {
            throw SimError("\(path): not valid YAML: \(error)")
        }
        guard let top = root.mapping else { throw SimError("\(path): expected a mapping with robot, sensors, motors, simulator") }
        func at(_ node: Node?) -> String { node?.mark.map { "\(path):\($0.line)" } ?? path }
        guard let robot = top["robot"]?.string else { throw SimError("\(at(root)): robot: missing; the robot's name, e.g. robot: cartpole") }

        func channels(_ key: String, motor: Bool) throws -> [RobotFileChannel] {
            guard let list = top[key]?.sequence else { throw SimError("\(at(root)): \(key): missing; the \(key) channels in wire order") }
            return try list.enumerated().map { i, item in
                let where_ = "\(at(item)): \(key)[\(i)]"
                guard let m = item.mapping, let name = m["name"]?.string, let unit = m["unit"]?.string else {
                    throw SimError("\(where_): expected {name: …, unit: …, range: [min, max]}")
                }
                guard let range = m["range"]?.sequence, range.count == 2,
                      let lo = range[0].float, let hi = range[1].float, lo < hi else {
                    throw SimError("\(where_).range: expected [min, max] with min < max")
                }
                let safe = motor ? m["safe"]?.float ?? 0 : 0
                return RobotFileChannel(name: name, unit: unit, min: Float(lo), max: Float(hi), safe: Float(safe))
            }
        }
        let sensors = try channels("sensors", motor: false)
        let motors = try channels("motors", motor: true)
        guard let sim = top["simulator"] else {
            throw SimError("\(at(root)): simulator: missing; a mapping with the model name, e.g. simulator: {model: cartpole}")
        }
        guard let mapping = sim.mapping else { throw SimError("\(at(sim)): simulator: expected a mapping, e.g. {model: cartpole}") }
        return RobotFile(path: path, robot: robot, sensors: sensors, motors: motors,
                         simulator: SimParameters(path: path, mapping: mapping, node: sim))
    }

    /// Checks that the file's channels are exactly the model's, in order
    /// and units; the error lists what the model provides.
    public func check(sensors modelSensors: [SimChannel], motors modelMotors: [SimChannel], model: String) throws {
        for (kind, mine, theirs) in [("sensors", sensors, modelSensors), ("motors", motors, modelMotors)] {
            let expected = theirs.map(\.description).joined(separator: ", ")
            if mine.count != theirs.count {
                throw SimError("\(path): \(kind): \(mine.count) channels, but the \(model) simulator has \(theirs.count): \(expected)")
            }
            for (i, (a, b)) in zip(mine, theirs).enumerated() where a.name != b.name || a.unit != b.unit {
                throw SimError("\(path): \(kind)[\(i)] is '\(a.name)' in \(a.unit), but the \(model) simulator has '\(b.name)' in \(b.unit) there; its \(kind) in order: \(expected)")
            }
        }
    }
}

/// The `simulator:` mapping of a robot file: model name and parameters
/// (plain numbers in SI units unless the key says otherwise, e.g. `_deg`).
/// Unknown keys are refused, so that a typo does not silently keep a default.
public struct SimParameters: @unchecked Sendable {
    public let path: String
    private(set) var mapping: Node.Mapping
    let node: Node
    /// Keys set on the command line (`spikeloop sim --set`), named so in errors.
    private var overridden: Set<String> = []

    public init(path: String, mapping: Node.Mapping, node: Node) {
        self.path = path; self.mapping = mapping; self.node = node
    }

    /// These parameters with `KEY=VALUE` assignments applied (VALUE in YAML,
    /// e.g. `light_reach=0.15` or `light=[1, -1]`); the model checks the keys
    /// and values as it would the file's.
    public func setting(_ assignments: [String]) throws -> SimParameters {
        var copy = self
        for assignment in assignments {
            guard let eq = assignment.firstIndex(of: "="), eq != assignment.startIndex else {
                throw SimError("--set \(assignment): expected KEY=VALUE, e.g. --set light_reach=0.15")
            }
            let key = String(assignment[..<eq]).trimmingCharacters(in: .whitespaces)
            let text = String(assignment[assignment.index(after: eq)...])
            guard key != "model" else { throw SimError("--set model: the model is the robot file's; use another robot file") }
            let value: Node
            do {
                guard let node = try Yams.compose(yaml: text) else { throw SimError("--set \(key): the value is empty") }
                value = node
            } catch let e as SimError { throw e } catch {
                throw SimError("--set \(key): '\(text)' is not a YAML value")
            }
            copy.mapping[key] = value
            copy.overridden.insert(key)
        }
        return copy
    }

    /// Parameters from YAML text of the mapping alone (tests).
    public init(yaml: String, path: String = "<test>") throws {
        guard let node = try Yams.compose(yaml: yaml), let mapping = node.mapping else {
            throw SimError("\(path): expected a mapping")
        }
        self.init(path: path, mapping: mapping, node: node)
    }

    public var model: String? { mapping["model"]?.string }

    func location(_ key: String) -> String {
        if overridden.contains(key) { return "--set \(key)" }
        let line = (mapping[key] ?? node).mark.map { ":\($0.line)" } ?? ""
        return "\(path)\(line): simulator.\(key)"
    }

    /// Refuses keys that are not in `allowed` (plus `model`).
    public func checkKeys(_ allowed: [String]) throws {
        for (key, _) in mapping {
            guard let k = key.string else { continue }
            if !["model", "disturbances", "initial_state", "randomize"].contains(k) && !allowed.contains(k) {
                throw SimError("\(location(k)): unknown parameter; this model takes \(allowed.joined(separator: ", ")) (and disturbances, initial_state, randomize: docs/simulators.md)")
            }
        }
    }

    public func number(_ key: String, default value: Double, min: Double? = nil, max: Double? = nil,
                       positive: Bool = false) throws -> Double {
        guard let node = mapping[key] else { return value }
        guard let x = node.float, x.isFinite else {
            throw SimError("\(location(key)): '\(node.string ?? "")' is not a number (SI units: m, kg, s, N, rad)")
        }
        if positive && x <= 0 { throw SimError("\(location(key)): \(x) must be positive") }
        if let min, x < min { throw SimError("\(location(key)): \(x) is below \(min)") }
        if let max, x > max { throw SimError("\(location(key)): \(x) is above \(max)") }
        return x
    }

    public func numbers(_ key: String, count: Int, default value: [Double]) throws -> [Double] {
        guard let node = mapping[key] else { return value }
        guard let list = node.sequence, list.count == count else {
            throw SimError("\(location(key)): expected a list of \(count) numbers")
        }
        return try list.map { item in
            guard let x = item.float, x.isFinite else { throw SimError("\(location(key)): '\(item.string ?? "")' is not a number") }
            return x
        }
    }

    public func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let node = mapping[key] else { return value }
        guard let b = node.bool else { throw SimError("\(location(key)): expected true or false") }
        return b
    }

    /// A list of mappings (e.g. obstacles), each handed to `read` with its
    /// own location prefix for errors.
    public func list<T>(_ key: String, default value: [T], _ read: (Node.Mapping, String) throws -> T) throws -> [T] {
        guard let node = mapping[key] else { return value }
        guard let items = node.sequence else { throw SimError("\(location(key)): expected a list") }
        return try items.enumerated().map { i, item in
            let here = "\(path)\(item.mark.map { ":\($0.line)" } ?? ""): simulator.\(key)[\(i)]"
            guard let m = item.mapping else { throw SimError("\(here): expected a mapping") }
            return try read(m, here)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

func readTextFile(_ path: String) throws -> String {
    guard let file = fopen(path, "rb") else { throw SimError("no such file or not readable") }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n <= 0 { break }
        bytes += chunk[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}
