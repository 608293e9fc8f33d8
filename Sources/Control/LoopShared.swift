import Synchronization

/// What the loop thread shares with the rest of the daemon: counters it
/// publishes and requests it takes at tick boundaries. Atomics only, so the
/// loop never waits for another thread.
public final class LoopShared: Sendable {
    public enum State: Int, Sendable {
        case waiting = 1, running, paused, safeStop, stopping
        public var name: String {
            switch self {
            case .waiting: "waiting for frames"
            case .running: "running"
            case .paused: "paused"
            case .safeStop: "safe stop"
            case .stopping: "stopping"
            }
        }
    }

    /// Requests from operators, applied by the loop at the next tick boundary.
    public struct Requests: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let pause = Requests(rawValue: 1)
        public static let resume = Requests(rawValue: 2)
        public static let reset = Requests(rawValue: 4)
        public static let safeStop = Requests(rawValue: 8)
        /// Test-only: the loop stops ticking (to exercise watchdogs).
        public static let stall = Requests(rawValue: 16)
        public static let reward = Requests(rawValue: 32)
        /// Weights to install or copy out: `weightExchange`.
        public static let weights = Requests(rawValue: 1 << 10)
        public static let learningRate = Requests(rawValue: 1 << 11)
    }

    private let stateValue = Atomic<Int>(State.waiting.rawValue)
    public let ticks = Atomic<Int64>(0)
    public let overruns = Atomic<Int64>(0)
    public let staleTicks = Atomic<Int64>(0)
    public let framesAccepted = Atomic<Int64>(0)
    public let safeReasons = Atomic<UInt8>(SafetyFilter.Reasons.startup.rawValue)
    /// CLOCK_MONOTONIC of the last finished tick, ns.
    public let lastTickTime = Atomic<Int64>(0)
    /// The loop's sign of life (ServiceLink's watchdog): advances on every tick
    /// and, in lockstep, on every receive timeout while waiting for a frame;
    /// a stalled loop stops it.
    public let heartbeat = Atomic<Int64>(0)
    /// Network steps done (simulation time = step · dt).
    public let simStep = Atomic<Int64>(0)
    private let pending = Atomic<UInt32>(0)
    private let rewardBits = Atomic<UInt32>(0)
    public let stopRequested = Atomic<Bool>(false)
    /// Signalled with every request, so that a lockstep loop waiting for a
    /// frame sees it.
    public let wakeup = LoopWakeup()
    public let weightExchange = WeightExchange()
    /// Percentiles of tick compute time, ns, as last collected.
    public let computeP50 = Atomic<Int64>(0)
    public let computeP99 = Atomic<Int64>(0)
    public let computeMax = Atomic<Int64>(0)
    /// A reload's new parameters, taken by the loop at its next tick boundary.
    public let updates = LoopMailbox<ConfigurationUpdate>()
    /// Configurations the loop has taken: 1 at start, +1 per applied reload.
    public let configGeneration = Atomic<Int64>(1)
    /// Ticks done when the loop took the last reload (it applies from the next one).
    public let reloadedAfterTick = Atomic<Int64>(0)
    /// Sequence number of the first command the last applied reload shaped.
    public let reloadedAtCommand = Atomic<UInt64>(0)
    /// The watchdog timeout in force, ns.
    public let watchdogTimeout = Atomic<Int64>(0)

    public init() {}

    public var state: State {
        get { State(rawValue: stateValue.load(ordering: .acquiring)) ?? .waiting }
    }

    public func setState(_ s: State) { stateValue.store(s.rawValue, ordering: .releasing) }

    public func request(_ r: Requests) {
        pending.bitwiseOr(r.rawValue, ordering: .acquiringAndReleasing)
        wakeup.signal()
    }

    /// Asks the loop to end after its current tick.
    public func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        wakeup.signal()
    }

    /// An operator's reward signal (SET_REWARD): delivered every tick from the
    /// next one until a frame carries its own reward.
    public func setReward(_ x: Float) {
        rewardBits.store(x.bitPattern, ordering: .relaxed)
        request(.reward)
    }

    public var reward: Float { Float(bitPattern: rewardBits.load(ordering: .relaxed)) }

    private let learningRateBits = Atomic<UInt32>(Float(1).bitPattern)
    /// An operator's learning rate (SET_LEARNING_RATE), taken at the next tick boundary.
    public func setLearningRate(_ x: Float) {
        learningRateBits.store(x.bitPattern, ordering: .relaxed)
        request(.learningRate)
    }

    public var requestedLearningRate: Float { Float(bitPattern: learningRateBits.load(ordering: .relaxed)) }
    /// The learning rate in force (the loop publishes it).
    public let learningRate = Atomic<UInt32>(Float(0).bitPattern)

    /// Operator changes to learning (reward, learning rate) the loop has
    /// taken, and the network step they apply from: recordings note them
    /// there, so that replay applies them at the same step.
    public let learningChanges = Atomic<Int64>(0)
    public let learningChangedAtStep = Atomic<Int64>(0)

    /// Takes every pending request (loop side).
    @inline(__always)
    public func takeRequests() -> Requests {
        Requests(rawValue: pending.exchange(0, ordering: .acquiringAndReleasing))
    }

    public var reasons: SafetyFilter.Reasons { SafetyFilter.Reasons(rawValue: safeReasons.load(ordering: .relaxed)) }
}
