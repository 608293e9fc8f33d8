// The robot side of the protocol, driven by a simulator model: lockstep (REQ
// to the daemon's REP, simulated time) and realtime (PUB/SUB, paced by the
// wall clock). Everything a tick touches is allocated before the first tick.

#if canImport(Glibc)
import Glibc
#endif
import SwiftProtobuf
import Wire

public struct SimOptions: Sendable {
    /// Control rate: frames per simulated second (one tick of the daemon per frame).
    public var rate: Double = 1000
    /// Simulated seconds per episode (an episode also ends on failure).
    public var duration: Double = 20
    public var episodes: Int = 1
    /// Episode k (from 0) starts from seed `seed + k`.
    public var seed: UInt64 = 1
    /// Smallest integration rate: each control period is split into
    /// ceil(physicsRate / rate) RK4 substeps.
    public var physicsRate: Double = 1000
    /// Lockstep: how long to wait for a command before giving up.
    public var timeoutMilliseconds: Int32 = 5000
    /// Lockstep: introduce ourselves with a Hello first (the daemon checks the layout).
    public var hello = true
    /// Per-tick state as CSV.
    public var csvPath: String? = nil

    public init() {}

    public var periodNanoseconds: Int64 { Int64((1e9 / rate).rounded()) }
    public var period: Double { Double(periodNanoseconds) / 1e9 }
    public var substeps: Int { max(1, Int((physicsRate / rate - 1e-9).rounded(.up))) }
    public var ticksPerEpisode: Int { max(1, Int((duration * rate).rounded())) }
}

/// What one episode did.
public struct SimEpisodeResult: Sendable {
    public var episode: Int
    public var seed: UInt64
    public var steps: Int
    public var simulatedSeconds: Double
    public var wallSeconds: Double
    public var failed: Bool
    public var statistics: [SimStatistic]
    /// Commands that answered another frame than the one just sent (lockstep),
    /// or that arrived out of order (realtime).
    public var sequenceErrors: Int
    /// Commands that did not decode or had the wrong number of values (held the previous command).
    public var badCommands: Int
    /// Ticks in which the daemon's command had safe_stop set.
    public var safeStopTicks: Int
    /// Sensor values clamped to their channel's range before sending (after disturbances).
    public var saturatedValues: Int
    /// Pushes begun (simulator.disturbances.push).
    public var pushes: Int = 0
    /// The plant parameters drawn for this episode (simulator.randomize).
    public var parameters: [(String, Double)] = []
    /// Realtime: commands received, and the largest age of the applied command in ticks.
    public var commandsReceived: Int
    public var maxCommandAge: Int

    public func statistic(_ key: String) -> Double? { statistics.first { $0.key == key }?.value }
}

/// A simulator connected to the daemon as its robot.
public final class SimRobot<Model: SimModel> {
    public private(set) var model: Model
    public let robot: RobotFile
    public let layout: Spikeloop_V1_RobotLayout
    public let options: SimOptions

    private let sensorCount: Int, motorCount: Int
    private let frame: SensorFrameBuffer
    private let command: MotorCommandBuffer
    private let sensorValues: UnsafeMutablePointer<Float>
    private let motorValues: UnsafeMutablePointer<Float>
    private let sensorMin: UnsafeMutablePointer<Float>, sensorMax: UnsafeMutablePointer<Float>
    private let motorMin: UnsafeMutablePointer<Float>, motorMax: UnsafeMutablePointer<Float>
    private let motorSafe: UnsafeMutablePointer<Float>
    /// What the plant gets: the command after the actuator delay, plus pushes.
    private let appliedValues: UnsafeMutablePointer<Float>
    private let disturbances: DisturbanceState
    private let disturbed: Bool
    private let conditions: EpisodeConditions
    private let stateValues: UnsafeMutablePointer<Double>
    private let sendBuffer: UnsafeMutableRawBufferPointer
    private let receiveBuffer: UnsafeMutableRawBufferPointer
    private var csv: CSVWriter?
    private var sequence: UInt64 = 0
    private var tick: Int64 = 0
    private var current = SimEpisodeResult(episode: 0, seed: 0, steps: 0, simulatedSeconds: 0, wallSeconds: 0,
                                           failed: false, statistics: [], sequenceErrors: 0, badCommands: 0,
                                           safeStopTicks: 0, saturatedValues: 0, commandsReceived: 0, maxCommandAge: 0)

