// CURVE security (ZeroMQ's CurveZMQ, RFC 26) and the endpoint rule:
// an endpoint that is neither loopback nor IPC/inproc must use CURVE unless
// the configuration explicitly says `insecure: true`.

import CZeroMQ
import Foundation

/// A CURVE key pair in Z85 text (40 characters each).
public struct CurveKeyPair: Sendable, Equatable {
    /// The public key, Z85, 40 characters. Give it to peers.
    public let publicKey: String
    /// The secret key, Z85, 40 characters. Keep it in a file only its owner reads.
    public let secretKey: String

    /// A fresh key pair from libzmq (libsodium).
    public static func generate() throws -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        if zmq_curve_keypair(&publicKey, &secretKey) != 0 {
            throw ZMQError.current("zmq_curve_keypair (is libzmq built with CURVE?)")
        }
        return CurveKeyPair(publicKey: stringFromCChars(publicKey), secretKey: stringFromCChars(secretKey))
    }

    /// The pair whose secret key is `secretKey` (the public key is derived).
    public init(secretKey: String) throws {
        try CurveKeyPair.checkZ85Key(secretKey, what: "secret key")
        var publicKey = [CChar](repeating: 0, count: 41)
        if zmq_curve_public(&publicKey, secretKey) != 0 {
            throw ZMQError.current("zmq_curve_public")
        }
        self.publicKey = stringFromCChars(publicKey)
        self.secretKey = secretKey
    }

    private init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Throws unless `key` is a 40-character Z85 text that decodes to 32 bytes.
    public static func checkZ85Key(_ key: String, what: String, file: String? = nil) throws {
        let place = file.map { " in \($0)" } ?? ""
        guard key.utf8.count == 40 else {
            throw CurveKeyError("\(what)\(place) has \(key.utf8.count) characters; a CURVE key in Z85 has exactly 40")
        }
        var decoded = [UInt8](repeating: 0, count: 32)
        if zmq_z85_decode(&decoded, key) == nil {
            throw CurveKeyError("\(what)\(place) is not valid Z85 text (characters 0-9 a-z A-Z .-:+=^!/*?&<>()[]{}@%$#)")
        }
    }

    /// Writes `<directory>/<name>.public` (the public key and a newline) and
    /// `<directory>/<name>.secret` (the secret key and a newline, mode 0600).
    public func write(directory: String, name: String) throws {
        let base = (directory as NSString).appendingPathComponent(name)
        try (publicKey + "\n").write(toFile: base + ".public", atomically: true, encoding: .utf8)
        let secretPath = base + ".secret"
        _ = FileManager.default.createFile(atPath: secretPath, contents: Data((secretKey + "\n").utf8),
                                       attributes: [.posixPermissions: 0o600])
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: secretPath)
    }

    /// Reads a secret key file written by `write` (one Z85 line).
    public static func load(secretKeyFile path: String) throws -> CurveKeyPair {
        try CurveKeyPair(secretKey: readKey(path, what: "secret key"))
    }

    /// Why `path` must not hold a secret key: a name of a public key file,
    /// or permissions that let others read or write it. Nil when it may.
    public static func secretKeyFileProblem(_ path: String) -> String? {
        if path.hasSuffix(".public") {
            return "\(path) is a public key file; give the secret key (the .secret file of the pair)"
        }
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }  // reading it reports the problem
        if info.st_mode & 0o077 != 0 {
            return "\(path) can be read or written by others (mode \(String(info.st_mode & 0o777, radix: 8))); a secret key file must be its owner's only: chmod 600 \(path)"
        }
        return nil
    }

    /// Reads a public key file written by `write` (one Z85 line).
    public static func loadPublicKey(_ path: String) throws -> String {
        try readKey(path, what: "public key")
    }

    static func readKey(_ path: String, what: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CurveKeyError("cannot read the \(what) file \(path)")
        }
        let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
        try checkZ85Key(key, what: what, file: path)
        return key
    }
}

/// A CURVE key that cannot be used, with the reason.
public struct CurveKeyError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension ZMQSocket {
    /// Makes this socket a CURVE server with `keys` (before bind/connect).
    /// Clients must know `keys.publicKey`.
    public func makeCurveServer(_ keys: CurveKeyPair) throws {
        try setOption(ZMQ_CURVE_SERVER, Int32(1))
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(keys.secretKey.utf8))
    }

    /// Makes this socket a CURVE client of the server with public key
    /// `serverPublicKey`, using `keys` as its own (before bind/connect).
    public func makeCurveClient(serverPublicKey: String, keys: CurveKeyPair) throws {
        try CurveKeyPair.checkZ85Key(serverPublicKey, what: "server public key")
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: Array(serverPublicKey.utf8))
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: Array(keys.publicKey.utf8))
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(keys.secretKey.utf8))
    }

    /// The socket's security mechanism: 0 none, 1 PLAIN, 2 CURVE.
    public var mechanism: Int32 { get throws { try intOption(ZMQ_MECHANISM) } }
}

