// A small Swift wrapper over libzmq's C API (the `CZeroMQ` system target).
//
// Ownership: a `ZMQContext` is thread-safe and shared; a `ZMQSocket` is a
// non-copyable, non-Sendable value, so it lives on the thread that created
// it and is closed exactly once, when its owner drops it. Sockets are created
// with LINGER 0, so closing (and terminating the context afterwards) never
// waits for unsent messages or a vanished peer.
//
// Errors: EINTR is retried inside the wrapper (unless `.untilInterrupted`),
// EAGAIN means "nothing yet" and is reported as `nil`/`false`, ETERM becomes
// `ZMQError.terminated`, anything else `ZMQError.failed` with the operation
// and libzmq's message.

import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error from libzmq.
public enum ZMQError: Error, Equatable, CustomStringConvertible {
    /// The context was shut down or terminated (ETERM): stop using the socket.
    case terminated
    /// A libzmq call failed; `operation` names the call and its argument.
    case failed(operation: String, code: Int32, message: String)

    static func current(_ operation: @autoclosure () -> String) -> ZMQError {
        let code = zmq_errno()
        if code == ETERM { return .terminated }
        return .failed(operation: operation(), code: code, message: String(cString: zmq_strerror(code)))
    }

    public var description: String {
        switch self {
        case .terminated: return "ZeroMQ context terminated"
        case let .failed(operation, code, message): return "\(operation) failed: \(message) (errno \(code))"
        }
    }
}

/// The ZeroMQ socket types spikeloop uses.
public enum ZMQSocketType: Sendable, CustomStringConvertible {
    case pair, pub, sub, req, rep, dealer, router, pull, push, xpub, xsub

    var raw: Int32 {
        switch self {
        case .pair: return ZMQ_PAIR
        case .pub: return ZMQ_PUB
        case .sub: return ZMQ_SUB
        case .req: return ZMQ_REQ
        case .rep: return ZMQ_REP
        case .dealer: return ZMQ_DEALER
        case .router: return ZMQ_ROUTER
        case .pull: return ZMQ_PULL
        case .push: return ZMQ_PUSH
        case .xpub: return ZMQ_XPUB
        case .xsub: return ZMQ_XSUB
        }
    }

    public var description: String {
        switch self {
        case .pair: return "PAIR"
        case .pub: return "PUB"
        case .sub: return "SUB"
        case .req: return "REQ"
        case .rep: return "REP"
        case .dealer: return "DEALER"
        case .router: return "ROUTER"
        case .pull: return "PULL"
        case .push: return "PUSH"
        case .xpub: return "XPUB"
        case .xsub: return "XSUB"
        }
    }
}

/// Whether a send or receive waits for the socket to become ready.
public enum ZMQWait: Sendable {
    /// Return at once: `nil`/`false` when nothing can be done now (EAGAIN).
    case dontWait
    /// Block until done, or until RCVTIMEO/SNDTIMEO expires (then `nil`/`false`).
    case wait
    /// As `wait`, but a signal delivered to the thread also ends the wait
    /// (then `nil`/`false`) instead of restarting it.
    case untilInterrupted
}

/// The ZeroMQ context: owns the I/O threads. Thread-safe; share it freely.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    /// Creates a context with `ioThreads` I/O threads.
    public init(ioThreads: Int32 = 1) throws {
        guard let handle = zmq_ctx_new() else { throw ZMQError.current("zmq_ctx_new") }
        self.handle = handle
        if zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads) != 0 {
            zmq_ctx_term(handle)
            throw ZMQError.current("zmq_ctx_set(ZMQ_IO_THREADS, \(ioThreads))")
        }
    }

    /// Makes every blocking call on this context's sockets return
    /// `ZMQError.terminated` at once (from any thread). The sockets must
    /// still be dropped by their owners.
    public func shutdown() {
        _ = zmq_ctx_shutdown(handle)
    }

    deinit {
        // Every socket keeps its context alive, so no socket is open here and
        // terminating cannot block.
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    /// libzmq's version as (major, minor, patch).
    public static var version: (major: Int32, minor: Int32, patch: Int32) {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return (major, minor, patch)
    }

    /// Whether libzmq was built with CURVE security (libsodium).
    public static var hasCurve: Bool { zmq_has("curve") != 0 }
}

/// What one `receive(into:)` got.
public struct ZMQReceived: Sendable, Equatable {
    /// Size of the message part as sent. Larger than the buffer when truncated.
    public var byteCount: Int
    /// The part did not fit into the buffer: only the buffer's size was kept.
    public var truncated: Bool
    /// More parts of the same message follow.
    public var more: Bool
}

