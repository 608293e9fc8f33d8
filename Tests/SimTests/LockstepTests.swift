import Dispatch
import Foundation
import Sim
import SwiftProtobuf
import Synchronization
import Testing
import Wire

/// Runs `body` on a dedicated thread; `join()` waits for it.
final class TestThread: Sendable {
    private let done = DispatchSemaphore(value: 0)
    init(_ body: @escaping @Sendable () -> Void) {
        let done = self.done
        Thread { body(); done.signal() }.start()
    }
    @discardableResult
    func join(seconds: Double = 30) -> Bool { done.wait(timeout: .now() + seconds) == .success }
}

/// What the fake controller saw of one frame.
struct SeenFrame: Sendable {
    var sequence: UInt64, simTimeNs: Int64, layoutHash: UInt64, reward: Float?, values: [Float]
}

/// A fake controller on a real ZeroMQ REP socket: answers `frames` frames
/// with the motor values `answer(sequence)`, records every frame; answers a
/// Hello with the Wire handshake for `layout`.
final class FakeController: Sendable {
    final class Record: Sendable {
        let seen = Mutex<[SeenFrame]>([])
        let error = Mutex<String?>(nil)
    }
    let endpoint: String
    let record = Record()
    var seen: [SeenFrame] { record.seen.withLock { $0 } }
    var error: String? { record.error.withLock { $0 } }
    private let thread: TestThread

    init(layout: Spikeloop_V1_RobotLayout, frames: Int, answerLayoutHash: UInt64? = nil,
         answer: @escaping @Sendable (UInt64) -> [Float]) {
        let bound = Mutex<String?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let record = self.record
        let layoutBytes = try! layout.serializedBytes() as [UInt8]
        thread = TestThread {
            do {
                let layout = try Spikeloop_V1_RobotLayout(serializedBytes: layoutBytes)
                let context = try ZMQContext()
                let socket = try ZMQSocket(context, .rep)
                try socket.setReceiveTimeout(milliseconds: 10_000)
                try socket.bind("tcp://127.0.0.1:*")
                bound.withLock { $0 = try? socket.lastEndpoint }
                ready.signal()
                let frame = SensorFrameBuffer(capacity: 16)
                let command = MotorCommandBuffer(capacity: 16)
                let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 16)
                defer { out.deallocate() }
                var answered = 0
                var sequence: UInt64 = 0
                var handshakes = 0
                // frames == 0: answer one Hello and stop.
                while answered < frames || (frames == 0 && handshakes == 0) {
                    guard let bytes = try socket.receiveBytes(.wait) else { throw PeerError("no frame within 10 s") }
                    let decoded = bytes.withUnsafeBytes { HotCodec.decode($0, into: frame) }
                    if decoded != nil {
                        // Not a frame: a Hello.
                        let hello = try Spikeloop_V1_Hello(serializedBytes: bytes)
                        _ = try socket.send(try Spikeloop_V1_Hello.answer(to: hello, layout: layout).serializedBytes() as [UInt8], .wait)
                        handshakes += 1
                        continue
                    }
                    record.seen.withLock {
                        $0.append(SeenFrame(sequence: frame.sequence, simTimeNs: frame.simTimeNs, layoutHash: frame.layoutHash,
                                            reward: frame.reward, values: Array(frame.valueBuffer)))
                    }
                    let values = answer(frame.sequence)
                    sequence += 1
                    command.reset()
                    command.protocolVersion = wireProtocolVersion
                    command.layoutHash = answerLayoutHash ?? layout.layoutHash
                    command.sequence = sequence
                    command.sensorSequence = frame.sequence
                    command.simTimeNs = frame.simTimeNs
                    command.valueCount = values.count
                    for (i, v) in values.enumerated() { command.values[i] = v }
                    let size = HotCodec.encode(command, into: out)!
                    _ = try socket.send(UnsafeRawBufferPointer(rebasing: out[0..<size]), .wait)
                    answered += 1
                }
            } catch let e {
                record.error.withLock { $0 = "\(e)" }
                ready.signal()
            }
        }
        ready.wait()
        endpoint = bound.withLock { $0 } ?? "tcp://127.0.0.1:1"
    }

    func join() { thread.join() }
}

@Suite(.serialized) struct LockstepTests {
    func robot(_ name: String) throws -> RobotFile { try RobotFile.load(path: robotsDirectory + "/\(name).yaml") }

