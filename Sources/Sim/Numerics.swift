// Numerical building blocks of the simulators: the classical Runge–Kutta
// integrator and the seeded generator every initial state is drawn from.

#if canImport(Glibc)
import Glibc
#endif

/// One classical fourth-order Runge–Kutta step of `dy/dt = f(y)` (autonomous:
/// the inputs are held constant over the step, as a motor command is held
/// over a control period). Works on SIMD vectors so that a step allocates
/// nothing and specialises to straight-line code.
@inline(__always)
public func rk4Step<V: SIMD>(_ y: V, _ h: Double, _ f: (V) -> V) -> V where V.Scalar == Double {
    let k1 = f(y)
    let k2 = f(y + (0.5 * h) * k1)
    let k3 = f(y + (0.5 * h) * k2)
    let k4 = f(y + h * k3)
    return y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
}

/// The deterministic generator of a simulator (SplitMix64): one per model,
/// reseeded by `reset(seed:)`, never shared, never seeded from the clock.
public struct SimRandom: Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        // Scramble so that neighbouring seeds give unrelated streams.
        state = seed &* 0xD1B5_4A32_D192_ED03 ^ 0x5851_F42D_4C95_7F2D
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 bits.
    @inline(__always)
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in [center − halfWidth, center + halfWidth).
    @inline(__always)
    public mutating func uniform(center: Double = 0, halfWidth: Double) -> Double {
        center + halfWidth * (2 * unit() - 1)
    }

    /// Standard normal (Box–Muller, one value per call).
    @inline(__always)
    public mutating func normal() -> Double {
        var u = unit()
        while u == 0 { u = unit() }
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * unit())
    }
}

/// `angle` wrapped into (−π, π].
@inline(__always)
public func wrapAngle(_ angle: Double) -> Double {
    var a = angle.truncatingRemainder(dividingBy: 2 * .pi)
    if a > .pi { a -= 2 * .pi } else if a <= -.pi { a += 2 * .pi }
    return a
}
