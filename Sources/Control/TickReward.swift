/// The reward a tick gives the network before its steps (docs/plasticity.md):
/// the sum of the rewards of the frames taken since the last tick, else an
/// operator's signal, which lasts until a frame carries a reward. The loop
/// and replay both keep one, so that replay gives every tick the loop's reward
/// whichever order it learns of frames and operator changes in.
public struct TickReward: Sendable {
    private var frames: Float?
    private var signal: Float?

    public init() {}

    /// A frame carrying reward `r`: added to the next tick's; it ends the operator's signal.
    public mutating func frame(_ r: Float) {
        frames = (frames ?? 0) + r
        signal = nil
    }

    /// An operator's reward signal, from the next tick on.
    public mutating func operatorSignal(_ r: Float) { signal = r }

    /// The reward of the tick about to run (or to be skipped, when paused):
    /// the frames' rewards are used up either way.
    public mutating func take() -> Float? {
        defer { frames = nil }
        if frames != nil { signal = nil }
        return frames ?? signal
    }
}