    /// Checks the robot file's channels against the model.
    public init(model: Model, robot: RobotFile, options: SimOptions) throws {
        try robot.check(sensors: Model.sensors, motors: Model.motors, model: Model.modelName)
        guard options.rate > 0, options.rate.isFinite else { throw SimError("the control rate must be positive") }
        guard options.episodes >= 1 else { throw SimError("at least one episode is needed") }
        self.model = model
        self.robot = robot
        self.layout = robot.layout
        self.options = options
        sensorCount = robot.sensors.count
        motorCount = robot.motors.count
        frame = SensorFrameBuffer(capacity: sensorCount)
        command = MotorCommandBuffer(capacity: motorCount + 1)
        sensorValues = .allocate(capacity: sensorCount); sensorValues.initialize(repeating: 0, count: sensorCount)
        motorValues = .allocate(capacity: motorCount); motorValues.initialize(repeating: 0, count: motorCount)
        sensorMin = .allocate(capacity: sensorCount); sensorMax = .allocate(capacity: sensorCount)
        for (i, s) in robot.sensors.enumerated() { sensorMin[i] = s.min; sensorMax[i] = s.max }
        motorMin = .allocate(capacity: motorCount); motorMax = .allocate(capacity: motorCount)
        motorSafe = .allocate(capacity: motorCount)
        for (i, m) in robot.motors.enumerated() { motorMin[i] = m.min; motorMax[i] = m.max; motorSafe[i] = m.safe }
        appliedValues = .allocate(capacity: motorCount); appliedValues.initialize(repeating: 0, count: motorCount)
        let spec = try Disturbances(robot.simulator, sensors: robot.sensors.map(\.name), motors: robot.motors.map(\.name))
        disturbances = DisturbanceState(spec, sensors: sensorCount, motors: motorCount)
        disturbed = !spec.isEmpty
        conditions = try EpisodeConditions(robot.simulator, model: Model.self)
        stateValues = .allocate(capacity: max(1, Model.stateNames.count))
        stateValues.initialize(repeating: 0, count: max(1, Model.stateNames.count))
        sendBuffer = .allocate(byteCount: 64 + 5 * sensorCount, alignment: 16)
        receiveBuffer = .allocate(byteCount: 64 * 1024, alignment: 16)
        if let path = options.csvPath {
            let writer = try CSVWriter(path: path)
            csv = writer
            writer.header(["episode", "tick", "time_s"] + Model.stateNames + robot.motors.map(\.name) + ["reward"])
        }
    }

    deinit {
        sensorValues.deallocate(); motorValues.deallocate()
        sensorMin.deallocate(); sensorMax.deallocate()
        motorMin.deallocate(); motorMax.deallocate(); motorSafe.deallocate(); appliedValues.deallocate()
        stateValues.deallocate()
        sendBuffer.deallocate(); receiveBuffer.deallocate()
    }

    // MARK: - Shared per tick

    private func beginEpisode(_ episode: Int) throws {
        let seed = options.seed &+ UInt64(episode)
        let parameters = conditions.draw(seed: seed)
        if !parameters.isEmpty { model = try Model(parameters: robot.simulator.setting(parameters)) }
        model.reset(seed: seed, initial: conditions.initialState)
        for i in 0..<motorCount { motorValues[i] = motorSafe[i] }
        disturbances.reset(seed: seed, safe: motorSafe)
        current = SimEpisodeResult(episode: episode, seed: seed, steps: 0, simulatedSeconds: 0, wallSeconds: 0,
                                   failed: false, statistics: [], sequenceErrors: 0, badCommands: 0,
                                   safeStopTicks: 0, saturatedValues: 0, commandsReceived: 0, maxCommandAge: 0)
        current.parameters = parameters
    }

