import Foundation
import Synchronization
import Testing
@testable import Wire

@Suite("CURVE and the endpoint rule")
struct SecurityTests {
    @Test(arguments: [
        ("ipc:///run/spikeloop/sensors", true), ("inproc://x", true), ("tcp://127.0.0.1:5555", true),
        ("tcp://127.1.2.3:*", true), ("tcp://localhost:5555", true), ("tcp://[::1]:5555", true),
        ("tcp://lo:5555", true), ("tcp://0.0.0.0:5555", false), ("tcp://*:5555", false),
        ("tcp://192.168.1.10:5555", false), ("tcp://eth0:5555", false), ("tcp://robot.local:5555", false),
        ("tcp://[::]:5555", false), ("tcp://127.0.0.1.evil:1", false), ("pgm://eth0;239.1.1.1:5555", false),
        ("tcp://10.0.0.1:1;127.0.0.1:5555", true),
    ])
    func localEndpoints(endpoint: String, local: Bool) {
        #expect(EndpointPolicy.isLocal(endpoint) == local)
    }

    @Test func nonLocalEndpointWithoutCurveIsRefusedWithAClearMessage() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, .rep)
        #expect(throws: EndpointPolicyError(description:
            "endpoint tcp://0.0.0.0:0 is reachable from other hosts but has no CURVE keys; use a loopback "
            + "(tcp://127.0.0.1:PORT) or ipc:// endpoint, configure CURVE keys (curve_secret_key / "
            + "curve_server_key files), or set insecure: true to accept an unencrypted, unauthenticated endpoint")) {
            try socket.bind("tcp://0.0.0.0:0", security: .none)
        }
        // Explicitly insecure, or with CURVE, it starts.
        try socket.bind("tcp://0.0.0.0:0", security: .none, insecure: true)
        let secured = try ZMQSocket(context, .rep)
        try secured.bind("tcp://0.0.0.0:0", security: .curveServer(try CurveKeyPair.generate()))
        #expect(try secured.mechanism == 2)
    }

    @Test func keyFilesRoundTripAndBadKeysAreNamed() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wire-keys-\(getpid())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keys = try CurveKeyPair.generate()
        #expect(keys.publicKey.utf8.count == 40 && keys.secretKey.utf8.count == 40)
        try keys.write(directory: directory, name: "daemon")
        #expect(try CurveKeyPair.load(secretKeyFile: directory + "/daemon.secret") == keys)
        #expect(try CurveKeyPair.loadPublicKey(directory + "/daemon.public") == keys.publicKey)
        let mode = try FileManager.default.attributesOfItem(atPath: directory + "/daemon.secret")[.posixPermissions] as? Int
        #expect(mode == 0o600)

        try "tooshort\n".write(toFile: directory + "/bad.public", atomically: true, encoding: .utf8)
        #expect(throws: CurveKeyError("public key in \(directory)/bad.public has 8 characters; a CURVE key in Z85 has exactly 40")) {
            try CurveKeyPair.loadPublicKey(directory + "/bad.public")
        }
        #expect(throws: CurveKeyError("cannot read the secret key file \(directory)/missing.secret")) {
            try CurveKeyPair.load(secretKeyFile: directory + "/missing.secret")
        }
    }

    /// A CURVE REP server on loopback that echoes (reversed) until told to stop.
    final class EchoServer: Sendable {
        final class State: Sendable {
            let endpoint = Mutex<String>("")
            let stop = Atomic<Bool>(false)
            let answered = Atomic<Int>(0)
        }
        let state = State()
        let thread: TestThread
        init(context: ZMQContext, keys: CurveKeyPair) {
            let ready = DispatchSemaphore(value: 0)
            let state = self.state
            thread = TestThread {
                do {
                    let socket = try ZMQSocket(context, .rep)
                    try socket.bind("tcp://127.0.0.1:*", security: .curveServer(keys))
                    let bound = try socket.lastEndpoint
                    state.endpoint.withLock { $0 = bound }
                    ready.signal()
                    var poller = ZMQPoller(capacity: 1)
                    poller.add(socket)
                    while !state.stop.load(ordering: .relaxed) {
                        guard try poller.poll(timeoutMilliseconds: 10) > 0, let bytes = try socket.receiveBytes() else { continue }
                        try socket.send(bytes.reversed(), .wait)
                        state.answered.add(1, ordering: .relaxed)
                    }
                } catch {
                    ready.signal()
                }
            }
            ready.wait()
        }
    }

    @Test func curveClientWithTheRightKeyTalksOthersGetNothing() throws {
        let context = try ZMQContext()
        let serverKeys = try CurveKeyPair.generate()
        let server = EchoServer(context: context, keys: serverKeys)
        let endpoint = server.state.endpoint.withLock { $0 }
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))

        func ask(_ security: WireSecurity) throws -> [UInt8]? {
            let client = try ZMQSocket(context, .req)
            try client.setReceiveTimeout(milliseconds: 300)
            try client.connect(endpoint, security: security)
            try client.send([1, 2, 3], .dontWait)
            return try client.receiveBytes(.wait)
        }
        let wrongServerKey = try CurveKeyPair.generate().publicKey
        #expect(try ask(.curveClient(serverPublicKey: wrongServerKey, keys: try CurveKeyPair.generate())) == nil)
        #expect(try ask(.none) == nil)
        #expect(try ask(.curveClient(serverPublicKey: serverKeys.publicKey, keys: try CurveKeyPair.generate())) == [3, 2, 1])
        server.state.stop.store(true, ordering: .relaxed)
        #expect(server.thread.join(seconds: 5))
        #expect(server.state.answered.load(ordering: .relaxed) == 1)
    }
}

@Suite("CURVE client authorization")
struct CurveAuthorizationTests {
    @Test func onlyListedClientKeysGetThrough() throws {
        let context = try ZMQContext()
        let serverKeys = try CurveKeyPair.generate()
        let allowedClient = try CurveKeyPair.generate()
        let otherClient = try CurveKeyPair.generate()
        let authenticator = try CurveAuthenticator(context: context, allowedClientKeys: [allowedClient.publicKey])
        let server = SecurityTests.EchoServer(context: context, keys: serverKeys)
        let endpoint = server.state.endpoint.withLock { $0 }

        func ask(_ keys: CurveKeyPair) throws -> [UInt8]? {
            let client = try ZMQSocket(context, .req)
            try client.setReceiveTimeout(milliseconds: 300)
            try client.connect(endpoint, security: .curveClient(serverPublicKey: serverKeys.publicKey, keys: keys))
            try client.send([7, 8], .dontWait)
            return try client.receiveBytes(.wait)
        }
        #expect(try ask(otherClient) == nil)
        #expect(try ask(allowedClient) == [8, 7])
        server.state.stop.store(true, ordering: .relaxed)
        #expect(server.thread.join(seconds: 5))
        authenticator.stop()
        #expect(authenticator.accepted == 1)
        #expect(authenticator.refused >= 1)
    }
}
