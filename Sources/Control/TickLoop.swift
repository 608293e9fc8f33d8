import SwiftProtobuf
import Wire

/// The manager of the control loop (ros2_control's controller manager): reads
/// frames, runs the controller, filters, writes commands, on its own thread.
///
/// Everything is allocated in `init`; a tick allocates nothing, takes no lock
/// and writes no log (the statistics thread reports on its behalf).
public final class TickLoop {
    public let config: ControllerConfiguration
    public let controller: Controller
    public let shared: LoopShared
    public let statistics: StatisticsExchange
    public let validator: SensorFrameValidator
    public let layout: Spikeloop_V1_RobotLayout
    public private(set) var safety: SafetyFilter
    private let clock: TickClock
    /// Session recording's loop side (idle unless a recording runs).
    public let tap: SessionTap

    private let frame: SensorFrameBuffer
    private let command: MotorCommandBuffer
    /// The sensor values the controller uses: the newest valid frame's.
    private let sensors: UnsafeMutablePointer<Float>
    private let decoded: UnsafeMutablePointer<Float>
    private let receiveBuffer: UnsafeMutableRawBufferPointer
    /// Sent commands: libzmq reads each from here (no copy, no allocation on
    /// this thread) until it has written it; then the pool reuses it.
    private let replies: ReplyPool
    /// Commands encoded for other uses than a send from the pool.
    private let scratch: UnsafeMutableRawBufferPointer
    private var commandSequence: UInt64 = 0
    private var answeredSequence: UInt64 = 0
    private var haveFrame = false
    /// Simulation time of the controller, ns: ticks × period.
    private var simTime: Int64 = 0
    private var paused = false
    private var stalled = false
    /// What the next tick gives `reward_stdp` projections.
    private var reward = TickReward()

    public static let receiveBufferSize = 64 * 1024
    /// Realtime: frames queued on the SUB socket (its receive high-water mark).
    public static let frameQueueLength = 64
    /// Realtime: commands queued on the PUB socket (its send high-water mark)
    /// while libzmq's I/O thread is behind; then the newest are dropped.
    ///
    /// Not CONFLATE: a conflating PUB posts a command to the I/O thread's
    /// mailbox on every send, and when that thread is starved of CPU the
    /// mailbox grows by malloc on the loop's thread (seen under load: 1–18
    /// allocations in 10,000 ticks, all in libzmq). A plain pipe below
    /// libzmq's 256-message chunk posts once per wake-up and never grows.
    /// Robots still take the newest command by CONFLATE on their SUB.
    public static let commandQueueLength: Int32 = 16

    public init(config: ControllerConfiguration, controller: Controller, shared: LoopShared,
                statistics: StatisticsExchange, clock: TickClock) {
        self.config = config
        self.controller = controller
        self.shared = shared
        self.statistics = statistics
        self.clock = clock
        let robot = config.robot
        layout = .make(robot: robot.name,
                       sensors: robot.sensors.map { (name: $0.name, unit: $0.unit, min: $0.min, max: $0.max) },
                       motors: robot.motors.map { (name: $0.name, unit: $0.unit, min: $0.min, max: $0.max) })
        validator = SensorFrameValidator(layoutHash: layout.layoutHash, channelCount: robot.sensors.count,
                                         ranges: layout.sensorRanges)
        safety = SafetyFilter(motors: robot.safetyMotors, watchdogTimeout: config.loop.watchdogTimeout,
                              autoResume: config.loop.autoResume)
        shared.watchdogTimeout.store(config.loop.watchdogTimeout, ordering: .relaxed)
        frame = validator.makeFrameBuffer()
        command = MotorCommandBuffer(capacity: robot.motors.count)
        sensors = .allocate(capacity: max(1, robot.sensors.count))
        sensors.initialize(repeating: 0, count: max(1, robot.sensors.count))
        decoded = .allocate(capacity: max(1, robot.motors.count))
        decoded.initialize(repeating: 0, count: max(1, robot.motors.count))
        receiveBuffer = .allocate(byteCount: Self.receiveBufferSize, alignment: 16)
        tap = SessionTap(network: controller.network, stepsPerTick: config.loop.stepsPerTick,
                         probes: config.recording.probes, queueBytes: config.recording.queueMegabytes << 20,
                         waitsForSpace: config.loop.mode == .lockstep)
        replies = ReplyPool(messageSize: HotCodec.paddedSize(motors: robot.motors.count))
        scratch = .allocate(byteCount: HotCodec.paddedSize(motors: robot.motors.count), alignment: 16)
        controller.network.learningRate = config.learningRate
        shared.learningRate.store(controller.network.learningRate.bitPattern, ordering: .relaxed)
    }

