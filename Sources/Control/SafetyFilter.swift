/// The last stage before the wire: clamps every motor command to its range,
/// limits how fast it may change, and holds every motor at its safe value while
/// the controller is safe-stopped.
///
/// Safe stop is entered at start (no valid frame yet), when no valid frame has
/// arrived for the watchdog timeout, when a frame asserts e-stop, or on an
/// operator's `safe_stop`. It is left only once valid frames flow again, no
/// e-stop is asserted, and an operator resumes (or, where configured for
/// simulators, automatically).
public struct SafetyFilter: Sendable {
    public struct Motor: Sendable, Equatable {
        public var min: Float
        public var max: Float
        /// Largest change per second, in the motor's unit; `.infinity` for none.
        public var maxSlewPerSecond: Float
        public var safeValue: Float

        public init(min: Float, max: Float, maxSlewPerSecond: Float = .infinity, safeValue: Float) {
            self.min = min
            self.max = max
            self.maxSlewPerSecond = maxSlewPerSecond
            self.safeValue = safeValue
        }
    }

    /// Why the motors are held safe; several can hold at once.
    public struct Reasons: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// No valid frame since start.
        public static let startup = Reasons(rawValue: 1)
        /// No valid frame for the watchdog timeout.
        public static let watchdog = Reasons(rawValue: 2)
        /// The robot asserts e-stop.
        public static let estop = Reasons(rawValue: 4)
        /// An operator asked for a safe stop.
        public static let request = Reasons(rawValue: 8)
        /// The condition cleared; waiting for an operator's resume.
        public static let awaitingResume = Reasons(rawValue: 16)

        /// The reason a command carries (MotorCommand.reason): the most
        /// serious one that holds.
        public var primary: StaticString {
            if contains(.estop) { return "estop" }
            if contains(.watchdog) { return "watchdog" }
            if contains(.request) { return "request" }
            if contains(.awaitingResume) { return "awaiting resume" }
            if contains(.startup) { return "startup" }
            return ""
        }

        public var names: [String] {
            [(Reasons.startup, "startup"), (.watchdog, "watchdog"), (.estop, "estop"),
             (.request, "request"), (.awaitingResume, "awaiting resume")]
                .filter { contains($0.0) }.map(\.1)
        }
    }

    public var motors: [Motor]
    /// Watchdog timeout, ns.
    public var watchdogTimeout: Int64
    /// Leave safe stop without an operator once the condition clears (simulators).
    public var autoResume: Bool
    public private(set) var reasons: Reasons = [.startup]
    /// The command sent last, per motor: the slew limit's reference.
    public private(set) var lastSent: [Float]
    /// Time of the last valid frame, ns.
    private var lastValidFrame: Int64?
    private var lastFilterTime: Int64?

    public init(motors: [Motor], watchdogTimeout: Int64, autoResume: Bool) {
        self.motors = motors
        self.watchdogTimeout = watchdogTimeout
        self.autoResume = autoResume
        lastSent = motors.map(\.safeValue)
    }

    public var isSafeStopped: Bool { !reasons.isEmpty }

    /// A frame passed validation at `time`; `estop` as the frame asserts it.
    public mutating func validFrame(at time: Int64, estop: Bool) {
        lastValidFrame = time
        if estop {
            reasons.remove(.startup)
            reasons.insert(.estop)
            return
        }
        // The first frame starts the loop; leaving an e-stop or a watchdog stop
        // needs an operator's resume unless auto-resume is configured.
        let needsResume = !reasons.isDisjoint(with: [.estop, .watchdog])
        reasons.subtract([.estop, .watchdog, .startup])
        if needsResume && !autoResume { reasons.insert(.awaitingResume) }
    }

    /// Checks the watchdog at `time`, before the tick's command is filtered.
    public mutating func checkWatchdog(at time: Int64) {
        guard let last = lastValidFrame else { return }
        if time - last >= watchdogTimeout { reasons.insert(.watchdog) }
    }

    public mutating func requestSafeStop() { reasons.insert(.request) }

    /// An operator's resume: clears the request and the wait for it. Refused
    /// (returns the reasons that remain) while a condition still holds.
    @discardableResult
    public mutating func resume() -> Reasons {
        reasons.subtract([.request, .awaitingResume])
        return reasons
    }

    /// Filters the decoded commands in place into what may be sent at `time` (ns).
    public mutating func filter(_ commands: UnsafeMutableBufferPointer<Float>, at time: Int64) {
        let elapsed = lastFilterTime.map { Float(Double(time - $0) * 1e-9) } ?? 0
        lastFilterTime = time
        let safe = isSafeStopped
        for i in 0..<min(commands.count, motors.count) {
            let m = motors[i]
            if safe {
                // Safe values go out at once: stopping must not wait for the slew limit.
                commands[i] = m.safeValue
            } else {
                var x = commands[i]
                if !x.isFinite { x = m.safeValue }
                x = Swift.min(m.max, Swift.max(m.min, x))
                if m.maxSlewPerSecond.isFinite {
                    let step = m.maxSlewPerSecond * elapsed
                    x = Swift.min(lastSent[i] + step, Swift.max(lastSent[i] - step, x))
                }
                commands[i] = x
            }
            lastSent[i] = commands[i]
        }
    }

    /// Takes new limits between ticks (a reload); the replaced ones come back
    /// in `motors`, so the caller's thread frees them. The safe state and
    /// the slew limit's reference carry over.
    public mutating func retune(motors: inout [Motor], watchdogTimeout: Int64, autoResume: Bool) {
        guard motors.count == self.motors.count else { return }
        swap(&self.motors, &motors)
        self.watchdogTimeout = watchdogTimeout
        self.autoResume = autoResume
    }

    /// Back to the start-up state (reset keeps nothing of the previous run).
    public mutating func restart() {
        reasons = [.startup]
        lastValidFrame = nil
        lastFilterTime = nil
        lastSent = motors.map(\.safeValue)
    }
}
