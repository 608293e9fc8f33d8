import Control
import Foundation
import NetworkFile
import Testing

/// `persistence:` in a controller configuration: where the weights file is,
/// and each mistake reported with file, line and key path.
@Suite(.serialized) struct PersistenceConfigurationTests {
    /// The closed-loop fixture plus `section`, in a fresh directory.
    func load(_ section: String, stateDirectory: String? = nil) throws -> (ControllerConfiguration?, [String], String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slpersist-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: fixtures.appendingPathComponent("robot.yaml").path, toPath: dir + "/robot.yaml")
        let text = try String(contentsOf: fixtures.appendingPathComponent("controller.yaml"), encoding: .utf8)
        try (text + section).write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        if let stateDirectory { setenv("STATE_DIRECTORY", stateDirectory, 1) } else { unsetenv("STATE_DIRECTORY") }
        defer { unsetenv("STATE_DIRECTORY") }
        do {
            return (try ControllerConfiguration.load(path: dir + "/c.yaml"), [], dir)
        } catch let e as ConfigurationError {
            return (nil, e.problems.map { $0.description.replacingOccurrences(of: dir + "/", with: "") }, dir)
        }
    }

    var line: Int { try! String(contentsOf: fixtures.appendingPathComponent("controller.yaml"), encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).count }

    @Test func relativeToTheConfigurationOrTheStateDirectory() throws {
        let (plain, _, dir) = try load("persistence: {weights: w.slw}\n")
        #expect(plain?.persistence == .init(weights: dir + "/w.slw", saveOnShutdown: true))
        let (none, _, _) = try load("")
        #expect(none?.persistence == .init(weights: nil, saveOnShutdown: true))
        let state = FileManager.default.temporaryDirectory.path
        let (service, _, _) = try load("persistence:\n  weights: w.slw\n  save_on_shutdown: false\n", stateDirectory: state + ":/elsewhere")
        #expect(service?.persistence == .init(weights: state + "/w.slw", saveOnShutdown: false))
        let (absolute, _, _) = try load("persistence: {weights: /tmp/w.slw}\n", stateDirectory: state)
        #expect(absolute?.persistence.weights == "/tmp/w.slw")
    }

    @Test func mistakesAreReportedWithTheirKeyPath() throws {
        #expect(try load("persistence: {weight: w.slw}\n").1
            == ["c.yaml:\(line): persistence.weight: unknown key 'weight'; valid keys: weights, save_on_shutdown"])
        #expect(try load("persistence: {weights: nowhere/w.slw}\n").1
            == ["c.yaml:\(line): persistence.weights: the directory 'nowhere' of 'nowhere/w.slw' does not exist; weights are saved there (relative paths are resolved against $STATE_DIRECTORY when set, else this file's directory)"])
        #expect(try load("persistence: {weights: w.slw, save_on_shutdown: sometimes}\n").1.count == 1)
        #expect(try load("persistence: {weights: 'state/'}\n").1
            == ["c.yaml:\(line): persistence.weights: 'state/' is not a file name; e.g. weights: weights.slw (in $STATE_DIRECTORY, else beside this file)"])
    }
}