    deinit {
        sensors.deallocate()
        decoded.deallocate()
        receiveBuffer.deallocate()
        scratch.deallocate()
        replies.close()
    }

    /// Commands that found every zero-copy message still inside libzmq and
    /// were copied (one allocation each), since start.
    public var repliesCopied: Int64 { replies.copies }

    // MARK: - Recording

    /// Records refused because the recorder's queue was full, since start.
    public var recordsDropped: Int64 { tap.dropped.load(ordering: .relaxed) }

    // MARK: - One tick, shared by both modes

    /// Applies operator requests; called at tick boundaries only.
    @inline(__always)
    private func applyRequests() {
        shared.updates.receive { update in
            safety.retune(motors: &update.safetyMotors, watchdogTimeout: update.watchdogTimeout, autoResume: update.autoResume)
            controller.retune(&update.decoders)
            shared.watchdogTimeout.store(update.watchdogTimeout, ordering: .relaxed)
            controller.network.learningRate = update.learningRate
            shared.learningRate.store(controller.network.learningRate.bitPattern, ordering: .relaxed)
            shared.reloadedAfterTick.store(controller.ticks, ordering: .relaxed)
            shared.reloadedAtCommand.store(commandSequence + 1, ordering: .relaxed)
            shared.configGeneration.add(1, ordering: .releasing)
        }
        tap.latch(controller: controller, simTime: simTime, clock: clock)
        let r = shared.takeRequests()
        if r.isEmpty { return }
        if r.contains(.reset) {
            controller.reset()
            // As at start: no decoded command yet (a paused tick reports these).
            decoded.update(repeating: 0, count: max(1, controller.motorCount))
            safety.restart()
            haveFrame = false
            simTime = 0
        }
        if r.contains(.safeStop) { safety.requestSafeStop() }
        if r.contains(.pause) { paused = true }
        if r.contains(.resume) {
            paused = false
            safety.resume()
        }
        if r.contains(.stall) { stalled = true }
        if r.contains(.weights) { shared.weightExchange.serve(controller.network) }
        if !r.isDisjoint(with: [.reward, .learningRate]) {
            if r.contains(.reward) { reward.operatorSignal(shared.reward) }
            if r.contains(.learningRate) {
                controller.network.learningRate = shared.requestedLearningRate
                shared.learningRate.store(controller.network.learningRate.bitPattern, ordering: .relaxed)
            }
            shared.learningChangedAtStep.store(controller.network.stepIndex, ordering: .relaxed)
            shared.learningChanges.add(1, ordering: .releasing)
        }
    }

    /// Runs the controller on the current sensor values (unless paused) and
    /// fills `command` with the filtered values.
    @inline(__always)
    private func computeCommand(at time: Int64, started: Int64) {
        let motors = controller.motorCount
        let firstStep = controller.network.stepIndex
        let tickReward = reward.take()
        let ticked = !paused && haveFrame
        if ticked {
            if let r = tickReward, r != 0 { controller.network.reward(Double(r)) }
            controller.tick(sensors: sensors, motors: decoded)
            simTime += config.loop.periodNanoseconds
        }
        command.reset()
        command.protocolVersion = wireProtocolVersion
        command.layoutHash = layout.layoutHash
        commandSequence += 1
        command.sequence = commandSequence
        command.sensorSequence = answeredSequence
        command.simTimeNs = simTime
        command.senderTimeNs = clock.now()
        command.valueCount = motors
        command.values.update(from: decoded, count: motors)
        if paused { safety.requestSafeStop() }
        safety.filter(command.valueBuffer, at: time)
        command.safeStop = safety.isSafeStopped
        if command.safeStop { command.setReason(paused ? "paused" : safety.reasons.primary) }
        publishState()
        if tap.isOn {
            tap.recordTick(start: started, ticked: ticked, firstStep: firstStep, command: command, decoded: decoded,
                           safeReasons: safety.reasons.rawValue, overruns: shared.overruns.load(ordering: .relaxed))
        }
    }

