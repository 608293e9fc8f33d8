// Classical baselines for the cart-pole, run inside `spikeloop sim`
// (`--controller lqr|pd`) with the same episodes, seeds and statistics as a
// daemon gets: linear state feedback on the frame's sensor values, then the
// daemon's safety filter's clamp and slew limit.

/// F = k · (x, ẋ, θ, θ̇), clamped to [min, max] and slew-limited per tick.
public final class LinearFeedback {
    /// Discrete LQR of the linearised cart-pole at 1 kHz, Q = diag(1, 0.1, 10, 0.1), R = 1
    /// (docs/controllers.md); the law Config/cartpole.yaml implements in spikes.
    public static let lqr: [Float] = [1.0, 2.0, 30.6, 7.8]
    /// Angle only (no position feedback: the cart drifts).
    public static let pd: [Float] = [0, 0, 30.6, 7.8]

    public var gains: [Float]
    public var min: Float, max: Float
    /// Largest change per tick (slew per second × period); infinity for none.
    public var maxStep: Float
    public var safe: Float
    private var last: Float

    public init(gains: [Float], min: Float, max: Float, maxStep: Float, safe: Float) {
        self.gains = gains; self.min = min; self.max = max; self.maxStep = maxStep; self.safe = safe
        last = safe
    }

    public func reset() { last = safe }

    @inline(__always)
    public func control(_ sensors: UnsafePointer<Float>, _ motors: UnsafeMutablePointer<Float>) {
        var f: Float = 0
        for i in 0..<gains.count { f += gains[i] * sensors[i] }
        f = Swift.min(max, Swift.max(min, f))
        f = Swift.min(last + maxStep, Swift.max(last - maxStep, f))
        last = f
        motors[0] = f
    }
}
