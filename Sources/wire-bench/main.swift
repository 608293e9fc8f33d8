// wire-bench: lockstep round-trip latency of Wire beside raw libzmq REQ/REP.
//
//   wire-bench [--channels 64] [--rounds 20000]
//
// Prints a table with p50, p99 and max for both peers, measured in the same
// run, and the ratio of the medians (target: at most 1.3).

import Wire
#if canImport(Glibc)
import Glibc
#endif

var channels = 64
var rounds = 20_000
var arguments = CommandLine.arguments.dropFirst()
while let key = arguments.popFirst() {
    guard let text = arguments.popFirst(), let value = Int(text), value > 0 else {
        print("wire-bench: \(key) needs a positive integer")
        exit(2)
    }
    switch key {
    case "--channels": channels = value
    case "--rounds": rounds = value
    default:
        print("wire-bench: unknown option \(key) (options: --channels N, --rounds N)")
        exit(2)
    }
}

do {
    let result = try runLatencyBenchmark(channels: channels, rounds: rounds)
    print(result.table)
} catch {
    print("wire-bench: \(error)")
    exit(1)
}
