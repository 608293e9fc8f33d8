// wire-peer: the Swift side of the interop and flood tests.
//
//   wire-peer lockstep-server --endpoint E --channels N [--range R] [--frames K]
//                             [--curve-secret FILE] [--curve-clients DIR] [--insecure]
//   wire-peer lockstep-client --endpoint E --channels N --frames K [--curve-server-key FILE]
//   wire-peer realtime-controller --frames-endpoint E1 --commands-endpoint E2 --channels N --until SEQ
//   wire-peer realtime-robot --frames-endpoint E1 --commands-endpoint E2 --channels N --frames K
//   wire-peer codec-check --input FILE --output FILE
//   wire-peer keygen --dir DIR --name NAME      (CURVE key pair as Z85 files)
//
// Prints log lines on stderr and one `key=value …` summary line on stdout.
// Exit status 0 when it ran, 2 on a usage error, 1 on a failure.

import Wire

#if canImport(Glibc)
import Glibc
#endif

func printError(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func fail(_ message: String, status: Int32 = 2) -> Never {
    printError("wire-peer: \(message)")
    exit(status)
}

func parse() -> (mode: String, options: [String: String], flags: Set<String>) {
    var arguments = Array(CommandLine.arguments.dropFirst())
    guard let mode = arguments.first else { fail("missing mode (lockstep-server, lockstep-client, realtime-controller, realtime-robot)") }
    arguments.removeFirst()
    var options: [String: String] = [:]
    var flags: Set<String> = []
    var index = 0
    while index < arguments.count {
        let key = arguments[index]
        guard key.hasPrefix("--") else { fail("unexpected argument \(key)") }
        if key == "--insecure" { flags.insert(key); index += 1; continue }
        guard index + 1 < arguments.count else { fail("\(key) needs a value") }
        options[key] = arguments[index + 1]
        index += 2
    }
    return (mode, options, flags)
}

let (mode, options, flags) = parse()

func string(_ key: String, _ options: [String: String] = options) -> String {
    guard let value = options[key] else { fail("\(mode) needs \(key)") }
    return value
}

func int(_ key: String, default value: Int? = nil, _ options: [String: String] = options) -> Int {
    guard let text = options[key] else {
        if let value { return value }
        fail("\(mode) needs \(key)")
    }
    guard let number = Int(text) else { fail("\(key) must be an integer, not \(text)") }
    return number
}

let log: (String) -> Void = { printError("wire-peer: \($0)") }

do {
    let summary: String
    switch mode {
    case "lockstep-server":
        var security = WireSecurity.none
        if let secret = options["--curve-secret"] { security = .curveServer(try CurveKeyPair.load(secretKeyFile: secret)) }
        summary = try runLockstepEchoServer(
            endpoint: string("--endpoint"), channels: int("--channels"),
            range: Float(options["--range"] ?? "0") ?? 0, frames: int("--frames", default: Int.max),
            security: security, insecure: flags.contains("--insecure"),
            authorizedClientKeys: try options["--curve-clients"].map { try CurveAuthenticator.loadAuthorizedKeys(directory: $0) },
            log: log)
    case "lockstep-client":
        var security = WireSecurity.none
        if let serverKey = options["--curve-server-key"] {
            security = .curveClient(serverPublicKey: try CurveKeyPair.loadPublicKey(serverKey), keys: try CurveKeyPair.generate())
        }
        summary = try runLockstepClient(endpoint: string("--endpoint"), channels: int("--channels"),
                                        frames: int("--frames"), security: security)
    case "realtime-controller":
        summary = try runRealtimeEchoController(
            framesEndpoint: string("--frames-endpoint"), commandsEndpoint: string("--commands-endpoint"),
            channels: int("--channels"), untilSequence: UInt64(int("--until")))
    case "realtime-robot":
        summary = try runRealtimeRobot(
            framesEndpoint: string("--frames-endpoint"), commandsEndpoint: string("--commands-endpoint"),
            channels: int("--channels"), frames: int("--frames"))
    case "keygen":
        let keys = try CurveKeyPair.generate()
        let directory = string("--dir"), name = string("--name")
        try keys.write(directory: directory, name: name)
        summary = "public_key=\(keys.publicKey) wrote \(directory)/\(name).public \(directory)/\(name).secret"
    case "codec-check":
        summary = try runCodecCheck(input: string("--input"), output: string("--output"))
    default:
        fail("unknown mode \(mode)")
    }
    print(summary)
} catch {
    fail("\(error)", status: 1)
}