    @inline(__always)
    private func publishState() {
        shared.safeReasons.store(safety.reasons.rawValue, ordering: .relaxed)
        let state: LoopShared.State = paused ? .paused : (safety.reasons == [.startup] ? .waiting : (safety.isSafeStopped ? .safeStop : .running))
        shared.setState(state)
        shared.ticks.store(controller.ticks, ordering: .relaxed)
        shared.simStep.store(controller.network.stepIndex, ordering: .relaxed)
        if !stalled { shared.heartbeat.store(shared.heartbeat.load(ordering: .relaxed) &+ 1, ordering: .relaxed) }
    }

    /// Takes a received message: a valid frame updates the sensor values.
    /// Returns whether it was a valid frame.
    @inline(__always)
    private func take(_ received: ZMQReceived, at time: Int64, arrivedAfter: Int64) -> Bool {
        let reason = validator.accept(received, buffer: UnsafeRawBufferPointer(receiveBuffer), into: frame)
        guard reason == nil else { return false }
        take(received, validAt: time, arrivedAfter: arrivedAfter)
        return true
    }

    /// Takes the valid frame in `frame`, received as `received` at `time`;
    /// it arrived after `arrivedAfter` (the previous look at the socket), and
    /// the watchdog counts from there: it then fires within its timeout plus
    /// one tick of the frame's arrival, never later.
    @inline(__always)
    private func take(_ received: ZMQReceived, validAt time: Int64, arrivedAfter: Int64) {
        if tap.isOn { tap.recordFrame(UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<received.byteCount]), at: time) }
        sensors.update(from: frame.values, count: controller.sensorCount)
        answeredSequence = frame.sequence
        haveFrame = true
        safety.validFrame(at: arrivedAfter, estop: frame.estop)
        if let r = frame.reward { reward.frame(r) }
        shared.framesAccepted.add(1, ordering: .relaxed)
    }

    /// Sends `command` from the zero-copy pool.
    @inline(__always)
    private func sendCommand(on socket: borrowing ZMQSocket, _ wait: ZMQWait) throws {
        let command = command
        try replies.send(on: socket, wait) { buffer in
            _ = HotCodec.encode(command, into: buffer, paddedTo: buffer.count)!
        }
    }

    /// Answers a lockstep frame without running the controller (refused, or
    /// the loop is stopping): the safe values with safe_stop and `reason`,
    /// and nothing else changes: simulation time stays, the slew limit keeps
    /// its reference. `decoded`: `frame` holds the frame's fields.
    private func refuse(_ reason: StaticString, decoded: Bool) {
        command.reset()
        command.protocolVersion = wireProtocolVersion
        command.layoutHash = layout.layoutHash
        commandSequence += 1
        command.sequence = commandSequence
        // The refused frame's own sequence when it could be read.
        command.sensorSequence = decoded ? frame.sequence : 0
        command.simTimeNs = decoded ? frame.simTimeNs : 0
        command.senderTimeNs = clock.now()
        command.valueCount = controller.motorCount
        for i in 0..<controller.motorCount { command.values[i] = safety.motors[i].safeValue }
        command.safeStop = true
        command.setReason(reason)
    }

    // MARK: - Lockstep

    /// Serves a simulator: one tick per frame, answered on the same REP socket,
    /// until `shared.stopRequested` or `maxTicks` ticks. A Hello is answered
    /// with the daemon's layout; rejected input gets a safe command.
    public func runLockstep(socket: borrowing ZMQSocket, maxTicks: Int64? = nil) throws {
        // No timeout: requests, reloads, statistics and stop interrupt the
        // wait through `shared.wakeup` (see `LoopWakeup` for why).
        try socket.setReceiveTimeout(milliseconds: -1)
        shared.wakeup.attachCurrentThread()
        defer { shared.wakeup.detach() }
        while !shared.stopRequested.load(ordering: .relaxed) {
            if let maxTicks, controller.ticks >= maxTicks { break }
            if try !serveOne(socket, .untilInterrupted) {
                // Between frames is a tick boundary too: statistics and
                // requests are taken here while a simulator pauses.
                statistics.tickBoundary()
                applyRequests()
                publishState()
            }
        }
        if shared.stopRequested.load(ordering: .relaxed) { try answerSafelyWhileStopping(socket) }
    }

    /// The last word to a simulator is the safe command: frames that arrive
    /// for `safeHoldAtStopNs` after the stop (one was usually in flight) are
    /// answered with it, without running the controller.
    private func answerSafelyWhileStopping(_ socket: borrowing ZMQSocket) throws {
        safety.requestSafeStop()
        try socket.setReceiveTimeout(milliseconds: 2)
        let until = clock.now() + Self.safeHoldAtStopNs
        while clock.now() < until {
            guard let received = try socket.receive(into: receiveBuffer, .wait) else { continue }
            if received.more { try socket.discardRemainingParts() }
            if let hello = handshake(received) {
                _ = try socket.send(hello, .wait)
                continue
            }
            let refused = validator.accept(received, buffer: UnsafeRawBufferPointer(receiveBuffer), into: frame)
            refuse(refused?.refusal ?? "stopping", decoded: refused.map { $0.rawValue > RejectReason.oversized.rawValue } ?? true)
            try sendCommand(on: socket, .wait)
        }
    }

    /// Receives one request (`.wait`: up to the socket's receive timeout) and
    /// answers it; false if nothing arrived (or the wait was interrupted).
    /// One tick of lockstep mode.
    @discardableResult
    public func serveOne(_ socket: borrowing ZMQSocket, _ wait: ZMQWait = .wait) throws -> Bool {
        guard let received = try socket.receive(into: receiveBuffer, wait) else { return false }
        if received.more { try socket.discardRemainingParts() }
        let start = clock.now()
        statistics.tickBoundary()
        applyRequests()
        if stalled { return true }  // never answers: the peer times out
        // A simulator says Hello before its first frame: answer it without
        // counting it as a malformed frame. (Later Hellos are still answered.)
        if !haveFrame, let hello = handshake(received) {
            _ = try socket.send(hello, .wait)
            return true
        }
        if let reason = validator.accept(received, buffer: UnsafeRawBufferPointer(receiveBuffer), into: frame) {
            if let hello = handshake(received) {
                _ = try socket.send(hello, .wait)
                return true
            }
            refuse(reason.refusal, decoded: reason.rawValue > RejectReason.oversized.rawValue)
        } else {
            take(received, validAt: start, arrivedAfter: start)
            // Simulated time drives the slew limit, so lockstep stays deterministic.
            computeCommand(at: simTime, started: start)
            command.simTimeNs = frame.simTimeNs
        }
        try sendCommand(on: socket, .wait)
        let end = clock.now()
        statistics.record { h in
            _ = h.compute.record(UInt64(max(0, end - start)))
            _ = h.latency.record(UInt64(max(0, end - start)))
        }
        shared.lastTickTime.store(end, ordering: .relaxed)
        return true
    }

    /// The answer to a Hello (outside the hot path: handshakes are rare).
    private func handshake(_ received: ZMQReceived) -> [UInt8]? {
        let bytes = UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<min(received.byteCount, receiveBuffer.count)])
        guard let hello = try? Spikeloop_V1_Hello(serializedBytes: Array(bytes)), hello.protocolVersion != 0, hello.hasLayout else { return nil }
        return try? Array(Spikeloop_V1_Hello.answer(to: hello, layout: layout).serializedBytes() as [UInt8])
    }

    // MARK: - Realtime

    /// Drives a robot on the daemon's clock: absolute deadlines, the newest
    /// frame each tick, commands published every tick; overruns are counted
    /// and skipped to the next whole period, keeping the phase.
    public func runRealtime(frames: borrowing ZMQSocket, commands: borrowing ZMQSocket, maxTicks: Int64? = nil) throws {
        let period = config.loop.periodNanoseconds
        var schedule = TickSchedule(start: clock.now() + period, period: period)
        var deadline = schedule.nextDeadline
        var ticks: Int64 = 0
        // On stop the loop keeps ticking a little, publishing the safe command
        // every tick, so that the robot has it before the socket closes.
        let safeTicksAtStop = max(1, min(10, Int(Self.safeHoldAtStopNs / period)))
        var safeTicksLeft = -1
        while safeTicksLeft != 0 {
            if safeTicksLeft < 0 && (shared.stopRequested.load(ordering: .relaxed) || maxTicks.map({ ticks >= $0 }) == true) {
                safety.requestSafeStop()
                safeTicksLeft = safeTicksAtStop
            }
            if safeTicksLeft > 0 { safeTicksLeft -= 1 }
            clock.sleep(until: deadline, busyWait: config.loop.busyWait)
            let start = clock.now()
            statistics.tickBoundary()
            applyRequests()
            if stalled {
                deadline = schedule.tickFinished(at: clock.now())
                continue
            }
            let end = try realtimeTick(frames: frames, commands: commands, start: start, deadline: deadline)
            deadline = schedule.tickFinished(at: end)
            shared.overruns.store(schedule.overruns, ordering: .relaxed)
            ticks += 1
        }
    }

    /// How long a stopping loop holds the safe command (realtime: at most 10 ticks).
    static let safeHoldAtStopNs: Int64 = 20_000_000

    private var lastFrameSeen: Int64 = 0
    /// When the previous realtime tick drained the frame socket.
    private var previousDrain: Int64?

    /// One realtime tick that woke at `start` for `deadline`: takes the newest
    /// frame, runs the controller, publishes the command. Returns its end time.
    @discardableResult
    public func realtimeTick(frames: borrowing ZMQSocket, commands: borrowing ZMQSocket, start: Int64, deadline: Int64) throws -> Int64 {
        var fresh = false
        let arrivedAfter = previousDrain ?? start - config.loop.periodNanoseconds
        previousDrain = start
        // The newest valid frame wins; a flood is read (and counted) only up
        // to twice the queue per tick, so that it cannot hold the tick.
        var budget = 2 * Self.frameQueueLength
        while budget > 0, let received = try frames.receive(into: receiveBuffer, .dontWait) {
            budget -= 1
            if received.more { try frames.discardRemainingParts() }
            if take(received, at: start, arrivedAfter: arrivedAfter) {
                fresh = true
                lastFrameSeen = start
            }
        }
        if !fresh && haveFrame { shared.staleTicks.add(1, ordering: .relaxed) }
        safety.checkWatchdog(at: start)
        computeCommand(at: start, started: start)
        try sendCommand(on: commands, .dontWait)
        let end = clock.now()
        let lateness = start - deadline
        let frameAge = haveFrame ? start - lastFrameSeen : -1
        statistics.record { h in
            _ = h.compute.record(UInt64(max(0, end - start)))
            _ = h.lateness.record(UInt64(max(0, lateness)))
            if fresh { _ = h.latency.record(UInt64(max(0, end - start))) }
            if frameAge >= 0 { _ = h.frameAge.record(UInt64(frameAge)) }
        }
        shared.lastTickTime.store(end, ordering: .relaxed)
        return end
    }

    /// The safe command, sent on shutdown so that the last word is a safe one.
    public func safeCommand() -> UnsafeRawBufferPointer {
        safety.requestSafeStop()
        computeCommandWithoutTick()
        command.setReason("stopping")
        let size = HotCodec.encode(command, into: scratch)!
        return UnsafeRawBufferPointer(rebasing: scratch[0..<size])
    }

    private func computeCommandWithoutTick() {
        let wasPaused = paused
        paused = true
        let now = clock.now()
        computeCommand(at: now, started: now)
        paused = wasPaused
    }
}
