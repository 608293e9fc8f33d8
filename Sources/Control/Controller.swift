import Coding
import Neural

/// Looks at the network after each step of a tick, without changing it.
public protocol StepTap: AnyObject {
    func afterStep(_ network: Network, offset: Int)
}

/// The controller proper (ros2_control's "update"): one tick turns sensor
/// values into decoded motor values through encoders, `stepsPerTick` network
/// steps and decoders. It owns no I/O and no clock, so the same object runs
/// in the daemon, in replay and in offline checks, with identical results.
public final class Controller {
    public let network: Network
    public let stepsPerTick: Int
    private let encoders: ObjectTable<Encoder>
    /// Sensor index read by each encoder.
    private let encoderSensor: [Int]
    private let decoders: ObjectTable<Decoder>
    /// Motor index written by each decoder.
    private let decoderMotor: [Int]
    public let sensorCount: Int
    public let motorCount: Int
    public private(set) var ticks: Int64 = 0
    /// Sees the network after every step (the session recorder's spikes and
    /// probes); nil costs one branch per step.
    public var stepTap: StepTap?

    public init(robot: RobotDescription, network spec: NetworkSpec, encoders: [EncoderSpec], decoders: [DecoderSpec],
                stepsPerTick: Int) throws {
        let net = try Network(spec)
        network = net
        self.stepsPerTick = stepsPerTick
        sensorCount = robot.sensors.count
        motorCount = robot.motors.count
        self.encoders = ObjectTable(try encoders.map { try Encoder($0, network: net, stepsPerTick: stepsPerTick, seed: spec.seed) })
        encoderSensor = encoders.map { e in robot.sensors.firstIndex { $0.name == e.channel }! }
        self.decoders = ObjectTable(try decoders.map { try Decoder($0, network: net, stepsPerTick: stepsPerTick) })
        decoderMotor = decoders.map { d in robot.motors.firstIndex { $0.name == d.channel }! }
    }

    public convenience init(_ config: ControllerConfiguration) throws {
        try self.init(robot: config.robot, network: config.network, encoders: config.encoders,
                      decoders: config.decoders, stepsPerTick: config.loop.stepsPerTick)
    }

    /// One tick: `sensors` in layout order in, decoded `motors` in layout order out.
    public func tick(sensors: UnsafePointer<Float>, motors: UnsafeMutablePointer<Float>) {
        encoderSensor.withUnsafeBufferPointer { input in
            for i in 0..<encoders.count { encoders.with(i) { $0.begin(value: sensors[input[i]]) } }
        }
        for k in 0..<stepsPerTick {
            encoders.forEach { $0.drive(step: k) }
            network.step()
            decoders.forEach { $0.observe() }
            stepTap?.afterStep(network, offset: k)
        }
        decoderMotor.withUnsafeBufferPointer { output in
            for i in 0..<decoders.count { decoders.with(i) { motors[output[i]] = $0.value() } }
        }
        ticks += 1
    }

    /// The decoders' specs, in the order ``retune(_:)`` takes them.
    public var decoderSpecs: [DecoderSpec] { decoders.objects.map(\.spec) }

    /// Why `specs` (one per decoder, in ``decoderSpecs`` order) cannot be
    /// taken by the running decoders; empty when they can.
    public func retuneProblems(_ specs: [DecoderSpec]) -> [String] {
        guard specs.count == decoders.count else { return ["decoders: \(decoders.count) became \(specs.count)"] }
        return zip(decoders.objects, specs).compactMap { $0.retuneProblem($1) }
    }

    /// Takes the decoders' new mapping parameters between ticks; the replaced
    /// specs come back in `specs`. Allocates nothing.
    public func retune(_ specs: inout [DecoderSpec]) {
        for i in 0..<min(specs.count, decoders.count) { decoders.objects[i].retune(&specs[i]) }
    }

    /// Back to the state right after start-up: network, encoders and decoders.
    public func reset() {
        network.restoreInitialState()
        encoders.forEach { $0.reset() }
        decoders.forEach { $0.reset() }
        ticks = 0
    }
}
