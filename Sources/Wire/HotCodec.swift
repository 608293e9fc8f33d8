// The allocation-free codec for the two messages of every tick, SensorFrame
// and MotorCommand (spikeloop.v1), in protobuf wire format.
//
// swift-protobuf's generated structs keep their repeated fields in Swift
// arrays, so decoding a frame allocates. This codec reads into and writes from
// buffers allocated once, at start. Its output is byte for byte what
// swift-protobuf and Python's protobuf write (fields in number order, proto3
// defaults omitted, packed floats); it reads everything they may write,
// including unpacked floats, repeated occurrences of a field (last one wins,
// repeated values concatenate) and unknown fields, which it skips.
//
// Field numbers below must match Proto/spikeloop/v1/spikeloop.proto.

/// Why bytes are not a valid message (all counted as "malformed").
public enum DecodeFailure: UInt8, Error, Sendable, CustomStringConvertible {
    /// The bytes end inside a field.
    case truncated
    /// A varint longer than 10 bytes, or a tag beyond the field-number range.
    case badVarint
    /// Field number 0, a group, or an unknown wire type.
    case badTag
    /// A known field arrives with a wire type it cannot have.
    case wrongWireType
    /// Packed floats whose length is not a multiple of 4.
    case badPackedLength

    public var description: String {
        switch self {
        case .truncated: return "message ends inside a field"
        case .badVarint: return "varint longer than 10 bytes"
        case .badTag: return "invalid field tag"
        case .wrongWireType: return "field has the wrong wire type"
        case .badPackedLength: return "packed floats are not a multiple of 4 bytes"
        }
    }
}

/// A SensorFrame held in memory allocated once. Decoding into it does not
/// allocate. Values beyond `capacity` are counted in `valueCount` but not kept.
public final class SensorFrameBuffer {
    /// How many values the buffer keeps.
    public let capacity: Int
    /// Storage for `capacity` values; the first `min(valueCount, capacity)` are valid.
    public let values: UnsafeMutablePointer<Float>
    /// Number of values the message carried (may exceed `capacity`).
    public var valueCount = 0
    public var protocolVersion: UInt32 = 0
    public var layoutHash: UInt64 = 0
    public var sequence: UInt64 = 0
    public var senderTimeNs: Int64 = 0
    public var simTimeNs: Int64 = 0
    /// The reward, or nil when the frame has none.
    public var reward: Float? = nil
    public var estop = false

    public init(capacity: Int) {
        precondition(capacity >= 0, "SensorFrameBuffer capacity must not be negative")
        self.capacity = capacity
        values = .allocate(capacity: max(capacity, 1))
        values.initialize(repeating: 0, count: max(capacity, 1))
    }

    deinit { values.deallocate() }

    /// The kept values.
    public var valueBuffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: values, count: min(valueCount, capacity))
    }

    /// Clears every field (values count 0).
    public func reset() {
        valueCount = 0; protocolVersion = 0; layoutHash = 0; sequence = 0
        senderTimeNs = 0; simTimeNs = 0; reward = nil; estop = false
    }
}

/// A MotorCommand held in memory allocated once. Encoding from it and
/// decoding into it does not allocate.
public final class MotorCommandBuffer {
    public let capacity: Int
    public let values: UnsafeMutablePointer<Float>
    public var valueCount = 0
    public var protocolVersion: UInt32 = 0
    public var layoutHash: UInt64 = 0
    public var sequence: UInt64 = 0
    public var sensorSequence: UInt64 = 0
    public var senderTimeNs: Int64 = 0
    public var simTimeNs: Int64 = 0
    public var safeStop = false
    /// Why `safeStop` is set (UTF-8, at most `maximumReasonBytes`; longer
    /// reasons read from the wire are cut there).
    public let reasonBytes: UnsafeMutablePointer<UInt8>
    public var reasonLength = 0
    public static let maximumReasonBytes = 64