/// The rule for endpoints reachable from other hosts.
public enum EndpointPolicy {
    /// Whether `endpoint` is reachable from this host only: `ipc://`,
    /// `inproc://`, or `tcp://` on 127.0.0.0/8, `localhost` or `[::1]`
    /// (optionally with a `lo` interface prefix).
    public static func isLocal(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        var address = String(endpoint.dropFirst("tcp://".count))
        // "source;destination" on connect: the destination decides.
        if let semicolon = address.lastIndex(of: ";") { address = String(address[address.index(after: semicolon)...]) }
        let host: String
        if address.hasPrefix("[") {
            guard let close = address.firstIndex(of: "]") else { return false }
            host = String(address[address.index(after: address.startIndex)..<close])
        } else if let colon = address.lastIndex(of: ":") {
            host = String(address[..<colon])
        } else {
            host = address
        }
        if host == "localhost" || host == "::1" || host == "lo" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        if parts.count == 4, parts[0] == "127", parts.allSatisfy({ UInt8($0) != nil }) { return true }
        return false
    }

    /// Throws unless `endpoint` is local, or CURVE is configured, or the
    /// configuration explicitly allows an insecure endpoint.
    public static func check(_ endpoint: String, curve: Bool, insecure: Bool, key: String = "endpoint") throws {
        if isLocal(endpoint) || curve || insecure { return }
        throw EndpointPolicyError(description:
            "\(key) \(endpoint) is reachable from other hosts but has no CURVE keys; "
            + "use a loopback (tcp://127.0.0.1:PORT) or ipc:// endpoint, configure CURVE keys "
            + "(curve_secret_key / curve_server_key files), or set insecure: true to accept an "
            + "unencrypted, unauthenticated endpoint")
    }
}

/// An endpoint refused by `EndpointPolicy`.
public struct EndpointPolicyError: Error, CustomStringConvertible, Equatable {
    public let description: String
}

/// How one side of a connection is secured.
public enum WireSecurity: Sendable, Equatable {
    /// No encryption: only for local endpoints or with `insecure: true`.
    case none
    /// CURVE server with its own key pair (binding side).
    case curveServer(CurveKeyPair)
    /// CURVE client that knows the server's public key.
    case curveClient(serverPublicKey: String, keys: CurveKeyPair)
}

extension ZMQSocket {
    /// Applies `security`, checks `EndpointPolicy` and binds.
    public func bind(_ endpoint: String, security: WireSecurity, insecure: Bool = false) throws {
        try EndpointPolicy.check(endpoint, curve: security != .none, insecure: insecure)
        try apply(security)
        if endpoint.hasPrefix("tcp://[") { try setIPv6(true) }
        try IPCEndpoint.checkFree(endpoint)
        try bind(endpoint)
    }

    /// Applies `security`, checks `EndpointPolicy` and connects.
    public func connect(_ endpoint: String, security: WireSecurity, insecure: Bool = false) throws {
        try EndpointPolicy.check(endpoint, curve: security != .none, insecure: insecure)
        try apply(security)
        try connect(endpoint)
    }

    private func apply(_ security: WireSecurity) throws {
        switch security {
        case .none: break
        case let .curveServer(keys): try makeCurveServer(keys)
        case let .curveClient(serverPublicKey, keys): try makeCurveClient(serverPublicKey: serverPublicKey, keys: keys)
        }
    }
}

/// An ipc:// endpoint's socket file, checked before binding: libzmq's bind
/// removes whatever file is at the path, so a second daemon would silently
/// take the endpoint from a running one.
enum IPCEndpoint {
    /// Throws when another process listens at `endpoint`'s path or the path
    /// is not a socket; a socket nobody listens at (left by a crash) is fine:
    /// binding replaces it.
    static func checkFree(_ endpoint: String) throws {
        guard endpoint.hasPrefix("ipc://") else { return }
        let path = String(endpoint.dropFirst(6))
        if path.hasPrefix("@") || path == "*" { return }  // abstract namespace: the kernel refuses a second bind
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw EndpointPolicyError(description: "\(endpoint): \(path) exists and is not a socket; remove it or choose another path")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected == 0 {
            throw EndpointPolicyError(description: "\(endpoint) is in use: another process (another spikeloop daemon?) listens there; stop it or choose another endpoint")
        }
        if errno == EACCES {
            throw EndpointPolicyError(description: "\(endpoint): permission denied on \(path); it belongs to another user")
        }
    }
}
