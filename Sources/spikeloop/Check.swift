import ArgumentParser
import Control
import NetworkFile

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
            print("  network    \(controller.network.neuronCount) neurons, \(controller.network.synapseCount) synapses, dt \(c.network.dt) ms")
            print("  loop       \(c.loop.mode.rawValue), \(c.loop.tickRate) Hz, \(c.loop.stepsPerTick) steps per tick")
            print("  endpoints  frames \(c.endpoints.frames)" + (c.endpoints.commands.map { ", commands \($0)" } ?? "") + ", control \(c.endpoints.control)")
        } catch let e as ConfigurationError {
            print(e.description)
            throw ExitCode(1)
        }
    }
}