    public init(capacity: Int) {
        precondition(capacity >= 0, "MotorCommandBuffer capacity must not be negative")
        self.capacity = capacity
        values = .allocate(capacity: max(capacity, 1))
        values.initialize(repeating: 0, count: max(capacity, 1))
        reasonBytes = .allocate(capacity: Self.maximumReasonBytes)
        reasonBytes.initialize(repeating: 0, count: Self.maximumReasonBytes)
    }

    deinit {
        values.deallocate()
        reasonBytes.deallocate()
    }

    public var valueBuffer: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: values, count: min(valueCount, capacity))
    }

    /// Sets the reason without allocating (cut at `maximumReasonBytes`).
    public func setReason(_ text: StaticString) {
        reasonLength = min(text.utf8CodeUnitCount, Self.maximumReasonBytes)
        reasonBytes.update(from: text.utf8Start, count: reasonLength)
    }

    /// The reason as a string (allocates: for tools and tests).
    public var reason: String {
        String(decoding: UnsafeBufferPointer(start: reasonBytes, count: reasonLength), as: UTF8.self)
    }

    public func reset() {
        valueCount = 0; protocolVersion = 0; layoutHash = 0; sequence = 0
        sensorSequence = 0; senderTimeNs = 0; simTimeNs = 0; safeStop = false; reasonLength = 0
    }
}

// MARK: - Wire format primitives

private enum WireType {
    static let varint: UInt64 = 0
    static let fixed64: UInt64 = 1
    static let lengthDelimited: UInt64 = 2
    static let fixed32: UInt64 = 5
}

struct ProtoReader {
    var position: UnsafePointer<UInt8>
    let end: UnsafePointer<UInt8>

    init(_ bytes: UnsafeRawBufferPointer) {
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(bitPattern: 1)!
        position = base
        end = base + bytes.count
    }

    @inline(__always) var isAtEnd: Bool { position >= end }
    @inline(__always) var remaining: Int { end - position }

    @inline(__always)
    mutating func varint() -> Result<UInt64, DecodeFailure> {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            if position >= end { return .failure(.truncated) }
            let byte = position.pointee
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return .success(result) }
            shift += 7
            if shift >= 70 { return .failure(.badVarint) }
        }
    }

    @inline(__always)
    mutating func fixed64() -> Result<UInt64, DecodeFailure> {
        if remaining < 8 { return .failure(.truncated) }
        let value = UnsafeRawPointer(position).loadUnaligned(as: UInt64.self)
        position += 8
        return .success(UInt64(littleEndian: value))
    }

    @inline(__always)
    mutating func fixed32() -> Result<UInt32, DecodeFailure> {
        if remaining < 4 { return .failure(.truncated) }
        let value = UnsafeRawPointer(position).loadUnaligned(as: UInt32.self)
        position += 4
        return .success(UInt32(littleEndian: value))
    }

    /// Reads a tag: (field number, wire type).
    @inline(__always)
    mutating func tag() -> Result<(UInt64, UInt64), DecodeFailure> {
        switch varint() {
        case let .failure(failure): return .failure(failure)
        case let .success(key):
            let field = key >> 3
            let wireType = key & 7
            if field == 0 || field > 0x1FFF_FFFF { return .failure(.badTag) }
            return .success((field, wireType))
        }
    }

    /// Skips one field of `wireType` whose tag was just read.
    @inline(__always)
    mutating func skip(_ wireType: UInt64) -> DecodeFailure? {
        switch wireType {
        case WireType.varint:
            if case let .failure(failure) = varint() { return failure }
        case WireType.fixed64:
            if remaining < 8 { return .truncated }
            position += 8
        case WireType.lengthDelimited:
            switch varint() {
            case let .failure(failure): return failure
            case let .success(length):
                if length > UInt64(remaining) { return .truncated }
                position += Int(length)
            }
        case WireType.fixed32:
            if remaining < 4 { return .truncated }
            position += 4
        default:
            return .badTag
        }
        return nil
    }

    /// Reads a length-delimited field's bytes (not copied).
    @inline(__always)
    mutating func bytes() -> Result<UnsafeRawBufferPointer, DecodeFailure> {
        switch varint() {
        case let .failure(failure): return .failure(failure)
        case let .success(length):
            if length > UInt64(remaining) { return .failure(.truncated) }
            let field = UnsafeRawBufferPointer(start: position, count: Int(length))
            position += Int(length)
            return .success(field)
        }
    }

    /// Reads packed or unpacked floats of a repeated float field into
    /// `values` (capacity `capacity`), continuing at `count`; returns the new count.
    @inline(__always)
    mutating func floats(_ wireType: UInt64, into values: UnsafeMutablePointer<Float>, capacity: Int,
                         count: Int) -> Result<Int, DecodeFailure> {
        if wireType == WireType.fixed32 {
            switch fixed32() {
            case let .failure(failure): return .failure(failure)
            case let .success(bits):
                if count < capacity { values[count] = Float(bitPattern: bits) }
                return .success(count + 1)
            }
        }
        guard wireType == WireType.lengthDelimited else { return .failure(.wrongWireType) }
        switch varint() {
        case let .failure(failure): return .failure(failure)
        case let .success(length):
            if length > UInt64(remaining) { return .failure(.truncated) }
            if length % 4 != 0 { return .failure(.badPackedLength) }
            let n = Int(length / 4)
            let kept = max(0, min(n, capacity - count))
            if kept > 0 {
                #if _endian(little)
                UnsafeMutableRawPointer(values + count).copyMemory(from: position, byteCount: kept * 4)
                #else
                for i in 0..<kept {
                    let bits = UnsafeRawPointer(position + 4 * i).loadUnaligned(as: UInt32.self)
                    values[count + i] = Float(bitPattern: UInt32(littleEndian: bits))
                }
                #endif
            }
            position += Int(length)
            return .success(count + n)
        }
    }
}

