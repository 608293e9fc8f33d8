// wire-bench: lockstep round-trip latency of Wire beside raw libzmq REQ/REP.
//
//   wire-bench [--channels 64] [--rounds 20000]
//       Prints a table with p50, p99 and max for both peers, measured in the
//       same run (one process), and the ratio of the medians (target: at most 1.3).
//
//   wire-bench raw-rep --endpoint E --sensors N --motors M
//   wire-bench raw-req --endpoint E --sensors N --motors M [--rounds 20000]
//       Raw libzmq REQ/REP between two processes, with the payload sizes of a
//       robot's SensorFrame and MotorCommand: the peer of a lockstep closed
//       loop (Benchmarks/lockstep-speed). raw-req prints the mean round trip and
//       the speed it allows at a 1 kHz tick; raw-rep serves until raw-req is done.

import CZeroMQ
import Wire
#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String) -> Never {
    print("wire-bench: \(message)")
    exit(2)
}

var arguments = Array(CommandLine.arguments.dropFirst())
let mode = arguments.first.flatMap { $0.hasPrefix("--") ? nil : $0 }
if mode != nil { arguments.removeFirst() }
var options: [String: String] = [:]
while !arguments.isEmpty {
    let key = arguments.removeFirst()
    guard key.hasPrefix("--"), !arguments.isEmpty else { fail("\(key) needs a value") }
    options[key] = arguments.removeFirst()
}

@MainActor func integer(_ key: String, _ fallback: Int?) -> Int {
    guard let text = options[key] else {
        guard let fallback else { fail("\(mode ?? "") needs \(key)") }
        return fallback
    }
    guard let value = Int(text), value > 0 else { fail("\(key) needs a positive integer, got '\(text)'") }
    return value
}

@MainActor func check(_ allowed: [String]) {
    for key in options.keys where !allowed.contains(key) {
        fail("unknown option \(key) (options: \(allowed.joined(separator: ", ")))")
    }
}

/// One raw REQ/REP peer; returns the mean round trip (REQ side), ns.
func raw(request: Bool, endpoint: String, frameBytes: Int, commandBytes: Int, rounds: Int) -> Double? {
    guard let context = zmq_ctx_new(), let socket = zmq_socket(context, request ? ZMQ_REQ : ZMQ_REP) else { fail("zmq_socket failed") }
    var zero: Int32 = 0
    zmq_setsockopt(socket, ZMQ_LINGER, &zero, 4)
    let status = request ? zmq_connect(socket, endpoint) : zmq_bind(socket, endpoint)
    guard status == 0 else { fail("\(request ? "connect" : "bind") \(endpoint): \(String(cString: zmq_strerror(zmq_errno())))") }
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    let frame = UnsafeMutableRawPointer.allocate(byteCount: frameBytes, alignment: 16)
    let command = UnsafeMutableRawPointer.allocate(byteCount: commandBytes, alignment: 16)
    frame.initializeMemory(as: UInt8.self, repeating: 7, count: frameBytes)
    command.initializeMemory(as: UInt8.self, repeating: 5, count: commandBytes)
    var mean: Double?
    if request {
        let warmup = rounds / 10
        var start: Int64 = 0
        for i in 0..<(warmup + rounds) {
            if i == warmup { start = monotonicNanoseconds() }
            guard zmq_send(socket, frame, frameBytes, 0) == frameBytes, zmq_recv(socket, buffer, 64 * 1024, 0) >= 0 else { fail("round trip failed") }
        }
        mean = Double(monotonicNanoseconds() - start) / Double(rounds)
        _ = zmq_send(socket, frame, 0, 0)  // an empty request ends the server
        _ = zmq_recv(socket, buffer, 64 * 1024, 0)
    } else {
        while true {
            let size = zmq_recv(socket, buffer, 64 * 1024, 0)
            guard size >= 0 else { fail("receive failed") }
            _ = zmq_send(socket, command, size == 0 ? 0 : commandBytes, 0)
            if size == 0 { break }
        }
    }
    zmq_close(socket)
    zmq_ctx_term(context)
    return mean
}

switch mode {
case nil:
    check(["--channels", "--rounds"])
    do {
        let result = try runLatencyBenchmark(channels: integer("--channels", 64), rounds: integer("--rounds", 20_000))
        print(result.table)
    } catch {
        print("wire-bench: \(error)")
        exit(1)
    }
case "raw-rep", "raw-req":
    check(["--endpoint", "--sensors", "--motors", "--rounds"])
    guard let endpoint = options["--endpoint"] else { fail("\(mode!) needs --endpoint") }
    let sizes = wireMessageSizes(sensors: integer("--sensors", nil), motors: integer("--motors", nil))
    let rounds = integer("--rounds", 20_000)
    if let mean = raw(request: mode == "raw-req", endpoint: endpoint, frameBytes: sizes.frame, commandBytes: sizes.command, rounds: rounds) {
        print(String(format: "raw libzmq REQ/REP, two processes, %d rounds of %d B -> %d B: %.1f µs per round, %.1f× real time at 1 kHz",
                     rounds, sizes.frame, sizes.command, mean / 1000, 1e6 / mean))
    }
default:
    fail("unknown mode \(mode!) (modes: raw-rep, raw-req; none for the in-process table)")
}
