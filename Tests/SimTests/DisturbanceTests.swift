import Foundation
import Sim
import Testing

/// `simulator.disturbances` (docs/simulators.md), through the same runner as
/// the daemon's robot: each disturbance against an undisturbed run of the same
/// seed, with values drawn in the test.
@Suite struct DisturbanceTests {
    let sensors = ["cart.x", "cart.v", "pole.angle", "pole.rate"]

    func robot(_ disturbances: String) throws -> RobotFile {
        var file = try RobotFile.load(path: robotsDirectory + "/cartpole.yaml")
        if !disturbances.isEmpty { file.simulator = try file.simulator.setting(["disturbances=\(disturbances)"]) }
        return file
    }

    /// The frames a controller saw, and the plant's state after each tick,
    /// with `control(tick, frame)` as the controller (one episode, `ticks` ticks).
    func run(_ disturbances: String, ticks: Int = 2000, seed: UInt64 = 1,
             control: @escaping (Int, [Float]) -> Float = { _, _ in 0 }) throws -> (frames: [[Float]], states: [[Double]]) {
        var options = SimOptions()
        options.duration = Double(ticks) / options.rate
        options.seed = seed
        let model = try CartPole(parameters: try robot("").simulator.setting(["fail_angle_deg=180", "fail_x=100"]))
        let sim = try SimRobot(model: model, robot: try robot(disturbances), options: options)
        var frames: [[Float]] = [], states: [[Double]] = []
        let state = UnsafeMutablePointer<Double>.allocate(capacity: CartPole.stateNames.count)
        defer { state.deallocate() }
        _ = try sim.runLocal(reset: { _ in }, control: { values, motors in
            model.readState(into: state)
            states.append(Array(UnsafeBufferPointer(start: state, count: CartPole.stateNames.count)))
            let frame = Array(UnsafeBufferPointer(start: values, count: 4))
            motors[0] = control(frames.count, frame)
            frames.append(frame)
        })
        return (frames, states)
    }

    @Test func sensorDelayReportsTheReadingOfNTicksAgo() throws {
        let delay = Int.random(in: 1...20)
        let clean = try run("").frames
        let late = try run("{sensor_delay: \(delay)}").frames
        #expect(late.count == clean.count)
        for k in 0..<clean.count {
            #expect(late[k] == clean[max(0, k - delay)], "tick \(k), delay \(delay)")
        }
    }

    @Test func noiseAndBiasHaveTheirMeanAndSpread() throws {
        let sd = Double.random(in: 0.001...0.05), bias = Double.random(in: -0.02...0.02)
        let clean = try run("", ticks: 20_000).frames
        // cart.x: the cart sways by centimetres, far inside its range (no clamping).
        let noisy = try run("{sensor_noise: {cart.x: \(sd)}, sensor_bias: {cart.x: \(bias)}}", ticks: 20_000).frames
        let error = zip(noisy, clean).map { Double($0[0]) - Double($1[0]) }
        let n = Double(error.count)
        let mean = error.reduce(0, +) / n
        let spread = (error.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1)).squareRoot()
        #expect(abs(mean - bias) < 5 * sd / n.squareRoot() + 1e-6, "mean \(mean), bias \(bias)")
        #expect(abs(spread / sd - 1) < 0.05, "sd \(spread) against \(sd)")
        let lag = zip(error.dropLast(), error.dropFirst()).map { ($0 - mean) * ($1 - mean) }.reduce(0, +) / (n - 1) / (spread * spread)
        #expect(abs(lag) < 0.05, "successive draws correlate: \(lag)")
        for (a, b) in zip(noisy, clean) { #expect(a[1] == b[1] && a[2] == b[2] && a[3] == b[3]) }
        #expect(try run("{sensor_noise: {pole.angle: \(sd)}}").frames == run("{sensor_noise: {pole.angle: \(sd)}}").frames, "seeded")
        #expect(try run("{sensor_noise: {pole.angle: \(sd)}}", seed: 2).frames != run("{sensor_noise: {pole.angle: \(sd)}}").frames)
    }

    @Test func quantizationRoundsToTheQuantum() throws {
        let q = Double.random(in: 0.001...0.01)
        let clean = try run("").frames
        let coarse = try run("{quantization: {cart.v: \(q)}}").frames
        for (a, b) in zip(coarse, clean) {
            #expect(abs(Double(a[1]) / q - (Double(a[1]) / q).rounded()) < 1e-3)
            #expect(abs(Double(a[1]) - Double(b[1])) <= q / 2 + 1e-6)
        }
    }

    /// A step of the command at tick `t` with an actuator delay of `d` moves
    /// the plant exactly as a step at `t + d` without it.
    @Test func actuatorDelayAppliesTheCommandLater() throws {
        let d = Int.random(in: 1...30), t = Int.random(in: 50...500)
        let force = Float.random(in: 1...9)
        let delayed = try run("{actuator_delay: \(d)}") { k, _ in k >= t ? force : 0 }.states
        let shifted = try run("") { k, _ in k >= t + d ? force : 0 }.states
        #expect(delayed == shifted, "delay \(d), step at \(t)")
        #expect(delayed != (try run("") { k, _ in k >= t ? force : 0 }.states))
    }

    /// A push adds its value to the applied force in its windows (beyond the
    /// actuator range): the same as a controller adding it, when within range.
    @Test func pushesAddTheirForceInTheirWindows() throws {
        let value = Double.random(in: 1...4), every = 0.5, duration = 0.1, first = 0.3
        let pushed = try run("{push: {motor: cart.force, value: \(value), duration: \(duration), every: \(every), first: \(first), sign: alternate}}")
        let byHand = try run("") { k, _ in
            let time = Double(k) / 1000
            guard time >= first else { return 0 }
            let n = Int(((time - first) / every).rounded(.down))
            return time - first - Double(n) * every < duration ? Float(n % 2 == 0 ? value : -value) : 0
        }
        #expect(pushed.states == byHand.states)
    }

    @Test func badDisturbancesNameTheirKey() throws {
        let cases: [(String, String)] = [
            ("{sensor_noise: {pole.angel: 0.1}}", "disturbances.sensor_noise.pole.angel: no such sensor; the robot's sensors: cart.x, cart.v, pole.angle, pole.rate"),
            ("{sensor_noise: {pole.angle: -1}}", "sensor_noise.pole.angle: '-1' must be a non-negative number"),
            ("{sensor_delay: 1.5}", "sensor_delay: '1.5' must be a whole number of ticks"),
            ("{jitter: 1}", "disturbances.jitter: unknown; valid: sensor_noise, sensor_bias, quantization, sensor_delay, actuator_delay, push"),
            ("{push: {motor: wheel, value: 1, duration: 0.1, every: 1}}", "push.motor: one of the robot's motors: cart.force"),
            ("{push: {motor: cart.force, value: 1, duration: 2, every: 1}}", "push.duration: 2.0 s must be shorter than every (1.0 s)"),
            ("{push: {motor: cart.force, value: 1, every: 1}}", "push.duration: missing"),
            ("{push: {motor: cart.force, value: 1, duration: 0.1, every: 1, sign: sideways}}", "push.sign: one of positive, alternate, random"),
            ("3", "disturbances: expected a mapping"),
        ]
        for (text, expected) in cases {
            expectRefused(try robot(text), expected, prefix: "--set disturbances", text)
        }
    }
}