struct ProtoWriter {
    var position: UnsafeMutablePointer<UInt8>

    @inline(__always)
    mutating func byte(_ value: UInt8) {
        position.pointee = value
        position += 1
    }

    @inline(__always)
    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            byte(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        byte(UInt8(value))
    }

    @inline(__always)
    mutating func fixed64(_ value: UInt64) {
        UnsafeMutableRawPointer(position).storeBytes(of: value.littleEndian, as: UInt64.self)
        position += 8
    }

    @inline(__always)
    mutating func fixed32(_ value: UInt32) {
        UnsafeMutableRawPointer(position).storeBytes(of: value.littleEndian, as: UInt32.self)
        position += 4
    }

    @inline(__always)
    mutating func bytes(_ source: UnsafePointer<UInt8>, count: Int) {
        position.update(from: source, count: count)
        position += count
    }

    @inline(__always)
    mutating func zeros(_ count: Int) {
        position.update(repeating: 0, count: count)
        position += count
    }

    @inline(__always)
    mutating func floats(_ values: UnsafePointer<Float>, count: Int) {
        #if _endian(little)
        UnsafeMutableRawPointer(position).copyMemory(from: values, byteCount: count * 4)
        position += count * 4
        #else
        for i in 0..<count { fixed32(values[i].bitPattern) }
        #endif
    }
}

@inline(__always)
func varintSize(_ value: UInt64) -> Int {
    // 1 byte per 7 significant bits, at least 1.
    let bits = 64 - (value | 1).leadingZeroBitCount
    return (bits + 6) / 7
}

// MARK: - The codec

/// Encodes and decodes SensorFrame and MotorCommand without allocating.
public enum HotCodec {
    // Tags (field number << 3 | wire type) of spikeloop.v1.SensorFrame.
    static let frameProtocolVersion: UInt64 = 1 << 3 | 0
    static let frameLayoutHash: UInt64 = 2 << 3 | 1
    static let frameSequence: UInt64 = 3 << 3 | 0
    static let frameSenderTime: UInt64 = 4 << 3 | 0
    static let frameSimTime: UInt64 = 5 << 3 | 0
    static let frameValues: UInt64 = 6 << 3 | 2
    static let frameReward: UInt64 = 7 << 3 | 5
    static let frameEstop: UInt64 = 8 << 3 | 0

