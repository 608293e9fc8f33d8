import ArgumentParser
import Control
import Foundation
import Histogram
import NetworkFile

extension Bench {
    struct Tick: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tick",
            abstract: "The controller's compute time per tick (encoders, network steps, decoders), without sockets.",
            discussion: """
            Builds the controller of --config and runs it on sensor values that sweep each \
            channel's range (a sine per channel, each at its own frequency), on one thread \
            with nothing else to do. Prints the median and p99 time per tick and per network \
            step, and the share of the tick period it uses. This is the compute part of a \
            lockstep round trip and of a realtime tick; 'bench latency' shows it beside the \
            wire.

            Example:
              spikeloop bench tick --config Config/cartpole.yaml
            """
        )

        @Option(help: "The controller configuration (YAML).")
        var config: String

        @Option(help: "Ticks to time (after a warm-up of a tenth as many).")
        var ticks: Int = 100_000

        @Option(help: "Pin the thread to this CPU.")
        var cpu: Int?

        func run() throws {
            guard ticks >= 100 else { throw ValidationError("--ticks must be at least 100") }
            let c: ControllerConfiguration
            do { c = try ControllerConfiguration.load(path: config) } catch let e as ConfigurationError {
                throw CommandError("the configuration is not valid.\n\(e.description)")
            }
            if let cpu, let w = RealtimeSetup.pin(cpu: cpu) { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
            let controller = try Controller(c)
            let sensors = UnsafeMutablePointer<Float>.allocate(capacity: max(1, controller.sensorCount))
            let motors = UnsafeMutablePointer<Float>.allocate(capacity: max(1, controller.motorCount))
            defer { sensors.deallocate(); motors.deallocate() }
            let channels = c.robot.sensors
            let period = 1 / c.loop.tickRate
            var histogram = Histogram<UInt64>(highestTrackableValue: 10_000_000_000, numberOfSignificantValueDigits: .three)
            let clock = MonotonicClock()
            let warmup = ticks / 10
            for t in 0..<(warmup + ticks) {
                let time = Double(t) * period
                for (i, s) in channels.enumerated() {
                    // Slow sweeps (0.1 Hz, 0.13 Hz, …) so receptive fields see every value.
                    let frequency: Double = 0.1 + 0.03 * Double(i)
                    let wave: Double = 0.5 + 0.45 * sin(2 * Double.pi * frequency * time)
                    sensors[i] = Float(Double(s.min) + Double(s.max - s.min) * wave)
                }
                let start = clock.now()
                controller.tick(sensors: sensors, motors: motors)
                let end = clock.now()
                if t >= warmup { _ = histogram.record(UInt64(end - start)) }
            }
            let steps = Double(controller.stepsPerTick)
            let p50 = Double(histogram.valueAtPercentile(50)), p99 = Double(histogram.valueAtPercentile(99))
            print("controller   \(config): \(controller.network.neuronCount) neurons, \(controller.network.connectionsDescription), "
                  + "\(controller.stepsPerTick) steps per tick at \(String(format: "%g", c.loop.tickRate)) Hz")
            print(String(format: "per tick     p50 %.2f µs, p99 %.2f µs, max %.2f µs (%d ticks)",
                         p50 / 1000, p99 / 1000, Double(histogram.max) / 1000, ticks))
            print(String(format: "per step     p50 %.0f ns", p50 / steps))
            print(String(format: "of period    %.2f %% at p50, %.2f %% at p99", p50 / (period * 1e9) * 100, p99 / (period * 1e9) * 100))
        }
    }
}
