// Cart-pole: Barto, Sutton & Anderson (1983), "Neuronlike adaptive elements
// that can solve difficult learning control problems", with the equations of
// motion of their appendix (a uniform pole of half-length l hinged on a cart
// moving on a track, horizontal force F on the cart):
//
//   θ̈ = [g sinθ + cosθ·(−F − m_p l θ̇² sinθ + μ_c sgn ẋ)/m_t − μ_p θ̇/(m_p l)]
//        / [l (4/3 − m_p cos²θ / m_t)]
//   ẍ = [F + m_p l (θ̇² sinθ − θ̈ cosθ) − μ_c sgn ẋ] / m_t,   m_t = m_c + m_p
//
// θ = 0 is upright, positive clockwise (a positive force pushes the pole
// towards negative θ). Integrated with RK4 instead of their Euler steps.

public final class CartPole: VectorStateModel {
    public static let modelName = "cartpole"
    public static let sensors = [SimChannel("cart.x", "m"), SimChannel("cart.v", "m/s"),
                                 SimChannel("pole.angle", "rad"), SimChannel("pole.rate", "rad/s")]
    public static let motors = [SimChannel("cart.force", "N")]
    public static let stateNames = ["x", "v", "angle", "rate"]
    public static let parameterKeys = ["cart_mass", "pole_mass", "pole_half_length", "gravity",
                                       "cart_friction", "pole_friction", "fail_angle_deg", "fail_x",
                                       "init_angle", "init_x", "init_v", "init_rate"]

    public let cartMass: Double, poleMass: Double, halfLength: Double, gravity: Double
    public let cartFriction: Double, poleFriction: Double
    public let failAngle: Double, failX: Double
    /// Half-widths of the uniform initial-state distribution.
    public let initAngle: Double, initX: Double, initV: Double, initRate: Double

    /// (x, ẋ, θ, θ̇)
    public var state = SIMD4<Double>()
    public private(set) var reward = 0.0
    public private(set) var failed = false
    public private(set) var steps = 0
    public private(set) var time = 0.0
    /// Seconds from the start of the episode to the failure (or now).
    public private(set) var balancedTime = 0.0
    private var sumAbsAngle = 0.0, sumAbsX = 0.0, maxAbsAngle = 0.0, sumAbsForce = 0.0
    private var totalReward = 0.0

    public init(cartMass: Double = 1.0, poleMass: Double = 0.1, halfLength: Double = 0.5, gravity: Double = 9.8,
                cartFriction: Double = 0, poleFriction: Double = 0, failAngleDegrees: Double = 12, failX: Double = 2.4,
                initAngle: Double = 0.1, initX: Double = 0, initV: Double = 0, initRate: Double = 0) {
        self.cartMass = cartMass; self.poleMass = poleMass; self.halfLength = halfLength; self.gravity = gravity
        self.cartFriction = cartFriction; self.poleFriction = poleFriction
        self.failAngle = failAngleDegrees * .pi / 180; self.failX = failX
        self.initAngle = initAngle; self.initX = initX; self.initV = initV; self.initRate = initRate
    }

    public convenience init(parameters p: SimParameters) throws {
        try p.checkKeys(Self.parameterKeys)
        self.init(cartMass: try p.number("cart_mass", default: 1.0, positive: true),
                  poleMass: try p.number("pole_mass", default: 0.1, positive: true),
                  halfLength: try p.number("pole_half_length", default: 0.5, positive: true),
                  gravity: try p.number("gravity", default: 9.8, min: 0),
                  cartFriction: try p.number("cart_friction", default: 0, min: 0),
                  poleFriction: try p.number("pole_friction", default: 0, min: 0),
                  failAngleDegrees: try p.number("fail_angle_deg", default: 12, positive: true),
                  failX: try p.number("fail_x", default: 2.4, positive: true),
                  initAngle: try p.number("init_angle", default: 0.1, min: 0),
                  initX: try p.number("init_x", default: 0, min: 0),
                  initV: try p.number("init_v", default: 0, min: 0),
                  initRate: try p.number("init_rate", default: 0, min: 0))
    }

    public static let initialStateKeys = stateNames