    // Tags of spikeloop.v1.MotorCommand.
    static let commandProtocolVersion: UInt64 = 1 << 3 | 0
    static let commandLayoutHash: UInt64 = 2 << 3 | 1
    static let commandSequence: UInt64 = 3 << 3 | 0
    static let commandSensorSequence: UInt64 = 4 << 3 | 0
    static let commandSenderTime: UInt64 = 5 << 3 | 0
    static let commandSimTime: UInt64 = 6 << 3 | 0
    static let commandValues: UInt64 = 7 << 3 | 2
    static let commandSafeStop: UInt64 = 8 << 3 | 0
    static let commandReason: UInt64 = 9 << 3 | 2
    static let commandPadding: UInt64 = 15 << 3 | 2

    /// Decodes a SensorFrame from `bytes` into `frame` (which is reset first).
    /// Returns nil on success.
    public static func decode(_ bytes: UnsafeRawBufferPointer, into frame: SensorFrameBuffer) -> DecodeFailure? {
        frame.reset()
        var reader = ProtoReader(bytes)
        var count = 0
        while !reader.isAtEnd {
            let field: UInt64, wireType: UInt64
            switch reader.tag() {
            case let .failure(failure): return failure
            case let .success(tag): (field, wireType) = tag
            }
            switch field {
            case 1, 3, 4, 5, 8:
                guard wireType == WireType.varint else { return .wrongWireType }
                let value: UInt64
                switch reader.varint() {
                case let .failure(failure): return failure
                case let .success(v): value = v
                }
                switch field {
                case 1: frame.protocolVersion = UInt32(truncatingIfNeeded: value)
                case 3: frame.sequence = value
                case 4: frame.senderTimeNs = Int64(bitPattern: value)
                case 5: frame.simTimeNs = Int64(bitPattern: value)
                default: frame.estop = value != 0
                }
            case 2:
                guard wireType == WireType.fixed64 else { return .wrongWireType }
                switch reader.fixed64() {
                case let .failure(failure): return failure
                case let .success(v): frame.layoutHash = v
                }
            case 6:
                switch reader.floats(wireType, into: frame.values, capacity: frame.capacity, count: count) {
                case let .failure(failure): return failure
                case let .success(n): count = n
                }
            case 7:
                guard wireType == WireType.fixed32 else { return .wrongWireType }
                switch reader.fixed32() {
                case let .failure(failure): return failure
                case let .success(bits): frame.reward = Float(bitPattern: bits)
                }
            default:
                if let failure = reader.skip(wireType) { return failure }
            }
        }
        frame.valueCount = count
        return nil
    }

    /// Decodes a MotorCommand from `bytes` into `command` (reset first).
    /// Returns nil on success.
    public static func decode(_ bytes: UnsafeRawBufferPointer, into command: MotorCommandBuffer) -> DecodeFailure? {
        command.reset()
        var reader = ProtoReader(bytes)
        var count = 0
        while !reader.isAtEnd {
            let field: UInt64, wireType: UInt64
            switch reader.tag() {
            case let .failure(failure): return failure
            case let .success(tag): (field, wireType) = tag
            }
            switch field {
            case 1, 3, 4, 5, 6, 8:
                guard wireType == WireType.varint else { return .wrongWireType }
                let value: UInt64
                switch reader.varint() {
                case let .failure(failure): return failure
                case let .success(v): value = v
                }
                switch field {
                case 1: command.protocolVersion = UInt32(truncatingIfNeeded: value)
                case 3: command.sequence = value
                case 4: command.sensorSequence = value
                case 5: command.senderTimeNs = Int64(bitPattern: value)
                case 6: command.simTimeNs = Int64(bitPattern: value)
                default: command.safeStop = value != 0
                }
            case 2:
                guard wireType == WireType.fixed64 else { return .wrongWireType }
                switch reader.fixed64() {
                case let .failure(failure): return failure
                case let .success(v): command.layoutHash = v
                }
            case 7:
                switch reader.floats(wireType, into: command.values, capacity: command.capacity, count: count) {
                case let .failure(failure): return failure
                case let .success(n): count = n
                }
            case 9:
                guard wireType == WireType.lengthDelimited else { return .wrongWireType }
                switch reader.bytes() {
                case let .failure(failure): return failure
                case let .success(text):
                    command.reasonLength = min(text.count, MotorCommandBuffer.maximumReasonBytes)
                    if let base = text.baseAddress {
                        command.reasonBytes.update(from: base.assumingMemoryBound(to: UInt8.self), count: command.reasonLength)
                    }
                }
            default:
                if let failure = reader.skip(wireType) { return failure }
            }
        }
        command.valueCount = count
        return nil
    }

