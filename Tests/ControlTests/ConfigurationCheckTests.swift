import Control
import Foundation
import NetworkFile
import Testing
import Wire

/// `spikeloop check`: each broken configuration is refused with file, line,
/// key path and what would be valid.
@Suite struct ConfigurationCheckTests {
    static let source = try! String(contentsOf: fixtures.appendingPathComponent("controller.yaml"), encoding: .utf8)

    func problems(_ edit: (String, String)?, extra: String = "", prepare: (URL) throws -> Void = { _ in }) throws -> [String] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slcheck-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("robot.yaml"), to: dir.appendingPathComponent("robot.yaml"))
        let keys = try CurveKeyPair.generate()
        try keys.write(directory: dir.path, name: "server")
        try prepare(dir)
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
         "c.yaml:4: robot: cannot read the robot description 'nowhere.yaml': No such file or directory"),
        ("a device as the robot description", ("robot: robot.yaml", "robot: /dev/zero"),
         "c.yaml:4: robot: cannot read the robot description '/dev/zero': not a regular file (a character device); give the path of a file"),
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
        ("control on tcp loopback without CURVE", ("control: ipc:///tmp/spikeloop-closed-loop-control", "control: tcp://127.0.0.1:5999"),
         "c.yaml:34: endpoints.control: tcp://127.0.0.1:5999 lets every user of this machine pause the loop and write files; use ipc:// (only the daemon's user and group can connect) or CURVE keys, or set insecure: true"),
        ("a host name libzmq cannot bind", ("frames: ipc:///tmp/spikeloop-closed-loop-frames", "frames: tcp://localhost:5999"),
         "c.yaml:33: endpoints.frames: 'tcp://localhost:5999': localhost is not an IP address or a network interface of this machine, which is what a bound endpoint needs (host names are not resolved), e.g. tcp://127.0.0.1:5999 or tcp://[::1]:5999"),
        ("a source address on a bound endpoint", ("frames: ipc:///tmp/spikeloop-closed-loop-frames", "frames: tcp://0.0.0.0;127.0.0.1:5999"),
         "c.yaml:33: endpoints.frames: 'tcp://0.0.0.0;127.0.0.1:5999': a source address (SOURCE;ADDRESS) is for connecting; the daemon binds, give one address, e.g. tcp://127.0.0.1:5999"),
        ("CURVE without client keys", ("control: ipc:///tmp/spikeloop-closed-loop-control", "control: ipc:///tmp/spikeloop-closed-loop-control\n  curve_secret_key: server.secret"),
         "c.yaml:33: endpoints.curve_client_keys: missing; with curve_secret_key, give a directory of the client public keys (*.public) allowed in — without it any client that knows the server's public key gets in"),
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

    /// CURVE keys: the secret key file is its owner's only and is not a
    /// public key; a listed client key is read from the directory.
    @Test func curveKeyFilesAreChecked() throws {
        let curve = ("control: ipc:///tmp/spikeloop-closed-loop-control",
                     "control: ipc:///tmp/spikeloop-closed-loop-control\n  curve_secret_key: server.secret\n  curve_client_keys: clients")
        func clients(_ dir: URL) throws {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("clients"), withIntermediateDirectories: true)
            try CurveKeyPair.generate().write(directory: dir.appendingPathComponent("clients").path, name: "operator")
        }
        #expect(try problems(curve, prepare: clients) == [])
        let readable = try problems(curve) { dir in
            try clients(dir)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: dir.appendingPathComponent("server.secret").path)
        }
        #expect(readable.count == 1 && readable[0].contains("server.secret can be read or written by others (mode 644)"), "\(readable)")
        let swapped = try problems((curve.0, curve.1.replacingOccurrences(of: "server.secret", with: "server.public")), prepare: clients)
        #expect(swapped.contains { $0.contains("server.public is a public key file") }, "\(swapped)")
        let empty = try problems(curve) { dir in
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("clients"), withIntermediateDirectories: true)
        }
        #expect(empty.count == 1 && empty[0].contains("holds no *.public file"), "\(empty)")
    }
}

/// Times libFuzzer's harness showed trapping in a conversion to nanoseconds
/// (Fuzz/Regressions/fuzz-configuration): refused with the bound.
@Suite struct ConfigurationFuzzRegressionTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/Regressions/fuzz-configuration")

    @Test(arguments: [
        ("fuzz-configuration-manual-watchdog-1e300s.yaml", "loop.watchdog_timeout: '1e300 s' is too large; at most 1 h"),
        ("fuzz-configuration-manual-status-interval-1e300s.yaml", "log.status_interval: '1e300 s' is too large; at most 1 day"),
    ])
    func hugeTimesAreRefused(name: String, expected: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slfuzz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: Self.folder.appendingPathComponent(name), to: dir.appendingPathComponent("c.yaml"))
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("robot.yaml"), to: dir.appendingPathComponent("robot.yaml"))
        do {
            _ = try ControllerConfiguration.load(path: dir.appendingPathComponent("c.yaml").path)
            Issue.record("accepted")
        } catch let e as ConfigurationError {
            #expect(e.problems.contains { $0.description.contains(expected) }, "\(e.problems.map(\.description))")
        }
    }
}