    public func reset(seed: UInt64) {
        var random = SimRandom(seed: seed)
        // Drawn in a fixed order: angle first, so that only init_angle ≠ 0
        // gives the same angles whatever the other widths are.
        let angle = random.uniform(halfWidth: initAngle)
        let x = random.uniform(halfWidth: initX)
        let v = random.uniform(halfWidth: initV)
        let rate = random.uniform(halfWidth: initRate)
        reset(state: SIMD4(x, v, angle, rate))
    }

    /// Starts an episode from an explicit state (x, ẋ, θ, θ̇).
    public func reset(state: SIMD4<Double>) {
        self.state = state
        reward = 0; failed = false; steps = 0; time = 0; balancedTime = 0
        sumAbsAngle = 0; sumAbsX = 0; maxAbsAngle = 0; sumAbsForce = 0; totalReward = 0
    }

    /// The time derivative of (x, ẋ, θ, θ̇) under `force`.
    @inline(__always)
    public func derivative(_ s: SIMD4<Double>, force: Double) -> SIMD4<Double> {
        let v = s[1], theta = s[2], omega = s[3]
        let sinT = theta.sin, cosT = theta.cos
        let mt = cartMass + poleMass
        let sgnV: Double = v > 0 ? 1 : (v < 0 ? -1 : 0)
        let temp = (-force - poleMass * halfLength * omega * omega * sinT + cartFriction * sgnV) / mt
        let thetaAcc = (gravity * sinT + cosT * temp - poleFriction * omega / (poleMass * halfLength))
            / (halfLength * (4.0 / 3.0 - poleMass * cosT * cosT / mt))
        let xAcc = (force + poleMass * halfLength * (omega * omega * sinT - thetaAcc * cosT) - cartFriction * sgnV) / mt
        return SIMD4(v, xAcc, omega, thetaAcc)
    }

    /// Total mechanical energy, J (kinetic of cart and pole, pole about its
    /// centre with I = m_p l²/3, potential of the pole's centre).
    public var energy: Double {
        let v = state[1], theta = state[2], omega = state[3]
        let l = halfLength
        let vx = v + l * omega * theta.cos, vy = -l * omega * theta.sin
        return 0.5 * cartMass * v * v + 0.5 * poleMass * (vx * vx + vy * vy)
            + 0.5 * (poleMass * l * l / 3) * omega * omega + poleMass * gravity * l * theta.cos
    }

    public func advance(motors: UnsafePointer<Float>, period: Double, substeps: Int) {
        let force = Double(motors[0])
        let h = period / Double(substeps)
        for _ in 0..<substeps { state = rk4Step(state, h) { derivative($0, force: force) } }
        steps += 1
        time = Double(steps) * period
        let angle = abs(state[2]), x = abs(state[0])
        sumAbsAngle += angle; sumAbsX += x; sumAbsForce += abs(force)
        maxAbsAngle = max(maxAbsAngle, angle)
        if !failed && (angle > failAngle || x > failX) { failed = true }
        reward = failed ? 0 : 1
        totalReward += reward
        if !failed { balancedTime = time }
    }

    public func readSensors(into values: UnsafeMutablePointer<Float>) {
        values[0] = Float(state[0]); values[1] = Float(state[1])
        values[2] = Float(wrapAngle(state[2])); values[3] = Float(state[3])
    }

    public func readState(into values: UnsafeMutablePointer<Double>) {
        for i in 0..<4 { values[i] = state[i] }
    }

    public func statistics() -> [SimStatistic] {
        let n = Double(max(steps, 1))
        return [SimStatistic("balanced", balancedTime, "s"),
                SimStatistic("mean|angle|", sumAbsAngle / n * 180 / .pi, "deg"),
                SimStatistic("max|angle|", maxAbsAngle * 180 / .pi, "deg"),
                SimStatistic("mean|x|", sumAbsX / n, "m"),
                SimStatistic("mean|force|", sumAbsForce / n, "N"),
                SimStatistic("reward", totalReward)]
    }
}

extension Double {
    @inline(__always) var sin: Double { _sin(self) }
    @inline(__always) var cos: Double { _cos(self) }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _sin(_ x: Double) -> Double { Glibc.sin(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#endif