/// A ZeroMQ socket, owned by the thread that created it.
///
/// Non-copyable and not Sendable: it cannot be shared or captured by another
/// thread's closure, and it is closed exactly once, when its owner drops it.
public struct ZMQSocket: ~Copyable {
    let handle: UnsafeMutableRawPointer
    let context: ZMQContext
    /// The socket's type.
    public let type: ZMQSocketType
    #if DEBUG
    private let owner: pthread_t = pthread_self()
    #endif

    /// Creates a socket on `context`, with LINGER 0 (unsent messages are
    /// discarded when the socket closes).
    public init(_ context: ZMQContext, _ type: ZMQSocketType) throws {
        guard let handle = zmq_socket(context.handle, type.raw) else {
            throw ZMQError.current("zmq_socket(\(type))")
        }
        self.handle = handle
        self.context = context
        self.type = type
        var zero: Int32 = 0
        _ = zmq_setsockopt(handle, ZMQ_LINGER, &zero, MemoryLayout<Int32>.size)
    }

    deinit {
        _ = zmq_close(handle)
    }

    @inline(__always)
    private func checkOwner() {
        #if DEBUG
        assert(pthread_equal(owner, pthread_self()) != 0, "ZMQSocket used from a thread other than its owner")
        #endif
    }

    // MARK: - Endpoints

    /// Binds to `endpoint` (`tcp://127.0.0.1:5555`, `tcp://127.0.0.1:*`,
    /// `ipc:///run/spikeloop/sensors`, `inproc://name`).
    public func bind(_ endpoint: String) throws {
        checkOwner()
        while zmq_bind(handle, endpoint) != 0 {
            if zmq_errno() == EINTR { continue }
            throw ZMQError.current("bind(\(endpoint)) on \(type) socket")
        }
    }

    /// Connects to `endpoint`. Connecting succeeds before the peer exists.
    public func connect(_ endpoint: String) throws {
        checkOwner()
        while zmq_connect(handle, endpoint) != 0 {
            if zmq_errno() == EINTR { continue }
            throw ZMQError.current("connect(\(endpoint)) on \(type) socket")
        }
    }

    /// Undoes `bind(endpoint)`.
    public func unbind(_ endpoint: String) throws {
        checkOwner()
        if zmq_unbind(handle, endpoint) != 0 { throw ZMQError.current("unbind(\(endpoint))") }
    }

    /// Undoes `connect(endpoint)`.
    public func disconnect(_ endpoint: String) throws {
        checkOwner()
        if zmq_disconnect(handle, endpoint) != 0 { throw ZMQError.current("disconnect(\(endpoint))") }
    }

