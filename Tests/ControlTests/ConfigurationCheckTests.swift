import Control
import Foundation
import NetworkFile
import Testing

/// `spikeloop check`: each broken configuration is refused with file, line,
/// key path and what would be valid.
@Suite struct ConfigurationCheckTests {
    static let source = try! String(contentsOf: fixtures.appendingPathComponent("controller.yaml"), encoding: .utf8)

    func problems(_ edit: (String, String)?, extra: String = "") throws -> [String] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slcheck-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("robot.yaml"), to: dir.appendingPathComponent("robot.yaml"))
        var text = Self.source
        if let edit {
            #expect(text.contains(edit.0), "edit does not apply: \(edit.0)")
            text = text.replacingOccurrences(of: edit.0, with: edit.1)
        }
        let path = dir.appendingPathComponent("c.yaml").path
        try (text + extra).write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try ControllerConfiguration.load(path: path)
            return []
        } catch let e as ConfigurationError {
            return e.problems.map { $0.description.replacingOccurrences(of: dir.path + "/", with: "") }
        }
    }

    @Test func goodConfigurationPasses() throws {
        #expect(try problems(nil) == [])
    }

    @Test(arguments: [
        ("tick rate not a whole number of steps", ("tick_rate: 1 kHz", "tick_rate: 3 kHz"),
         "c.yaml:29: loop.tick_rate: a tick of 0.3333333333333333 ms is not a whole number of steps of dt = 0.1 ms (3.333333333333333); choose tick_rate and dt so that period/dt is an integer"),
        ("unknown loop mode", ("mode: lockstep", "mode: lockstp"),
         "c.yaml:28: loop.mode: 'lockstp' is not valid; valid: lockstep, realtime"),
        ("watchdog without unit", ("watchdog_timeout: 100 ms", "watchdog_timeout: 100"),
         "c.yaml:30: loop.watchdog_timeout: '100' has no unit; a time needs one of s, ms, us, e.g. '10 ms'"),
        ("sensor mapped twice", ("sensor: joint2.angle", "sensor: joint1.angle"),
         "c.yaml:37: encoders[1].sensor: sensor 'joint1.angle' is mapped twice; map each sensor exactly once\nc.yaml:36: encoders: sensor 'joint2.angle' has no encoder; map every sensor once (kind: ignore to leave one unused)"),
        ("motor not mapped", ("  - {motor: joint2.torque, kind: filtered_rate, population: extensor, tau: 10 ms, max_rate: 200 Hz}\n", ""),
         "c.yaml:39: decoders: motor 'joint2.torque' has no decoder; map every motor exactly once"),
        ("unknown sensor", ("sensor: joint2.angle", "sensor: joint3.angle"),
         "c.yaml:37: encoders[1].sensor: the robot has no sensor 'joint3.angle'; sensors: joint1.angle, joint2.angle\nc.yaml:36: encoders: sensor 'joint2.angle' has no encoder; map every sensor once (kind: ignore to leave one unused)"),
        ("malformed endpoint", ("frames: ipc:///tmp/spikeloop-closed-loop-frames", "frames: tcp://127.0.0.1"),
         "c.yaml:33: endpoints.frames: 'tcp://127.0.0.1' needs a host and a port 1–65535, e.g. tcp://127.0.0.1:5555"),
        ("public endpoint without CURVE", ("frames: ipc:///tmp/spikeloop-closed-loop-frames", "frames: tcp://0.0.0.0:5555"),
         nil),
        ("missing robot file", ("robot: robot.yaml", "robot: nowhere.yaml"),
         "c.yaml:4: robot: cannot read the robot description 'nowhere.yaml'"),
        ("encoder kind unknown", ("kind: receptive_fields", "kind: receptive_field"),
         "c.yaml:36: encoders[0].kind: 'receptive_field' is not valid; valid: rate, receptive_fields, latency, send_on_delta, current, ignore"),
        ("decoder population missing", ("opposing: extensor", "opposing: antagonist"),
         nil),
        ("encoder on the wrong model", ("kind: current, population: drive", "kind: current, population: fields"),
         nil),
        ("busy wait as long as the period", ("auto_resume: true", "auto_resume: true\n  realtime: {busy_wait: 1 ms}"),
         "c.yaml:32: loop.realtime.busy_wait: busy_wait (1.0 ms) must be shorter than the tick period (1.0 ms); a few tens of µs, e.g. busy_wait: 50 us"),
        ("realtime without a commands endpoint", ("mode: lockstep", "mode: realtime"),
         "c.yaml:33: endpoints.commands: missing; realtime mode publishes motor commands on it, e.g. commands: tcp://127.0.0.1:5556"),
    ] as [(String, (String, String), String?)])
    func brokenConfigurationIsRefused(name: String, edit: (String, String), expected: String?) throws {
        let found = try problems(edit)
        #expect(!found.isEmpty, "\(name): accepted")
        if let expected {
            #expect(found == expected.components(separatedBy: "\n"), "\(name)")
        } else {
            // Messages from other modules: check the key path is named.
            #expect(found.count == 1, "\(name): \(found)")
        }
    }
}
