import ArgumentParser
import Coding
import Control
import Foundation
import Neural
import NetworkFile

struct Offline: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a controller on sensor values from a CSV file, without sockets or clock.",
        discussion: """
        Reads one row of sensor values per tick (columns in the robot's sensor order; a header \
        row is skipped), runs encoders → network → decoders for each tick exactly as the daemon \
        does in lockstep, and writes one row of decoded motor values per tick, clamped to the \
        motors' ranges. With --bits, values are read and written as float32 bit patterns \
        (8 hex digits), so that results can be compared bit for bit.
        """
    )

    @Option(help: "The controller configuration (YAML).")
    var config: String

    @Option(help: "Sensor values, one row per tick.")
    var sensors: String

    @Option(help: "Where to write the motor values (default: stdout).")
    var motors: String?

    @Flag(help: "Read and write float32 bit patterns in hex instead of decimals.")
    var bits = false

    func run() throws {
        let c: ControllerConfiguration
        do { c = try ControllerConfiguration.load(path: config) } catch let e as ConfigurationError {
            throw CommandError("the configuration is not valid.\n\(e.description)")
        }
        // Built here from the engine's parts rather than through the daemon's
        // Controller, so that this is an independent check of the daemon.
        let network = try Network(c.network)
        let steps = c.loop.stepsPerTick
        let encoders = try c.encoders.map { try Encoder($0, network: network, stepsPerTick: steps, seed: c.network.seed) }
        let encoderInput = c.encoders.map { e in c.robot.sensors.firstIndex { $0.name == e.channel }! }
        let decoders = try c.decoders.map { try Decoder($0, network: network, stepsPerTick: steps) }
        let decoderOutput = c.decoders.map { d in c.robot.motors.firstIndex { $0.name == d.channel }! }

        let text = try String(contentsOfFile: sensors, encoding: .utf8)
        var out = c.robot.motors.map(\.name).joined(separator: ",") + "\n"
        var values = [Float](repeating: 0, count: c.robot.motors.count)
        for (n, line) in text.split(separator: "\n").enumerated() {
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let row: [Float] = fields.compactMap { bits ? UInt32($0, radix: 16).map(Float.init(bitPattern:)) : Float($0) }
            if row.count != fields.count || row.count != c.robot.sensors.count {
                if n == 0 { continue }  // header
                throw CommandError("\(sensors):\(n + 1): expected \(c.robot.sensors.count) values (\(c.robot.sensors.map(\.name).joined(separator: ", "))), got '\(line)'")
            }
            for (i, e) in encoders.enumerated() { e.begin(value: row[encoderInput[i]]) }
            for k in 0..<steps {
                for e in encoders { e.drive(step: k) }
                network.step()
                for d in decoders { d.observe() }
            }
            for (i, d) in decoders.enumerated() {
                let m = c.robot.motors[decoderOutput[i]]
                values[decoderOutput[i]] = min(m.max, max(m.min, d.value()))
            }
            out += values.map { bits ? String(format: "%08x", $0.bitPattern) : "\($0)" }.joined(separator: ",") + "\n"
        }
        if let motors { try writeFile(motors, out) } else { print(out, terminator: "") }
    }
}
