import Coding
import Synchronization
import Wire

/// How much the daemon logs.
public enum LogLevel: String, Sendable, CaseIterable, Comparable {
    case debug, info, warning, error

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rank < b.rank }

    /// The level of one of the daemon's log lines ("warning: …", "error: …", else info).
    public init(line: String) {
        self = line.hasPrefix("error:") ? .error : line.hasPrefix("warning:") ? .warning : .info
    }
}

/// What a reload may change while the loop runs. Built off the loop thread,
/// applied by the loop between two ticks, so a tick never sees half of it.
public struct ConfigurationUpdate {
    var safetyMotors: [SafetyFilter.Motor]
    var watchdogTimeout: Int64
    var autoResume: Bool
    /// One per running decoder, in the controller's decoder order.
    var decoders: [DecoderSpec]
    var learningRate: Float

    public init(safetyMotors: [SafetyFilter.Motor], watchdogTimeout: Int64, autoResume: Bool, decoders: [DecoderSpec],
                learningRate: Float = 1) {
        self.learningRate = learningRate
        self.safetyMotors = safetyMotors
        self.watchdogTimeout = watchdogTimeout
        self.autoResume = autoResume
        self.decoders = decoders
    }
}

/// Hands one value from a non-real-time thread to the loop without locks: the
/// loop only ever swaps in place, so it neither allocates nor frees.
public final class LoopMailbox<Value>: @unchecked Sendable {
    private enum State: Int { case empty, posted, applied }
    private let state = Atomic<Int>(State.empty.rawValue)
    private var value: Value?

    /// Posts `v` unless the loop still holds an earlier post; callers
    /// serialise (one poster at a time).
    public func post(_ v: Value) -> Bool {
        _ = collect()
        // An earlier post the loop has not taken yet is withdrawn and replaced.
        if state.compareExchange(expected: State.posted.rawValue, desired: State.empty.rawValue, ordering: .acquiringAndReleasing).exchanged {
            value = nil
        }
        guard state.load(ordering: .acquiring) == State.empty.rawValue else { return false }
        value = v
        state.store(State.posted.rawValue, ordering: .releasing)
        return true
    }

    /// Loop side: applies a posted value in place, if there is one.
    @inline(__always)
    func receive(_ apply: (inout Value) -> Void) {
        guard state.load(ordering: .acquiring) == State.posted.rawValue else { return }
        // The poster withdraws only by a compare-exchange from `posted`, so
        // claiming it the same way makes the value ours until we publish `applied`.
        guard state.compareExchange(expected: State.posted.rawValue, desired: -1, ordering: .acquiringAndReleasing).exchanged else { return }
        apply(&value!)
        state.store(State.applied.rawValue, ordering: .releasing)
    }

    /// Poster side: whether the loop has applied the last post (and frees what it handed back).
    public func collect() -> Bool {
        guard state.load(ordering: .acquiring) == State.applied.rawValue else { return false }
        value = nil
        state.store(State.empty.rawValue, ordering: .releasing)
        return true
    }
}
