// Client authorization for CURVE servers: a ZAP handler (ZeroMQ RFC 27) that
// accepts only listed client public keys. Without it, a CURVE server accepts
// any client that knows the server's public key.

import CZeroMQ
import Foundation
import Synchronization

/// Answers ZAP requests of one context on its own thread: CURVE clients whose
/// public key is in the allow list pass, everybody else is refused.
/// Create it before binding the CURVE server sockets; `stop()` it before the
/// context goes away.
public final class CurveAuthenticator: Sendable {
    private final class State: Sendable {
        let stop = Atomic<Bool>(false)
        let accepted = Atomic<Int>(0)
        let refused = Atomic<Int>(0)
        let failure = Mutex<String?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
    }

    private let state = State()

    /// Clients let through so far.
    public var accepted: Int { state.accepted.load(ordering: .relaxed) }
    /// Clients refused so far.
    public var refused: Int { state.refused.load(ordering: .relaxed) }

    /// Starts the handler for `context`, allowing the Z85 public keys `allowedClientKeys`.
    public init(context: ZMQContext, allowedClientKeys: [String]) throws {
        var allowed = Set<[UInt8]>()
        for key in allowedClientKeys {
            try CurveKeyPair.checkZ85Key(key, what: "client public key")
            var decoded = [UInt8](repeating: 0, count: 32)
            _ = zmq_z85_decode(&decoded, key)
            allowed.insert(decoded)
        }
        let state = self.state
        let allowedKeys = allowed
        let thread = Thread {
            defer { state.done.signal() }
            do {
                let socket = try ZMQSocket(context, .rep)
                try socket.bind("inproc://zeromq.zap.01")
                state.ready.signal()
                var poller = ZMQPoller(capacity: 1)
                poller.add(socket)
                while !state.stop.load(ordering: .relaxed) {
                    guard try poller.poll(timeoutMilliseconds: 20) > 0 else { continue }
                    var parts: [[UInt8]] = []
                    repeat {
                        guard let part = try socket.receiveBytes(.wait) else { break }
                        parts.append(part)
                    } while socket.hasMoreParts
                    // version, request id, domain, address, identity, mechanism, credentials…
                    let requestID = parts.count > 1 ? parts[1] : []
                    let mechanism = parts.count > 5 ? String(decoding: parts[5], as: UTF8.self) : ""
                    let ok = parts.first == Array("1.0".utf8) && mechanism == "CURVE"
                        && parts.count > 6 && allowedKeys.contains(parts[6])
                    if ok { state.accepted.add(1, ordering: .relaxed) } else { state.refused.add(1, ordering: .relaxed) }
                    let reply: [[UInt8]] = [
                        Array("1.0".utf8), requestID, Array((ok ? "200" : "400").utf8),
                        Array((ok ? "OK" : "client key not authorized").utf8), [], [],
                    ]
                    for (i, part) in reply.enumerated() {
                        _ = try socket.send(part, .wait, more: i < reply.count - 1)
                    }
                }
            } catch ZMQError.terminated {
                state.ready.signal()
            } catch {
                state.failure.withLock { $0 = "\(error)" }
                state.ready.signal()
            }
        }
        thread.name = "wire-zap"
        thread.start()
        state.ready.wait()
        if let failure = state.failure.withLock({ $0 }) {
            throw PeerError("cannot start the CURVE authenticator: \(failure)")
        }
    }

    /// Reads every `*.public` file in `directory` (one Z85 key each).
    public static func loadAuthorizedKeys(directory: String) throws -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw CurveKeyError("cannot read the authorized client keys directory \(directory)")
        }
        return try names.filter { $0.hasSuffix(".public") }.sorted().map {
            try CurveKeyPair.loadPublicKey((directory as NSString).appendingPathComponent($0))
        }
    }

    /// Stops the handler thread (within about 20 ms); once, later calls return at once.
    public func stop() {
        guard !state.stop.exchange(true, ordering: .relaxed) else { return }  // stopped before
        state.done.wait()
    }
}
