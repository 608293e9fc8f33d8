// Validation of every inbound SensorFrame before it reaches a controller,
// with a counter per rejection reason and a rate-limited report of them.
//
// The validator runs on the loop thread and does not allocate, lock or log:
// it only increments atomics. `RejectionLog`, on any other thread, turns new
// counts into at most one line per reason per interval.

import Synchronization

/// Why an inbound message was rejected. Raw values index the counters.
public enum RejectReason: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// Not a parseable message (garbage, truncated, bad tags).
    case malformed = 0
    /// Zero bytes.
    case empty
    /// Larger than the receive buffer (or a multipart message).
    case oversized
    /// protocol_version is not the current one.
    case wrongVersion
    /// layout_hash differs from the agreed layout.
    case wrongLayout
    /// Number of values differs from the number of sensor channels.
    case wrongValueCount
    /// A value or the reward is NaN or infinite.
    case nonFinite
    /// A value is outside its channel's range.
    case outOfRange

    public var description: String {
        switch self {
        case .malformed: return "malformed"
        case .empty: return "empty"
        case .oversized: return "oversized"
        case .wrongVersion: return "wrong version"
        case .wrongLayout: return "wrong layout"
        case .wrongValueCount: return "wrong value count"
        case .nonFinite: return "non-finite value"
        case .outOfRange: return "out of range"
        }
    }

    /// MotorCommand.reason of the answer to a refused lockstep frame.
    public var refusal: StaticString {
        switch self {
        case .malformed: return "refused frame: malformed"
        case .empty: return "refused frame: empty"
        case .oversized: return "refused frame: oversized"
        case .wrongVersion: return "refused frame: wrong version"
        case .wrongLayout: return "refused frame: wrong layout"
        case .wrongValueCount: return "refused frame: wrong value count"
        case .nonFinite: return "refused frame: non-finite"
        case .outOfRange: return "refused frame: out of range"
        }
    }
}

/// The largest reward magnitude a frame or an operator may send: rewards are
/// dimensionless, so a larger one is a mistake (of units, or of a peer).
public let maximumRewardMagnitude: Float = 1000

/// The protocol version this build speaks (spikeloop.v1: 1).
public let wireProtocolVersion: UInt32 = 1

/// Counters of accepted and rejected messages, per reason. Written by the
/// receiving thread, readable from any thread.
public final class RejectionCounters: Sendable {
    /// One reason's counter and the two detail numbers of its last rejection
    /// (their meaning depends on the reason; see RejectionLog).
    private final class Slot: Sendable {
        let count = Atomic<UInt64>(0)
        let detailA = Atomic<Int64>(0)
        let detailB = Atomic<Int64>(0)
    }

    private let slots: [Slot] = RejectReason.allCases.map { _ in Slot() }
    private let acceptedCount = Atomic<UInt64>(0)

    public init() {}

    /// Counts one rejection with two detail numbers.
    @inline(__always)
    public func reject(_ reason: RejectReason, _ detailA: Int64 = 0, _ detailB: Int64 = 0) {
        let slot = slots[reason.rawValue]
        slot.detailA.store(detailA, ordering: .relaxed)
        slot.detailB.store(detailB, ordering: .relaxed)
        slot.count.wrappingAdd(1, ordering: .releasing)
    }

    /// Counts one accepted message.
    @inline(__always)
    public func accept() { acceptedCount.wrappingAdd(1, ordering: .relaxed) }

    /// Rejections so far for `reason`.
    public func count(_ reason: RejectReason) -> UInt64 {
        slots[reason.rawValue].count.load(ordering: .acquiring)
    }

    /// Accepted messages so far.
    public var accepted: UInt64 { acceptedCount.load(ordering: .relaxed) }

    /// All rejections so far.
    public var totalRejected: UInt64 { RejectReason.allCases.reduce(0) { $0 + count($1) } }

    /// The detail numbers of the last rejection for `reason`.
    public func lastDetail(_ reason: RejectReason) -> (Int64, Int64) {
        let slot = slots[reason.rawValue]
        return (slot.detailA.load(ordering: .relaxed), slot.detailB.load(ordering: .relaxed))
    }
}