    /// Fills `frame` with the model's sensors (clamped to the channel ranges)
    /// and encodes it; returns the message.
    @inline(__always)
    private func encodeFrame(firstOfEpisode: Bool) -> UnsafeRawBufferPointer {
        model.readSensors(into: sensorValues)
        if disturbed { disturbances.sense(sensorValues) }
        sequence += 1
        frame.reset()
        frame.protocolVersion = wireProtocolVersion
        frame.layoutHash = layout.layoutHash
        frame.sequence = sequence
        frame.senderTimeNs = monotonicNanoseconds()
        frame.simTimeNs = tick &* options.periodNanoseconds
        frame.valueCount = sensorCount
        for i in 0..<sensorCount {
            var v = sensorValues[i]
            if !(v >= sensorMin[i]) { v = sensorMin[i]; current.saturatedValues += 1 }  // also NaN
            else if v > sensorMax[i] { v = sensorMax[i]; current.saturatedValues += 1 }
            frame.values[i] = v
        }
        if !firstOfEpisode { frame.reward = Float(model.reward) }
        let size = HotCodec.encode(frame, into: sendBuffer)!
        return UnsafeRawBufferPointer(rebasing: sendBuffer[0..<size])
    }

    /// Decodes a command into `command`; takes its values (clamped to the
    /// actuator ranges) when it is well formed. Throws on a layout mismatch.
    @inline(__always)
    private func takeCommand(_ received: ZMQReceived) throws -> Bool {
        guard !received.truncated,
              HotCodec.decode(UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<received.byteCount]), into: command) == nil,
              command.valueCount == motorCount
        else { current.badCommands += 1; return false }
        if command.layoutHash != layout.layoutHash {
            throw SimError("the daemon's commands follow another layout (hash \(command.layoutHash), ours \(layout.layoutHash) "
                + "from \(robot.path)); start it with a configuration whose robot is \(robot.path)")
        }
        if command.safeStop { current.safeStopTicks += 1 }
        for i in 0..<motorCount { motorValues[i] = actuator(i, command.values[i]) }
        return true
    }

    /// What actuator `i` applies for a commanded `value`: clamped to its
    /// range, its safe value for NaN.
    @inline(__always)
    private func actuator(_ i: Int, _ value: Float) -> Float {
        min(max(value.isNaN ? motorSafe[i] : value, motorMin[i]), motorMax[i])
    }

    @inline(__always)
    private func step() {
        appliedValues.update(from: motorValues, count: motorCount)
        if disturbed { disturbances.actuate(appliedValues, time: Double(current.steps) * options.period) }
        model.advance(motors: appliedValues, period: options.period, substeps: options.substeps)
        tick += 1
        current.steps += 1
        if let csv {
            model.readState(into: stateValues)
            csv.row(episode: current.episode, tick: current.steps, time: Double(current.steps) * options.period,
                    state: stateValues, stateCount: Model.stateNames.count,
                    motors: appliedValues, motorCount: motorCount, reward: model.reward)
        }
    }

    private func endEpisode(wallStart: Int64) -> SimEpisodeResult {
        current.simulatedSeconds = Double(current.steps) * options.period
        current.wallSeconds = Double(monotonicNanoseconds() - wallStart) / 1e9
        current.failed = model.failed
        current.statistics = model.statistics()
        current.pushes = disturbances.pushes
        return current
    }

    public func finish() throws {
        if let csv { try csv.close(); self.csv = nil }
    }

    // MARK: - Lockstep

    /// Runs every episode against a daemon in lockstep mode at `endpoint`
    /// (its REP socket). `report` is called after each episode.
    @discardableResult
    public func runLockstep(endpoint: String, report: (SimEpisodeResult) -> Void = { _ in }) throws -> [SimEpisodeResult] {
        try runLockstep(endpoint: endpoint, beforeEpisode: { _ in }, report: report)
    }

    /// As above; `beforeEpisode(k)` runs before episode k's first frame (e.g.
    /// a `reset` on the daemon's control socket, so one daemon serves every episode).
    @discardableResult
    public func runLockstep(endpoint: String, beforeEpisode: (Int) throws -> Void,
                            report: (SimEpisodeResult) -> Void = { _ in }) throws -> [SimEpisodeResult] {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, .req)
        try socket.setReceiveTimeout(milliseconds: options.timeoutMilliseconds)
        try socket.connect(endpoint)
        let noAnswer = "no answer from \(endpoint) within \(options.timeoutMilliseconds) ms; is `spikeloop run` serving this robot in lockstep mode there?"
        if options.hello {
            var hello = Spikeloop_V1_Hello()
            hello.protocolVersion = wireProtocolVersion
            hello.role = .simulator
            hello.peerName = "spikeloop sim \(Model.modelName)"
            hello.layout = layout
            hello.tickHz = options.rate
            _ = try socket.send(try hello.serializedBytes() as [UInt8], .wait)
            guard let bytes = try socket.receiveBytes(.wait) else { throw SimError(noAnswer) }
            guard let answer = try? Spikeloop_V1_Hello(serializedBytes: bytes), answer.protocolVersion != 0 else {
                throw SimError("\(endpoint) did not answer the Hello with a Hello; is it a spikeloop daemon in lockstep mode?")
            }
            if !answer.accepted {
                throw SimError("the daemon refused this robot (\(robot.path)): \(answer.reason)")
            }
        }
        try socket.setReceiveTimeout(milliseconds: -1)
        let deadline = AnswerDeadline(timeoutMilliseconds: options.timeoutMilliseconds)
        defer { deadline.finish() }
        var results: [SimEpisodeResult] = []
        results.reserveCapacity(options.episodes)
        let ticks = options.ticksPerEpisode
        for episode in 0..<options.episodes {
            try beforeEpisode(episode)
            try beginEpisode(episode)
            let wallStart = monotonicNanoseconds()
            var first = true
            while current.steps < ticks {
                _ = try socket.send(encodeFrame(firstOfEpisode: first), .wait)
                first = false
                guard let received = try deadline.receive(socket, into: receiveBuffer) else { throw SimError(noAnswer) }
                if received.more { _ = try socket.discardRemainingParts() }
                if try takeCommand(received), command.sensorSequence != sequence { current.sequenceErrors += 1 }
                step()
                if model.failed { break }
            }
            let result = endEpisode(wallStart: wallStart)
            results.append(result)
            report(result)
        }
        try finish()
        return results
    }

    // MARK: - In-process controller

    /// Runs every episode with a controller in this process instead of a
    /// daemon (a classical baseline in the same harness): each tick it gets
    /// the frame's sensor values (clamped to the channel ranges, in wire
    /// order, as Float) and writes the motor values, which are clamped to the
    /// actuator ranges and held for one period. `reset(k)` runs before episode k.
    @discardableResult
    public func runLocal(reset: (Int) -> Void,
                         control: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
                         report: (SimEpisodeResult) -> Void = { _ in }) throws -> [SimEpisodeResult] {
        var results: [SimEpisodeResult] = []
        results.reserveCapacity(options.episodes)
        let ticks = options.ticksPerEpisode
        for episode in 0..<options.episodes {
            reset(episode)
            try beginEpisode(episode)
            let wallStart = monotonicNanoseconds()
            var first = true
            while current.steps < ticks {
                _ = encodeFrame(firstOfEpisode: first)  // the same clamping (and counting) as on the wire
                first = false
                control(UnsafePointer(frame.values), motorValues)
                for i in 0..<motorCount { motorValues[i] = actuator(i, motorValues[i]) }
                step()
                if model.failed { break }
            }
            let result = endEpisode(wallStart: wallStart)
            results.append(result)
            report(result)
        }
        try finish()
        return results
    }

    // MARK: - Realtime

    /// Runs every episode against a daemon in realtime mode: frames published
    /// to `frames` (its SUB), commands read from `commands` (its PUB), one
    /// tick per period of the wall clock. The newest command is held until
    /// the next one arrives (the safe values until the first).
    @discardableResult
    public func runRealtime(frames: String, commands: String,
                            report: (SimEpisodeResult) -> Void = { _ in }) throws -> [SimEpisodeResult] {
        let context = try ZMQContext()
        let publisher = try ZMQSocket(context, .pub)
        try publisher.connect(frames)
        let subscriber = try ZMQSocket(context, .sub)
        try subscriber.setConflate(true)
        try subscriber.subscribe()
        try subscriber.connect(commands)
        var results: [SimEpisodeResult] = []
        results.reserveCapacity(options.episodes)
        let ticks = options.ticksPerEpisode
        let period = options.periodNanoseconds
        var lastAnswered: UInt64 = 0
        for episode in 0..<options.episodes {
            try beginEpisode(episode)
            let wallStart = monotonicNanoseconds()
            var deadline = wallStart
            var first = true
            while current.steps < ticks {
                _ = try publisher.send(encodeFrame(firstOfEpisode: first), .dontWait)
                first = false
                deadline += period
                sleepUntil(deadline)
                let now = monotonicNanoseconds()
                if now > deadline + period { deadline = now }  // overrun: keep going from now
                while let received = try subscriber.receive(into: receiveBuffer, .dontWait) {
                    if received.more { _ = try subscriber.discardRemainingParts() }
                    if try takeCommand(received) {
                        current.commandsReceived += 1
                        if command.sensorSequence < lastAnswered { current.sequenceErrors += 1 }
                        lastAnswered = command.sensorSequence
                    }
                }
                if lastAnswered > 0 {
                    current.maxCommandAge = max(current.maxCommandAge, Int(truncatingIfNeeded: sequence &- lastAnswered))
                }
                step()
                if model.failed { break }
            }
            let result = endEpisode(wallStart: wallStart)
            results.append(result)
            report(result)
        }
        try finish()
        return results
    }
}

