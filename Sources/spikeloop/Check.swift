import ArgumentParser
import Control
import Daemon
import NetworkFile
import Recording

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a controller configuration without running it.",
        discussion: """
        Validates the configuration, the robot description and the network it names: units, \
        ranges, that the tick period is a whole number of network steps, that every sensor and \
        motor channel is mapped exactly once, endpoints, files. Prints every problem with file, \
        line, key path and what would be valid. Exit code 0 when valid, 1 otherwise.
        """
    )

    @Option(help: "The controller configuration (YAML).")
    var config: String

    func run() throws {
        do {
            let c = try ControllerConfiguration.load(path: config)
            let controller = try Controller(c)
            print("\(config): valid")
            print("  robot      \(c.robot.name): \(c.robot.sensors.count) sensors, \(c.robot.motors.count) motors")
            print("  network    \(controller.network.neuronCount) neurons, \(controller.network.connectionsDescription), dt \(c.network.dt) ms")
            let populations = c.network.populations.map { p -> String in
                if case .layer(let l) = p.model { return "\(p.name) (\(p.size), \(l.kind.rawValue))" }
                return "\(p.name) (\(p.size), \(p.model.name))"
            }
            print("  populations \(populations.joined(separator: ", "))")
            print("  loop       \(c.loop.mode.rawValue), \(c.loop.tickRate) Hz, \(c.loop.stepsPerTick) steps per tick")
            print("  endpoints  frames \(c.endpoints.frames)" + (c.endpoints.commands.map { ", commands \($0)" } ?? "") + ", control \(c.endpoints.control)")
            if let path = c.persistence.weights {
                // A file that does not fit is not an error of the configuration: the daemon refuses it and starts anyway.
                var state = "not there yet"
                if WeightStore.exists(path) {
                    do { state = "present, fits (crc \(WeightSnapshot.describe(crc: try WeightStore.read(path, layout: WeightLayout(controller.network)).crc ?? 0)))" } catch {
                        state = "present but would be refused: \(error)"
                    }
                }
                print("  weights    \(path): \(state); " + (c.persistence.saveOnShutdown ? "saved on shutdown" : "saved on request only"))
            }
        } catch let e as ConfigurationError {
            print(e.description)
            throw ExitCode(1)
        }
    }
}
