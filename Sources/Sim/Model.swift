// What every built-in simulator is: a robot with wire channels, a seeded
// reset, an integrator step per control period, a reward, and an episode.

/// A simulated robot. `advance` and the read-outs allocate nothing; the
/// runner is generic over the model, so nothing is dispatched dynamically
/// per tick.
public protocol SimModel: AnyObject {
    /// The `simulator.model` name in robot files.
    static var modelName: String { get }
    /// The sensor channels in wire order (names and units the robot file must repeat).
    static var sensors: [SimChannel] { get }
    /// The motor channels in wire order.
    static var motors: [SimChannel] { get }
    /// Columns of the state read-out (CSV).
    static var stateNames: [String] { get }

    /// A model with parameters from the robot file's `simulator:` mapping.
    init(parameters: SimParameters) throws

    /// State components an episode can start from exactly (`simulator.initial_state`).
    static var initialStateKeys: [String] { get }
    /// The robot file's `simulator:` keys (checked by `init(parameters:)`).
    static var parameterKeys: [String] { get }

    /// Starts an episode: initial state drawn from a generator seeded with
    /// `seed`, time and episode statistics zeroed.
    func reset(seed: UInt64)
    /// As `reset(seed:)`, with the components in `initial` set exactly.
    func reset(seed: UInt64, initial: [String: Double])
    /// Holds `motors` (in motor units, already within the actuator limits)
    /// for `period` seconds, integrated in `substeps` RK4 steps.
    func advance(motors: UnsafePointer<Float>, period: Double, substeps: Int)
    /// Sensor values in wire order, in sensor units (not yet clamped to the
    /// file's ranges).
    func readSensors(into values: UnsafeMutablePointer<Float>)
    /// The state, one value per `stateNames` entry.
    func readState(into values: UnsafeMutablePointer<Double>)
    /// Reward of the last `advance`.
    var reward: Double { get }
    /// Whether the episode has failed (and must end).
    var failed: Bool { get }
    /// Episode statistics so far: (label, value, unit), in print order.
    func statistics() -> [SimStatistic]
}

/// A model whose state is one vector, in `initialStateKeys` order, and that
/// starts from any such vector: `initial_state` is then the same for all.
public protocol VectorStateModel: SimModel {
    associatedtype State: SIMD where State.Scalar == Double
    var state: State { get }
    func reset(state: State)
}

extension VectorStateModel {
    public func reset(seed: UInt64, initial: [String: Double]) {
        reset(seed: seed)
        guard !initial.isEmpty else { return }
        var s = state
        for (i, key) in Self.initialStateKeys.enumerated() { if let x = initial[key] { s[i] = x } }
        reset(state: s)
    }
}

/// One number of an episode summary.
public struct SimStatistic: Sendable, Equatable {
    public var key: String
    public var value: Double
    public var unit: String
    public init(_ key: String, _ value: Double, _ unit: String = "") {
        self.key = key; self.value = value; self.unit = unit
    }
}

/// The models `spikeloop sim` knows, by `simulator.model` name.
public var simModels: [any SimModel.Type] { [CartPole.self, Pendulum.self, DiffDrive.self] }

public func simModel(named name: String) -> (any SimModel.Type)? {
    simModels.first { $0.modelName == name }
}