@inline(__always)
func sleepUntil(_ deadline: Int64) {
    var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
}

/// Builds the model a robot file names and a `SimRobot` around it.
public func makeSimRobot(robot: RobotFile, options: SimOptions) throws -> any SimRobotProtocol {
    guard let name = robot.simulator.model else {
        throw SimError("\(robot.path): simulator.model: missing; one of \(simModels.map { $0.modelName }.joined(separator: ", "))")
    }
    guard let type = simModel(named: name) else {
        throw SimError("\(robot.path): simulator.model: unknown model '\(name)'; one of \(simModels.map { $0.modelName }.joined(separator: ", "))")
    }
    return try make(type, robot: robot, options: options)
}

private func make<M: SimModel>(_ type: M.Type, robot: RobotFile, options: SimOptions) throws -> any SimRobotProtocol {
    try SimRobot(model: try M(parameters: robot.simulator), robot: robot, options: options)
}

/// A `SimRobot` whatever its model (the command line picks the model at run time).
public protocol SimRobotProtocol: AnyObject {
    var layout: Spikeloop_V1_RobotLayout { get }
    var modelName: String { get }
    /// The episode conditions of `simulator.disturbances`, nil if none.
    var disturbanceSummary: String? { get }
    /// `simulator.initial_state` and `simulator.randomize`, nil if none.
    var conditionSummary: String? { get }
    func runLockstep(endpoint: String, report: (SimEpisodeResult) -> Void) throws -> [SimEpisodeResult]
    func runLockstep(endpoint: String, beforeEpisode: (Int) throws -> Void,
                     report: (SimEpisodeResult) -> Void) throws -> [SimEpisodeResult]
    func runLocal(reset: (Int) -> Void, control: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
                  report: (SimEpisodeResult) -> Void) throws -> [SimEpisodeResult]
    func runRealtime(frames: String, commands: String, report: (SimEpisodeResult) -> Void) throws -> [SimEpisodeResult]
}

extension SimRobot: SimRobotProtocol {
    public var modelName: String { Model.modelName }
    public var disturbanceSummary: String? {
        disturbances.spec.summary(sensors: robot.sensors.map(\.name), motors: robot.motors.map(\.name))
    }
    public var conditionSummary: String? { conditions.summary }
}