    @Test func cartPoleRoundTripAppliesCommandsAndNumbersFrames() throws {
        let file = try robot("cartpole")
        var options = SimOptions()
        options.duration = 0.2  // 200 ticks, fewer than the uncontrolled fall takes? No: ends on failure or at 200.
        options.seed = 11
        options.hello = true
        let force: @Sendable (UInt64) -> [Float] = { $0 % 2 == 0 ? [3] : [-1.5] }
        let peer = FakeController(layout: file.layout, frames: 200, answer: force)
        let sim = try SimRobot(model: try CartPole(parameters: file.simulator), robot: file, options: options)
        let results = try sim.runLockstep(endpoint: peer.endpoint)
        peer.join()
        #expect(peer.error == nil)

        let frames = peer.seen
        let r = try #require(results.first)
        #expect(results.count == 1)
        #expect(r.steps == frames.count)
        #expect(r.sequenceErrors == 0 && r.badCommands == 0 && r.saturatedValues == 0)
        #expect(frames.map(\.sequence) == Array(1...UInt64(frames.count)))
        #expect(frames.map(\.simTimeNs) == (0..<frames.count).map { Int64($0) * 1_000_000 })
        #expect(frames.allSatisfy { $0.layoutHash == file.layout.layoutHash })
        #expect(frames[0].reward == nil)

        // The same model, stepped here with the same forces, saw the same values bit for bit.
        let reference = CartPole()
        reference.reset(seed: 11)
        var sensors = [Float](repeating: 0, count: 4)
        for (k, f) in frames.enumerated() {
            sensors.withUnsafeMutableBufferPointer { reference.readSensors(into: $0.baseAddress!) }
            #expect(f.values == sensors, "frame \(k + 1)")
            if k > 0 { #expect(f.reward == Float(reference.reward)) }
            run(reference, ticks: 1, motors: force(f.sequence))
        }
        #expect(reference.state == sim.model.state)
        #expect(r.failed == reference.failed)
        #expect(r.steps == 200 || reference.failed)
    }

    @Test func episodesRestartFromTheirSeedsAndSequencesContinue() throws {
        let file = try robot("pendulum")
        var options = SimOptions()
        options.duration = 0.05
        options.episodes = 3
        options.seed = 100
        options.hello = false
        let peer = FakeController(layout: file.layout, frames: 150, answer: { _ in [1] })
        let sim = try SimRobot(model: try Pendulum(parameters: file.simulator), robot: file, options: options)
        let results = try sim.runLockstep(endpoint: peer.endpoint)
        peer.join()
        let frames = peer.seen
        #expect(results.map(\.steps) == [50, 50, 50])
        #expect(results.map(\.seed) == [100, 101, 102])
        #expect(frames.map(\.sequence) == Array(1...150))
        // Each episode's first frame is the seeded initial state, without reward.
        let p = Pendulum()
        for e in 0..<3 {
            p.reset(seed: 100 + UInt64(e))
            #expect(frames[50 * e].values == [Float(wrapAngle(p.state[0])), Float(p.state[1])])
            #expect(frames[50 * e].reward == nil)
            #expect(frames[50 * e + 1].reward != nil)
        }
    }

    @Test func theDaemonRefusingTheLayoutIsAClearError() throws {
        let file = try robot("cartpole")
        let other = try robot("pendulum")
        var options = SimOptions()
        options.duration = 0.01
        let peer = FakeController(layout: other.layout, frames: 0, answer: { _ in [0] })
        let sim = try SimRobot(model: CartPole(), robot: file, options: options)
        do {
            _ = try sim.runLockstep(endpoint: peer.endpoint)
            Issue.record("ran against a daemon for another robot")
        } catch let e as SimError {
            #expect(e.description.contains("the daemon refused this robot"))
            #expect(e.description.contains("robot \"cartpole\" differs from the daemon's robot \"pendulum\""))
        }
        peer.join()
    }

    @Test func commandsOfAnotherLayoutAreAClearError() throws {
        let file = try robot("cartpole")
        var options = SimOptions()
        options.duration = 0.01
        options.hello = false
        let peer = FakeController(layout: file.layout, frames: 1, answerLayoutHash: 12345, answer: { _ in [0] })
        let sim = try SimRobot(model: CartPole(), robot: file, options: options)
        #expect(throws: SimError.self) { try sim.runLockstep(endpoint: peer.endpoint) }
        peer.join()
    }

    @Test func noDaemonTimesOutWithAClearError() throws {
        let file = try robot("cartpole")
        var options = SimOptions()
        options.timeoutMilliseconds = 200
        options.hello = false
        let sim = try SimRobot(model: CartPole(), robot: file, options: options)
        do {
            _ = try sim.runLockstep(endpoint: "tcp://127.0.0.1:1")
            Issue.record("no error")
        } catch let e as SimError {
            #expect(e.description.hasPrefix("no answer from tcp://127.0.0.1:1 within 200 ms"))
        }
    }
}

@Suite struct RobotFileTests {
    @Test func theShippedRobotsMatchTheirModels() throws {
        for (name, type) in [("cartpole", CartPole.self), ("pendulum", Pendulum.self), ("diffdrive", DiffDrive.self)] as [(String, any SimModel.Type)] {
            let file = try RobotFile.load(path: robotsDirectory + "/\(name).yaml")
            #expect(file.simulator.model == type.modelName)
            try file.check(sensors: type.sensors, motors: type.motors, model: type.modelName)
            #expect(file.layout.layoutHash == file.layout.computedHash)
            _ = try makeSimRobot(robot: file, options: SimOptions())
        }
    }

    @Test func aChannelMismatchNamesTheChannel() throws {
        let text = """
        robot: cartpole
        sensors:
          - {name: cart.x, unit: m, range: [-5, 5]}
          - {name: cart.v, unit: m/s, range: [-20, 20]}
          - {name: pole.rate, unit: rad/s, range: [-30, 30]}
          - {name: pole.angle, unit: rad, range: [-3.2, 3.2]}
        motors:
          - {name: cart.force, unit: N, range: [-10, 10], safe: 0}
        simulator: {model: cartpole}
        """
        let file = try RobotFile.parse(text, path: "swapped.yaml")
        do {
            _ = try makeSimRobot(robot: file, options: SimOptions())
            Issue.record("accepted")
        } catch let e as SimError {
            #expect(e.description == "swapped.yaml: sensors[2] is 'pole.rate' in rad/s, but the cartpole simulator has 'pole.angle' in rad there; its sensors in order: cart.x (m), cart.v (m/s), pole.angle (rad), pole.rate (rad/s)")
        }
        let unknown = try RobotFile.parse(text.replacingOccurrences(of: "{model: cartpole}", with: "{model: acrobot}"), path: "u.yaml")
        do { _ = try makeSimRobot(robot: unknown, options: SimOptions()); Issue.record("accepted") } catch let e as SimError {
            #expect(e.description == "u.yaml: simulator.model: unknown model 'acrobot'; one of cartpole, pendulum, diffdrive")
        }
    }
}