    /// The endpoint last bound, with the port chosen for `tcp://…:*`.
    public var lastEndpoint: String {
        get throws {
            var buffer = [CChar](repeating: 0, count: 1024)
            var size = buffer.count
            if zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) != 0 {
                throw ZMQError.current("getsockopt(ZMQ_LAST_ENDPOINT)")
            }
            return stringFromCChars(buffer)
        }
    }

    // MARK: - Options

    /// Sets an integer option (`ZMQ_*` constant from CZeroMQ).
    public func setOption(_ option: Int32, _ value: Int32) throws {
        checkOwner()
        var value = value
        if zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size) != 0 {
            throw ZMQError.current("setsockopt(\(option), \(value))")
        }
    }

    /// Sets a 64-bit integer option.
    public func setOption64(_ option: Int32, _ value: Int64) throws {
        checkOwner()
        var value = value
        if zmq_setsockopt(handle, option, &value, MemoryLayout<Int64>.size) != 0 {
            throw ZMQError.current("setsockopt(\(option), \(value))")
        }
    }

    /// Sets a binary or string option (the string without its terminator).
    public func setOption(_ option: Int32, bytes: [UInt8]) throws {
        checkOwner()
        let status = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        if status != 0 { throw ZMQError.current("setsockopt(\(option), \(bytes.count) bytes)") }
    }

    /// Reads an integer option.
    public func intOption(_ option: Int32) throws -> Int32 {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        if zmq_getsockopt(handle, option, &value, &size) != 0 { throw ZMQError.current("getsockopt(\(option))") }
        return value
    }

    /// Milliseconds to keep unsent messages after close; the wrapper sets 0.
    public func setLinger(milliseconds: Int32) throws { try setOption(ZMQ_LINGER, milliseconds) }
    /// Keep only the newest message in the queues (SUB/PULL/PUB/PUSH; single-part messages only).
    public func setConflate(_ on: Bool) throws { try setOption(ZMQ_CONFLATE, Int32(on ? 1 : 0)) }
    /// Accepts IPv6 addresses (tcp://[::1]:PORT) as well as IPv4 ones.
    public func setIPv6(_ on: Bool) throws { try setOption(ZMQ_IPV6, Int32(on ? 1 : 0)) }
    /// Queue limit, in messages, for outgoing messages.
    public func setSendHighWaterMark(_ messages: Int32) throws { try setOption(ZMQ_SNDHWM, messages) }
    /// Queue limit, in messages, for incoming messages.
    public func setReceiveHighWaterMark(_ messages: Int32) throws { try setOption(ZMQ_RCVHWM, messages) }
    /// Timeout of a waiting receive, in milliseconds (-1: forever).
    public func setReceiveTimeout(milliseconds: Int32) throws { try setOption(ZMQ_RCVTIMEO, milliseconds) }
    /// Timeout of a waiting send, in milliseconds (-1: forever).
    public func setSendTimeout(milliseconds: Int32) throws { try setOption(ZMQ_SNDTIMEO, milliseconds) }
    /// Queue messages only to completed connections.
    public func setImmediate(_ on: Bool) throws { try setOption(ZMQ_IMMEDIATE, Int32(on ? 1 : 0)) }
    /// Largest accepted inbound message in bytes (-1: no limit); larger ones drop the connection.
    public func setMaxMessageSize(_ bytes: Int64) throws { try setOption64(ZMQ_MAXMSGSIZE, bytes) }
    /// REQ: allow a new request when no reply came (REQ_RELAXED + REQ_CORRELATE).
    public func setRequestRelaxed(_ on: Bool) throws {
        try setOption(ZMQ_REQ_RELAXED, Int32(on ? 1 : 0))
        try setOption(ZMQ_REQ_CORRELATE, Int32(on ? 1 : 0))
    }
    /// SUB: receive messages starting with `prefix` (empty: all).
    public func subscribe(_ prefix: [UInt8] = []) throws { try setOption(ZMQ_SUBSCRIBE, bytes: prefix) }
    /// SUB: stop receiving messages starting with `prefix`.
    public func unsubscribe(_ prefix: [UInt8] = []) throws { try setOption(ZMQ_UNSUBSCRIBE, bytes: prefix) }
    /// Identity of this socket towards ROUTER peers.
    public func setRoutingID(_ id: [UInt8]) throws { try setOption(ZMQ_ROUTING_ID, bytes: id) }

    // MARK: - Sending and receiving

    /// Sends one message part from caller-owned bytes (copied by libzmq).
    /// Returns false when the message could not be queued now (EAGAIN with
    /// `.dontWait`, or SNDTIMEO expired with `.wait`).
    @discardableResult
    public func send(_ bytes: UnsafeRawBufferPointer, _ wait: ZMQWait = .dontWait, more: Bool = false) throws -> Bool {
        checkOwner()
        var flags: Int32 = wait == .dontWait ? ZMQ_DONTWAIT : 0
        if more { flags |= ZMQ_SNDMORE }
        while true {
            if zmq_send(handle, bytes.baseAddress, bytes.count, flags) >= 0 { return true }
            let code = zmq_errno()
            if code == EINTR { if wait == .untilInterrupted { return false }; continue }
            if code == EAGAIN { return false }
            throw ZMQError.current("send(\(bytes.count) bytes) on \(type) socket")
        }
    }

    /// Sends a prepared message; on success libzmq owns it (and empties
    /// `message`), otherwise it stays the caller's.
    func send(message: UnsafeMutablePointer<zmq_msg_t>, _ wait: ZMQWait) throws -> Bool {
        checkOwner()
        let flags: Int32 = wait == .dontWait ? ZMQ_DONTWAIT : 0
        while true {
            if zmq_msg_send(message, handle, flags) >= 0 { return true }
            let code = zmq_errno()
            if code == EINTR && wait != .untilInterrupted { continue }
            if code == EAGAIN || code == EINTR { return false }
            throw ZMQError.current("send(\(zmq_msg_size(message)) bytes) on \(type) socket")
        }
    }

    /// Sends one message part from an array (convenience; not for the hot path).
    @discardableResult
    public func send(_ bytes: [UInt8], _ wait: ZMQWait = .dontWait, more: Bool = false) throws -> Bool {
        try bytes.withUnsafeBytes { try send($0, wait, more: more) }
    }

    /// Receives one message part into caller-owned memory. Returns nil when
    /// nothing is there (EAGAIN with `.dontWait`, or RCVTIMEO expired).
    /// A part larger than the buffer is truncated and flagged.
    public func receive(into buffer: UnsafeMutableRawBufferPointer, _ wait: ZMQWait = .dontWait) throws -> ZMQReceived? {
        checkOwner()
        let flags: Int32 = wait == .dontWait ? ZMQ_DONTWAIT : 0
        while true {
            let size = zmq_recv(handle, buffer.baseAddress, buffer.count, flags)
            if size >= 0 {
                let count = Int(size)
                return ZMQReceived(byteCount: count, truncated: count > buffer.count, more: hasMoreParts)
            }
            let code = zmq_errno()
            if code == EINTR { if wait == .untilInterrupted { return nil }; continue }
            if code == EAGAIN { return nil }
            throw ZMQError.current("receive on \(type) socket")
        }
    }

    /// Receives one message part as a new array (convenience; allocates).
    public func receiveBytes(_ wait: ZMQWait = .dontWait) throws -> [UInt8]? {
        checkOwner()
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        let flags: Int32 = wait == .dontWait ? ZMQ_DONTWAIT : 0
        while true {
            let size = zmq_msg_recv(&message, handle, flags)
            if size >= 0 {
                let data = zmq_msg_data(&message)!
                return Array(UnsafeRawBufferPointer(start: data, count: Int(size)))
            }
            let code = zmq_errno()
            if code == EINTR { if wait == .untilInterrupted { return nil }; continue }
            if code == EAGAIN { return nil }
            throw ZMQError.current("receive on \(type) socket")
        }
    }

    /// Whether the last received part has more parts after it.
    public var hasMoreParts: Bool {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        return zmq_getsockopt(handle, ZMQ_RCVMORE, &value, &size) == 0 && value != 0
    }

    /// Reads and drops the remaining parts of a multipart message; returns
    /// how many were dropped.
    @discardableResult
    public func discardRemainingParts() throws -> Int {
        var dropped = 0
        var scratch: UInt8 = 0
        while hasMoreParts {
            _ = try withUnsafeMutableBytes(of: &scratch) { try receive(into: $0, .wait) }
            dropped += 1
        }
        return dropped
    }
}