/// The valid range of one sensor channel.
public struct ChannelRange: Sendable, Equatable {
    public var min: Float
    public var max: Float
    public init(min: Float, max: Float) {
        self.min = min
        self.max = max
    }
    /// Any finite value.
    public static let unbounded = ChannelRange(min: -.greatestFiniteMagnitude, max: .greatestFiniteMagnitude)
}

/// Checks inbound SensorFrames against the agreed layout. One per receiving
/// socket, used from its thread; does not allocate after init.
public final class SensorFrameValidator {
    /// Layout hash every frame must carry.
    public let layoutHash: UInt64
    /// Number of sensor channels (values per frame).
    public let channelCount: Int
    private let minimum: UnsafeMutablePointer<Float>
    private let maximum: UnsafeMutablePointer<Float>
    /// The counters it writes.
    public let counters: RejectionCounters

    /// `ranges` has one entry per sensor channel (or is empty: all unbounded).
    public init(layoutHash: UInt64, channelCount: Int, ranges: [ChannelRange] = [],
                counters: RejectionCounters = RejectionCounters()) {
        precondition(ranges.isEmpty || ranges.count == channelCount,
                     "SensorFrameValidator: \(ranges.count) ranges for \(channelCount) channels")
        self.layoutHash = layoutHash
        self.channelCount = channelCount
        self.counters = counters
        minimum = .allocate(capacity: max(channelCount, 1))
        maximum = .allocate(capacity: max(channelCount, 1))
        for i in 0..<channelCount {
            let range = ranges.isEmpty ? .unbounded : ranges[i]
            minimum[i] = range.min
            maximum[i] = range.max
        }
    }

    deinit {
        minimum.deallocate()
        maximum.deallocate()
    }

    /// A frame buffer sized for this layout (one spare slot to detect extras).
    public func makeFrameBuffer() -> SensorFrameBuffer { SensorFrameBuffer(capacity: channelCount + 1) }

    /// Decodes and checks a received message: `bytes` is the receive buffer
    /// and `received` what the socket reported. On success `frame` holds the
    /// frame and nil is returned; otherwise the reason, already counted.
    public func accept(_ received: ZMQReceived, buffer bytes: UnsafeRawBufferPointer,
                       into frame: SensorFrameBuffer) -> RejectReason? {
        if received.byteCount == 0 && !received.more { return reject(.empty) }
        if received.truncated || received.more {
            return reject(.oversized, Int64(received.byteCount), Int64(bytes.count))
        }
        return accept(UnsafeRawBufferPointer(rebasing: bytes[0..<received.byteCount]), into: frame)
    }

    /// Decodes and checks one complete message.
    public func accept(_ message: UnsafeRawBufferPointer, into frame: SensorFrameBuffer) -> RejectReason? {
        if message.isEmpty { return reject(.empty) }
        if let failure = HotCodec.decode(message, into: frame) {
            return reject(.malformed, Int64(failure.rawValue), Int64(message.count))
        }
        if frame.protocolVersion != wireProtocolVersion {
            return reject(.wrongVersion, Int64(frame.protocolVersion), Int64(wireProtocolVersion))
        }
        if frame.layoutHash != layoutHash {
            return reject(.wrongLayout, Int64(bitPattern: frame.layoutHash), Int64(bitPattern: layoutHash))
        }
        if frame.valueCount != channelCount {
            return reject(.wrongValueCount, Int64(frame.valueCount), Int64(channelCount))
        }
        let values = frame.values
        for i in 0..<channelCount where !values[i].isFinite {
            return reject(.nonFinite, Int64(i), Int64(values[i].bitPattern))
        }
        if let reward = frame.reward, !reward.isFinite {
            return reject(.nonFinite, -1, Int64(reward.bitPattern))
        }
        if let reward = frame.reward, abs(reward) > maximumRewardMagnitude {
            return reject(.outOfRange, -1, Int64(reward.bitPattern))
        }
        for i in 0..<channelCount where values[i] < minimum[i] || values[i] > maximum[i] {
            return reject(.outOfRange, Int64(i), Int64(values[i].bitPattern))
        }
        counters.accept()
        return nil
    }