    /// Size in bytes of `frame` encoded.
    public static func encodedSize(_ frame: SensorFrameBuffer) -> Int {
        let n = min(frame.valueCount, frame.capacity)
        var size = 0
        if frame.protocolVersion != 0 { size += 1 + varintSize(UInt64(frame.protocolVersion)) }
        if frame.layoutHash != 0 { size += 9 }
        if frame.sequence != 0 { size += 1 + varintSize(frame.sequence) }
        if frame.senderTimeNs != 0 { size += 1 + varintSize(UInt64(bitPattern: frame.senderTimeNs)) }
        if frame.simTimeNs != 0 { size += 1 + varintSize(UInt64(bitPattern: frame.simTimeNs)) }
        if n > 0 { size += 1 + varintSize(UInt64(4 * n)) + 4 * n }
        if frame.reward != nil { size += 5 }
        if frame.estop { size += 2 }
        return size
    }

    /// Size in bytes of `command` encoded.
    public static func encodedSize(_ command: MotorCommandBuffer) -> Int {
        let n = min(command.valueCount, command.capacity)
        var size = 0
        if command.protocolVersion != 0 { size += 1 + varintSize(UInt64(command.protocolVersion)) }
        if command.layoutHash != 0 { size += 9 }
        if command.sequence != 0 { size += 1 + varintSize(command.sequence) }
        if command.sensorSequence != 0 { size += 1 + varintSize(command.sensorSequence) }
        if command.senderTimeNs != 0 { size += 1 + varintSize(UInt64(bitPattern: command.senderTimeNs)) }
        if command.simTimeNs != 0 { size += 1 + varintSize(UInt64(bitPattern: command.simTimeNs)) }
        if n > 0 { size += 1 + varintSize(UInt64(4 * n)) + 4 * n }
        if command.safeStop { size += 2 }
        if command.reasonLength > 0 { size += 1 + varintSize(UInt64(command.reasonLength)) + command.reasonLength }
        return size
    }

    /// The longest a command with `motors` values can be, unpadded.
    public static func maximumEncodedSize(motors: Int) -> Int {
        let varints = 4 * 11  // sequence, sensor_sequence, sender_time_ns, sim_time_ns
        let values = motors > 0 ? 1 + varintSize(UInt64(4 * motors)) + 4 * motors : 0
        return 6 + 9 + varints + values + 2 + 2 + MotorCommandBuffer.maximumReasonBytes
    }

    /// The size `encode(_:into:paddedTo:)` pads every command with `motors`
    /// values to: the longest one plus the padding field's header.
    public static func paddedSize(motors: Int) -> Int { maximumEncodedSize(motors: motors) + 2 }