@available(*, unavailable, message: "a ZMQSocket belongs to the thread that created it")
extension ZMQSocket: Sendable {}

/// What `ZMQPoller` watches for.
public struct ZMQPollEvents: OptionSet, Sendable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }
    /// A message can be received without waiting.
    public static let readable = ZMQPollEvents(rawValue: Int16(ZMQ_POLLIN))
    /// A message can be sent without waiting.
    public static let writable = ZMQPollEvents(rawValue: Int16(ZMQ_POLLOUT))
}

/// Waits on several sockets at once. Its item array is allocated once, so
/// polling does not allocate. The sockets must outlive the poller and belong
/// to the same thread.
public struct ZMQPoller: ~Copyable {
    private let items: UnsafeMutablePointer<zmq_pollitem_t>
    /// Maximum number of sockets.
    public let capacity: Int
    /// Number of sockets added.
    public private(set) var count = 0

    public init(capacity: Int) {
        precondition(capacity > 0, "ZMQPoller needs a capacity of at least 1")
        self.capacity = capacity
        items = .allocate(capacity: capacity)
    }

    deinit { items.deallocate() }

    /// Adds `socket`; returns its index for `events(at:)`.
    @discardableResult
    public mutating func add(_ socket: borrowing ZMQSocket, _ events: ZMQPollEvents = .readable) -> Int {
        precondition(count < capacity, "ZMQPoller is full (capacity \(capacity))")
        items[count] = zmq_pollitem_t(socket: socket.handle, fd: 0, events: events.rawValue, revents: 0)
        count += 1
        return count - 1
    }

    /// Waits until at least one socket is ready or `timeoutMilliseconds`
    /// passed (-1: forever, 0: just look). Returns the number of ready sockets.
    @discardableResult
    public func poll(timeoutMilliseconds: Int) throws -> Int {
        while true {
            let ready = zmq_poll(items, Int32(count), timeoutMilliseconds)
            if ready >= 0 { return Int(ready) }
            if zmq_errno() == EINTR { continue }
            throw ZMQError.current("zmq_poll(\(count) sockets)")
        }
    }

    /// What the socket at `index` was ready for in the last `poll`.
    public func events(at index: Int) -> ZMQPollEvents {
        precondition(index >= 0 && index < count, "ZMQPoller index \(index) out of 0..<\(count)")
        return ZMQPollEvents(rawValue: items[index].revents)
    }
}

/// The text of a NUL-terminated C character array.
func stringFromCChars(_ chars: [CChar]) -> String {
    String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