    @inline(__always)
    private func reject(_ reason: RejectReason, _ a: Int64 = 0, _ b: Int64 = 0) -> RejectReason {
        counters.reject(reason, a, b)
        return reason
    }

    /// The range of channel `index`.
    public func range(_ index: Int) -> ChannelRange { ChannelRange(min: minimum[index], max: maximum[index]) }
}

/// Turns rejection counts into log lines, at most one per reason per
/// `interval`. Call `poll` from a housekeeping thread (or after a rejection
/// outside the real-time loop); it never runs on the loop thread.
public final class RejectionLog {
    public let counters: RejectionCounters
    /// Minimum time between two lines for the same reason, nanoseconds.
    public let intervalNs: Int64
    /// Names the socket in lines, e.g. "sensor socket tcp://127.0.0.1:5555".
    public let source: String
    /// Receives each line.
    public let emit: (String) -> Void
    private var reported = [UInt64](repeating: 0, count: RejectReason.allCases.count)
    private var lastLine = [Int64?](repeating: nil, count: RejectReason.allCases.count)
    private let channelNames: [String]
    private let ranges: [ChannelRange]

    public init(counters: RejectionCounters, source: String, channelNames: [String] = [],
                ranges: [ChannelRange] = [], intervalNs: Int64 = 1_000_000_000,
                emit: @escaping (String) -> Void) {
        self.counters = counters
        self.source = source
        self.channelNames = channelNames
        self.ranges = ranges
        self.intervalNs = intervalNs
        self.emit = emit
    }

    /// Emits a line for every reason with new rejections whose last line is
    /// at least `intervalNs` old at `nowNs`. Returns the number of lines.
    @discardableResult
    public func poll(nowNs: Int64) -> Int {
        var lines = 0
        for reason in RejectReason.allCases {
            let total = counters.count(reason)
            let new = total - reported[reason.rawValue]
            guard new > 0 else { continue }
            if let last = lastLine[reason.rawValue], nowNs - last < intervalNs { continue }
            reported[reason.rawValue] = total
            lastLine[reason.rawValue] = nowNs
            let (a, b) = counters.lastDetail(reason)
            emit("wire: \(source): rejected \(new) message\(new == 1 ? "" : "s") (\(reason)); last: \(detail(reason, a, b)); \(total) in all")
            lines += 1
        }
        return lines
    }

    func detail(_ reason: RejectReason, _ a: Int64, _ b: Int64) -> String {
        func channel(_ i: Int64) -> String {
            if i < 0 { return "reward" }
            let index = Int(i)
            return index < channelNames.count ? "value \(index) (\(channelNames[index]))" : "value \(index)"
        }
        switch reason {
        case .malformed:
            let failure = DecodeFailure(rawValue: UInt8(truncatingIfNeeded: a)).map { "\($0)" } ?? "unparseable"
            return "\(failure), \(b) bytes"
        case .empty: return "0 bytes"
        case .oversized: return "\(a) bytes, at most \(b) accepted"
        case .wrongVersion: return "protocol_version \(a), expected \(b)"
        case .wrongLayout:
            return "layout_hash \(hex(UInt64(bitPattern: a))), expected \(hex(UInt64(bitPattern: b)))"
        case .wrongValueCount: return "\(a) values, expected \(b) (one per sensor channel)"
        case .nonFinite: return "\(channel(a)) is \(Float(bitPattern: UInt32(truncatingIfNeeded: b)))"
        case .outOfRange:
            let value = "\(channel(a)) is \(Float(bitPattern: UInt32(truncatingIfNeeded: b)))"
            if a < 0 { return value + ", valid ±\(maximumRewardMagnitude)" }
            guard Int(a) < ranges.count else { return value }
            return value + ", valid [\(ranges[Int(a)].min), \(ranges[Int(a)].max)]"
        }
    }

}