    /// Encodes `frame` into `buffer`; returns the number of bytes written, or
    /// nil when the buffer is too small (nothing written then).
    public static func encode(_ frame: SensorFrameBuffer, into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        let size = encodedSize(frame)
        guard size <= buffer.count else { return nil }
        guard size > 0, let base = buffer.baseAddress else { return 0 }
        var writer = ProtoWriter(position: base.assumingMemoryBound(to: UInt8.self))
        if frame.protocolVersion != 0 { writer.byte(UInt8(frameProtocolVersion)); writer.varint(UInt64(frame.protocolVersion)) }
        if frame.layoutHash != 0 { writer.byte(UInt8(frameLayoutHash)); writer.fixed64(frame.layoutHash) }
        if frame.sequence != 0 { writer.byte(UInt8(frameSequence)); writer.varint(frame.sequence) }
        if frame.senderTimeNs != 0 { writer.byte(UInt8(frameSenderTime)); writer.varint(UInt64(bitPattern: frame.senderTimeNs)) }
        if frame.simTimeNs != 0 { writer.byte(UInt8(frameSimTime)); writer.varint(UInt64(bitPattern: frame.simTimeNs)) }
        let n = min(frame.valueCount, frame.capacity)
        if n > 0 {
            writer.byte(UInt8(frameValues)); writer.varint(UInt64(4 * n))
            writer.floats(frame.values, count: n)
        }
        if let reward = frame.reward { writer.byte(UInt8(frameReward)); writer.fixed32(reward.bitPattern) }
        if frame.estop { writer.byte(UInt8(frameEstop)); writer.byte(1) }
        return size
    }

    /// Encodes `command` into `buffer`; returns the number of bytes written,
    /// or nil when the buffer is too small (nothing written then).
    public static func encode(_ command: MotorCommandBuffer, into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        let size = encodedSize(command)
        guard size <= buffer.count else { return nil }
        guard size > 0, let base = buffer.baseAddress else { return 0 }
        var writer = ProtoWriter(position: base.assumingMemoryBound(to: UInt8.self))
        if command.protocolVersion != 0 { writer.byte(UInt8(commandProtocolVersion)); writer.varint(UInt64(command.protocolVersion)) }
        if command.layoutHash != 0 { writer.byte(UInt8(commandLayoutHash)); writer.fixed64(command.layoutHash) }
        if command.sequence != 0 { writer.byte(UInt8(commandSequence)); writer.varint(command.sequence) }
        if command.sensorSequence != 0 { writer.byte(UInt8(commandSensorSequence)); writer.varint(command.sensorSequence) }
        if command.senderTimeNs != 0 { writer.byte(UInt8(commandSenderTime)); writer.varint(UInt64(bitPattern: command.senderTimeNs)) }
        if command.simTimeNs != 0 { writer.byte(UInt8(commandSimTime)); writer.varint(UInt64(bitPattern: command.simTimeNs)) }
        let n = min(command.valueCount, command.capacity)
        if n > 0 {
            writer.byte(UInt8(commandValues)); writer.varint(UInt64(4 * n))
            writer.floats(command.values, count: n)
        }
        if command.safeStop { writer.byte(UInt8(commandSafeStop)); writer.byte(1) }
        if command.reasonLength > 0 {
            writer.byte(UInt8(commandReason)); writer.varint(UInt64(command.reasonLength))
            writer.bytes(command.reasonBytes, count: command.reasonLength)
        }
        return size
    }

    /// Encodes `command` into exactly `size` bytes of `buffer`: the command,
    /// then MotorCommand.padding (zeros) filling the rest, so that every
    /// command fits a fixed-size zero-copy message (`ReplyPool`). Returns nil
    /// (nothing meaningful written) when it cannot: use `paddedSize(motors:)`.
    public static func encode(_ command: MotorCommandBuffer, into buffer: UnsafeMutableRawBufferPointer,
                              paddedTo size: Int) -> Int? {
        guard size <= buffer.count, let base = buffer.baseAddress, let used = encode(command, into: buffer) else { return nil }
        let rest = size - used
        // Tag, length (one byte up to 127, two from 128) and the zeros.
        let padding = rest - 2 <= 127 ? rest - 2 : rest - 3
        guard padding >= 0, 1 + varintSize(UInt64(padding)) + padding == rest else { return nil }
        var writer = ProtoWriter(position: (base + used).assumingMemoryBound(to: UInt8.self))
        writer.byte(UInt8(commandPadding)); writer.varint(UInt64(padding))
        writer.zeros(padding)
        return size
    }
}
