// Torque-limited pendulum: a point mass m on a massless rod of length l,
// viscous damping b at the joint, torque u at the joint:
//
//   m l² θ̈ = m g l sinθ − b θ̇ + u
//
// θ = 0 is upright (the unstable equilibrium), θ = π hanging. With the
// torque limit below m g l the pendulum cannot be lifted directly: it has to
// be swung up by pumping energy. Reward per tick (as in Gymnasium's
// Pendulum): −(θ² + 0.1 θ̇² + 0.001 u²)·Δt/0.05 with θ wrapped to (−π, π], i.e.
// the Gymnasium cost rescaled so that one second costs the same at any rate.

public final class Pendulum: VectorStateModel {
    public static let modelName = "pendulum"
    public static let sensors = [SimChannel("pendulum.angle", "rad"), SimChannel("pendulum.rate", "rad/s")]
    public static let motors = [SimChannel("pendulum.torque", "N m")]
    public static let stateNames = ["angle", "rate"]
    public static let parameterKeys = ["mass", "length", "gravity", "damping", "init_angle",
                                       "init_angle_spread", "init_rate_spread", "upright_deg"]

    public let mass: Double, length: Double, gravity: Double, damping: Double
    public let initAngle: Double, initAngleSpread: Double, initRateSpread: Double
    /// |θ| below which the pendulum counts as upright (statistics only).
    public let uprightAngle: Double

    /// (θ, θ̇), θ not wrapped.
    public var state = SIMD2<Double>()
    public private(set) var reward = 0.0
    public let failed = false
    public private(set) var steps = 0
    public private(set) var time = 0.0
    /// Seconds spent with |θ| < upright angle, and the first time it got there.
    public private(set) var uprightTime = 0.0
    public private(set) var firstUpright: Double? = nil
    private var totalReward = 0.0, sumAbsAngle = 0.0, sumAbsTorque = 0.0
    /// Sum of |θ| over the upright ticks: how well it balances once up.
    private var sumAbsAngleUpright = 0.0, uprightSteps = 0

    public init(mass: Double = 1, length: Double = 1, gravity: Double = 9.81, damping: Double = 0.05,
                initAngle: Double = .pi, initAngleSpread: Double = 0.1, initRateSpread: Double = 0.1,
                uprightDegrees: Double = 10) {
        self.mass = mass; self.length = length; self.gravity = gravity; self.damping = damping
        self.initAngle = initAngle; self.initAngleSpread = initAngleSpread; self.initRateSpread = initRateSpread
        self.uprightAngle = uprightDegrees * .pi / 180
    }

    public convenience init(parameters p: SimParameters) throws {
        try p.checkKeys(Self.parameterKeys)
        self.init(mass: try p.number("mass", default: 1, positive: true),
                  length: try p.number("length", default: 1, positive: true),
                  gravity: try p.number("gravity", default: 9.81, min: 0),
                  damping: try p.number("damping", default: 0.05, min: 0),
                  initAngle: try p.number("init_angle", default: .pi),
                  initAngleSpread: try p.number("init_angle_spread", default: 0.1, min: 0),
                  initRateSpread: try p.number("init_rate_spread", default: 0.1, min: 0),
                  uprightDegrees: try p.number("upright_deg", default: 10, positive: true))
    }

    public static let initialStateKeys = stateNames

    public func reset(seed: UInt64) {
        var random = SimRandom(seed: seed)
        let angle = random.uniform(center: initAngle, halfWidth: initAngleSpread)
        let rate = random.uniform(halfWidth: initRateSpread)
        reset(state: SIMD2(angle, rate))
    }

    public func reset(state: SIMD2<Double>) {
        self.state = state
        reward = 0; steps = 0; time = 0; uprightTime = 0; firstUpright = nil
        totalReward = 0; sumAbsAngle = 0; sumAbsTorque = 0; sumAbsAngleUpright = 0; uprightSteps = 0
    }

    @inline(__always)
    public func derivative(_ s: SIMD2<Double>, torque: Double) -> SIMD2<Double> {
        let inertia = mass * length * length
        return SIMD2(s[1], (mass * gravity * length * s[0].sin - damping * s[1] + torque) / inertia)
    }

    /// Mechanical energy, J, zero when hanging at rest; m g l·2 upright at rest.
    public var energy: Double {
        0.5 * mass * length * length * state[1] * state[1] + mass * gravity * length * (1 + state[0].cos)
    }

    public func advance(motors: UnsafePointer<Float>, period: Double, substeps: Int) {
        let torque = Double(motors[0])
        let h = period / Double(substeps)
        for _ in 0..<substeps { state = rk4Step(state, h) { derivative($0, torque: torque) } }
        steps += 1
        time = Double(steps) * period
        let angle = wrapAngle(state[0])
        reward = -(angle * angle + 0.1 * state[1] * state[1] + 0.001 * torque * torque) * period / 0.05
        totalReward += reward
        sumAbsAngle += abs(angle); sumAbsTorque += abs(torque)
        if abs(angle) < uprightAngle {
            uprightTime += period
            sumAbsAngleUpright += abs(angle); uprightSteps += 1
            if firstUpright == nil { firstUpright = time }
        }
    }

    public func readSensors(into values: UnsafeMutablePointer<Float>) {
        values[0] = Float(wrapAngle(state[0])); values[1] = Float(state[1])
    }

    public func readState(into values: UnsafeMutablePointer<Double>) {
        values[0] = wrapAngle(state[0]); values[1] = state[1]
    }

    public func statistics() -> [SimStatistic] {
        let n = Double(max(steps, 1))
        return [SimStatistic("upright", uprightTime, "s"),
                SimStatistic("first upright", firstUpright ?? -1, "s"),
                SimStatistic("mean|angle|", sumAbsAngle / n * 180 / .pi, "deg"),
                SimStatistic("mean|angle| upright", uprightSteps > 0 ? sumAbsAngleUpright / Double(uprightSteps) * 180 / .pi : -1, "deg"),
                SimStatistic("mean|torque|", sumAbsTorque / n, "N m"),
                SimStatistic("reward", totalReward)]
    }
}
