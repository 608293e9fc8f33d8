import ArgumentParser
import Coding
import Control
import Daemon
import Foundation
import Neural
import Wire

extension Bench {
    struct Loop: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "loop",
            abstract: "Realtime tick loop timing beside a bare clock_nanosleep loop, in one run.",
            discussion: """
            When cyclictest (Debian rt-tests) is installed it runs first with the same rate, \
            priority, CPU and duration (holding /dev/cpu_dma_latency at 0 µs as it does by \
            default when --cpu-latency is given, with --laptop otherwise). \
            Then a bare loop sleeps to absolute CLOCK_MONOTONIC deadlines at the tick rate and \
            records how late it wakes; with --busy-wait, the same bare loop runs again spinning \
            the last stretch of each wait as the daemon's loop does (the fair peer: same busy \
            wait, priority and CPU); then the daemon's realtime loop runs a network of \
            --neurons LIF neurons for the same time, fed by a robot thread publishing frames \
            at the tick rate. The four run in turn in each of --rounds rounds, so that all of \
            them meet the same machine. Prints wake-up lateness and tick compute time (p50, \
            p99, max) over all rounds, the overruns, the CPU share of the bare loops (what the \
            busy wait costs), and the spread of the p99 ratios over the rounds.

            Examples:
              spikeloop bench loop --rate 1kHz --neurons 1000 --duration 60s
              spikeloop bench loop --rate 10kHz --neurons 200 --duration 60s
              spikeloop bench loop --rate 10kHz --neurons 200 --duration 60s --busy-wait 50us --priority 80 --cpu 1
              spikeloop bench loop --rate 1kHz --duration 30s --priority 80 --cpu 1 --cpu-latency 0us
            """
        )

        @Option(help: "Tick rate, with a unit.")
        var rate: String = "1 kHz"

        @Option(help: "LIF neurons in the network (80 % excitatory, CUBA dynamics).")
        var neurons: Int = 1000

        @Option(help: "How long each loop runs in all (split over the rounds), with a unit.")
        var duration: String = "10 s"

        @Option(help: "SCHED_FIFO priority for every loop (needs rtprio permission; 0: normal scheduling).")
        var priority: Int32 = 0

        @Option(help: "Pin every loop to this CPU (the daemon then moves its other threads off it).")
        var cpu: Int?

        @Option(help: "The daemon's loop.realtime.busy_wait, with a unit (0: sleep all the way); a second bare loop runs with it too.")
        var busyWait: String = "0 us"

        @Option(help: "Hold this CPU wake-up latency (PM QoS, /dev/cpu_dma_latency) while the loops run, with a unit, as loop.realtime.cpu_latency does (e.g. 0us); default: none. cyclictest runs with its own hold then, and with --laptop (none) otherwise.")
        var cpuLatency: String?

        @Option(help: "Alternate the loops in this many rounds, each a share of --duration, so that they all meet the same machine; per-round p99 ratios are printed beside the whole run's.")
        var rounds: Int = 5

        @Flag(inversion: .prefixedNo, help: "Run cyclictest (Debian rt-tests) first in each round with the same rate, priority, CPU and duration, when it is installed.")
        var cyclictest = true

        func run() throws {
            let hz = try cliQuantity(rate, .rate, option: "--rate")
            let seconds = try cliQuantity(duration, .time, option: "--duration") / 1000
            guard neurons >= 10 else { throw ValidationError("--neurons must be at least 10") }
            guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
            let period = Int64((1e9 / hz).rounded())
            let ticks = Int64(seconds * hz)

            let spin = try cliQuantity(busyWait, .time, option: "--busy-wait")
            guard spin >= 0, spin < 1000 / hz else { throw ValidationError("--busy-wait must be at least 0 and shorter than the tick period") }
            let spinNs = Int64((spin * 1e6).rounded())

            var latencyMicroseconds: Int32?
            if let cpuLatency {
                let us = try cliQuantity(cpuLatency, .time, option: "--cpu-latency") * 1000
                guard us >= 0, us <= 2000 else { throw ValidationError("--cpu-latency must lie in 0…2 ms") }
                latencyMicroseconds = Int32(us.rounded())
            }

            // Every loop runs in each round, one after the other, for its share
            // of the duration: all of them meet the same machine, and the
            // per-round ratios show how much of a difference is the machine's.
            let roundTicks = ticks / Int64(rounds)
            guard roundTicks >= 100 else { throw ValidationError("--duration must give each of the --rounds at least 100 ticks") }
            let cyclictestPath = cyclictest ? Cyclictest.find() : nil
            if cyclictest && cyclictestPath == nil {
                FileHandle.standardError.write(Data("note: cyclictest is not installed (Debian: apt install rt-tests); its row is left out\n".utf8))
            }
            var cyclictestRounds: [Cyclictest.Result] = [], bareRounds: [BareLoopResult] = [], spinningRounds: [BareLoopResult] = []
            var oursRounds: [TickHistograms] = [], ourOverruns: Int64 = 0
            var synapses = 0, stepsPerTick = 0
            for _ in 0..<rounds {
                // 0. cyclictest, the field's reference, with the same settings.
                if let cyclictestPath {
                    cyclictestRounds.append(try Cyclictest.run(cyclictestPath, periodNs: period, ticks: roundTicks, priority: priority, cpu: cpu,
                                                               holdsLatency: latencyMicroseconds != nil))
                }
                // 1. The bare loop, sleeping all the way, and (with --busy-wait)
                // the same bare loop spinning as the daemon's does: the fair
                // peer. Both hold the wake-up latency the daemon's loop holds.
                var held: CPULatencyRequest?
                if let us = latencyMicroseconds {
                    switch CPULatencyRequest.hold(microseconds: us) {
                    case .success(let request): held = request
                    case .failure(let warning): FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
                    }
                }
                withExtendedLifetime(held) {
                    bareRounds.append(Self.bareLoop(period: period, ticks: roundTicks, busyWait: 0, priority: priority, cpu: cpu))
                    if spinNs > 0 {
                        spinningRounds.append(Self.bareLoop(period: period, ticks: roundTicks, busyWait: spinNs, priority: priority, cpu: cpu))
                    }
                }
                held = nil  // released before the daemon takes its own

                // 2. The daemon's realtime loop, in-process, with a robot thread.
                var config = try Self.configuration(hz: hz, neurons: neurons, priority: priority, cpu: cpu, busyWait: spinNs)
                config.loop.cpuLatency = latencyMicroseconds
                let daemon = try Daemon(config: config, log: { FileHandle.standardError.write(Data("\($0)\n".utf8)) })
                let robot = WorkerThread {
                    do {
                        try Self.publishFrames(endpoint: config.endpoints.frames, hz: hz, seconds: Double(roundTicks) / hz + 1,
                                               layout: daemon.loop.layout)
                    } catch {
                        FileHandle.standardError.write(Data("robot: \(error)\n".utf8))
                    }
                }
                try daemon.start(maxTicks: roundTicks)
                daemon.waitUntilStopped(signals: false)
                robot.join()
                let stats = daemon.loopStats()
                ourOverruns += Int64(stats.overruns)
                oursRounds.append(daemon.totalHistograms)
                synapses = daemon.loop.controller.network.synapseCount
                stepsPerTick = config.loop.stepsPerTick
            }
            var ours = TickHistograms()
            oursRounds.forEach { ours.add($0) }
            // Its wake-ups, as the other loops count theirs: every tick of the
            // loop, also those before the robot's first frame and the stop's
            // safe hold (the controller's tick count leaves those out).
            let ourTicks = Int64(ours.lateness.totalCount)

            func us(_ ns: UInt64) -> String { String(format: "%9.1f", Double(ns) / 1000) }
            print(String(format: "tick loop at %.0f Hz for %.0f s each, network of %d LIF neurons (%d synapses), %d steps per tick",
                         hz, seconds, neurons, synapses, stepsPerTick)
                  + (rounds > 1 ? ", in \(rounds) alternating rounds" : ""))
            if let us = latencyMicroseconds {
                print("wake-up latency: every loop holds a PM QoS request of \(us) µs (\(CPULatencyRequest.device)) while it runs")
            }
            if spinNs > 0 {
                print(String(format: "busy wait: the spikeloop loop and the second bare loop spin the last %.0f µs of each wait", Double(spinNs) / 1000))
            }
            let bare = BareLoopResult(merging: bareRounds)
            let bareSpinning = spinningRounds.isEmpty ? nil : BareLoopResult(merging: spinningRounds)
            let reference = cyclictestRounds.isEmpty ? nil : Cyclictest.Result(merging: cyclictestRounds)
            print("loop                          ticks  overruns  lateness p50 µs    p99 µs    max µs  compute p50 µs    p99 µs    max µs   CPU")
            func bareRow(_ name: String, _ b: BareLoopResult) {
                print(name.padding(toLength: 25, withPad: " ", startingAt: 0) + String(format: "%11lld %9lld", b.ticks, b.overruns)
                      + "     " + us(b.histograms.lateness.valueAtPercentile(50)) + " " + us(b.histograms.lateness.valueAtPercentile(99))
                      + " " + us(b.histograms.lateness.max) + "               -         -         -"
                      + String(format: "  %3.0f %%", 100 * b.cpuShare))
            }
            if let reference {
                let name = latencyMicroseconds == nil ? "cyclictest --laptop" : "cyclictest"
                print(name.padding(toLength: 25, withPad: " ", startingAt: 0) + String(format: "%11lld", reference.count) + "         -"
                      + "     " + us(reference.percentile(50)) + " " + us(reference.percentile(99)) + " " + us(reference.max)
                      + "               -         -         -")
            }
            bareRow("bare clock_nanosleep loop", bare)
            if let bareSpinning { bareRow("bare loop, same busy wait", bareSpinning) }
            print("spikeloop realtime loop  " + String(format: "%11lld %9lld", ourTicks, ourOverruns)
                  + "     " + us(ours.lateness.valueAtPercentile(50)) + " " + us(ours.lateness.valueAtPercentile(99)) + " " + us(ours.lateness.max)
                  + "       " + us(ours.compute.valueAtPercentile(50)) + " " + us(ours.compute.valueAtPercentile(99)) + " " + us(ours.compute.max))
            let peer = bareSpinning ?? bare
            let ratio = Double(ours.lateness.valueAtPercentile(99)) / Double(max(1, peer.histograms.lateness.valueAtPercentile(99)))
            print(String(format: "lateness p99 ratio spikeloop/bare%@: %.2f; overruns %.3f %%", bareSpinning == nil ? "" : " (same busy wait)", ratio,
                         100 * Double(ourOverruns) / Double(max(1, ourTicks))))
            if rounds > 1 {
                let peerRounds = spinningRounds.isEmpty ? bareRounds : spinningRounds
                print("  per round: " + Self.spread(zip(oursRounds, peerRounds).map {
                    Double($0.lateness.valueAtPercentile(99)) / Double(max(1, $1.histograms.lateness.valueAtPercentile(99)))
                }))
            }
            if bareSpinning != nil {
                print(String(format: "cost of the busy wait: %.0f %% of a core (bare loop with it vs without)", 100 * (peer.cpuShare - bare.cpuShare)))
            }
            if let reference {
                // cyclictest counts whole microseconds (truncated); ours are
                // compared at the same resolution.
                func whole(_ ns: UInt64) -> UInt64 { ns / 1000 * 1000 }
                let mine = whole(ours.lateness.valueAtPercentile(99))
                print(String(format: "lateness p99 spikeloop %.0f µs vs cyclictest %.0f µs: %@", Double(mine) / 1000, Double(reference.percentile(99)) / 1000,
                             mine <= reference.percentile(99) ? "at least as punctual" : "later"))
                if rounds > 1 {
                    print("  per round, spikeloop/cyclictest: " + Self.spread(zip(oursRounds, cyclictestRounds).map {
                        Double(whole($0.lateness.valueAtPercentile(99))) / Double(max(1000, $1.percentile(99)))
                    }))
                }
            }
        }

        /// "median m (a–b), k of n rounds ≤ 1" for per-round p99 ratios.
        static func spread(_ ratios: [Double]) -> String {
            let sorted = ratios.sorted()
            let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            return String(format: "p99 ratio median %.2f (%.2f–%.2f), %d of %d rounds ≤ 1", median, sorted.first ?? 0, sorted.last ?? 0,
                          ratios.filter { $0 <= 1 }.count, ratios.count)
        }

        struct BareLoopResult {
            var histograms: TickHistograms
            var ticks: Int64
            var overruns: Int64
            /// Thread CPU time over wall time.
            var cpuShare: Double

            init(histograms: TickHistograms, ticks: Int64, overruns: Int64, cpuShare: Double) {
                (self.histograms, self.ticks, self.overruns, self.cpuShare) = (histograms, ticks, overruns, cpuShare)
            }

            /// Rounds of equal length as one run.
            init(merging rounds: [BareLoopResult]) {
                self.init(histograms: TickHistograms(), ticks: 0, overruns: 0, cpuShare: 0)
                for r in rounds {
                    histograms.add(r.histograms)
                    ticks += r.ticks
                    overruns += r.overruns
                    cpuShare += r.cpuShare / Double(rounds.count)
                }
            }
        }

        /// A loop that only sleeps to absolute deadlines (spinning the last
        /// `busyWait` ns, as the daemon's loop does when configured), with the
        /// daemon loop's thread setup: the peer of the realtime loop.
        static func bareLoop(period: Int64, ticks: Int64, busyWait: Int64, priority: Int32, cpu: Int?) -> BareLoopResult {
            var result = BareLoopResult(histograms: TickHistograms(), ticks: ticks, overruns: 0, cpuShare: 0)
            let thread = WorkerThread {
                RealtimeSetup.tightenTimerSlack()  // as the daemon's loop thread
                if priority > 0, let w = RealtimeSetup.setFIFO(priority: priority) { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
                if let cpu, let w = RealtimeSetup.pin(cpu: cpu) { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
                let clock = MonotonicClock()
                func cpuNow() -> Int64 {
                    var t = timespec()
                    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
                    return Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
                }
                let wallStart = clock.now(), cpuStart = cpuNow()
                var schedule = TickSchedule(start: clock.now() + period, period: period)
                var deadline = schedule.nextDeadline
                for _ in 0..<ticks {
                    clock.sleep(until: deadline, busyWait: busyWait)
                    let woke = clock.now()
                    _ = result.histograms.lateness.record(UInt64(max(0, woke - deadline)))
                    deadline = schedule.tickFinished(at: clock.now())
                }
                result.overruns = schedule.overruns
                result.cpuShare = Double(cpuNow() - cpuStart) / Double(max(1, clock.now() - wallStart))
            }
            thread.join()
            return result
        }

        static func configuration(hz: Double, neurons: Int, priority: Int32, cpu: Int?, busyWait: Int64) throws -> ControllerConfiguration {
            let robot = RobotDescription(name: "bench-arm",
                                         sensors: [.init(name: "joint.angle", unit: "rad", min: -3.2, max: 3.2)],
                                         motors: [.init(name: "joint.torque", unit: "N*m", min: -5, max: 5, safe: 0)])
            let dt = 0.1
            let steps = Int((1000 / hz / dt).rounded())
            guard steps >= 1, abs(1000 / hz / dt - Double(steps)) < 1e-6 else {
                throw ValidationError("the tick period must be a whole number of 0.1 ms steps")
            }
            let ne = neurons * 4 / 5, ni = neurons - ne
            let cell = LIFParameters(tauM: 20, vRest: -49, vThreshold: -50, vReset: -60, tRef: 5, tauE: 5, tauI: 10, vInit: .uniform(-60, -50))
            var net = NetworkSpec(name: "bench", dt: dt, seed: 1)
            net.populations = [
                PopulationSpec(name: "fields", size: 20, model: .input),
                PopulationSpec(name: "exc", size: ne, model: .lif(cell)),
                PopulationSpec(name: "inh", size: ni, model: .lif(cell)),
            ]
            let p = min(1, 20.0 / Double(neurons))
            net.projections = [
                ProjectionSpec(source: "fields", target: "exc", variable: .ge, rule: .fixedProbability(0.2), weight: .constant(2)),
                ProjectionSpec(source: "exc", target: "exc", variable: .ge, rule: .fixedProbability(p), weight: .constant(1.62)),
                ProjectionSpec(source: "exc", target: "inh", variable: .ge, rule: .fixedProbability(p), weight: .constant(1.62)),
                ProjectionSpec(source: "inh", target: "exc", variable: .gi, rule: .fixedProbability(p), weight: .constant(-9)),
                ProjectionSpec(source: "inh", target: "inh", variable: .gi, rule: .fixedProbability(p), weight: .constant(-9)),
            ]
            let half = max(1, ne / 2)
            let tag = UInt32.random(in: 0..<UInt32.max)
            return ControllerConfiguration(
                file: "(bench loop)", robotFile: "(bench loop)", robot: robot, network: net,
                encoders: [EncoderSpec(channel: "joint.angle", population: "fields", min: -1, max: 1,
                                       kind: .receptiveFields(.init(maxRate: 200)))],
                decoders: [DecoderSpec(channel: "joint.torque", population: "exc", neurons: 0..<half, min: -5, max: 5,
                                       kind: .pushPull(.init(opposing: "exc", opposingNeurons: half..<ne, gain: 0.1, filter: .exponential(tau: 20))))],
                loop: .init(mode: .realtime, tickRate: hz, stepsPerTick: steps, watchdogTimeout: 100_000_000, autoResume: true,
                            realtimePriority: priority > 0 ? priority : nil, cpu: cpu, busyWait: busyWait),
                endpoints: .init(frames: "ipc:///tmp/spikeloop-bench-\(tag)-frames", commands: "ipc:///tmp/spikeloop-bench-\(tag)-commands",
                                 control: "ipc:///tmp/spikeloop-bench-\(tag)-control"),
                recording: .init())
        }

        /// A robot publishing a slow sine at the tick rate.
        static func publishFrames(endpoint: String, hz: Double, seconds: Double, layout: Spikeloop_V1_RobotLayout) throws {
            do {
                let context = try ZMQContext()
                defer { context.shutdown() }
                let socket = try ZMQSocket(context, .pub)
                try socket.connect(endpoint)
                let frame = SensorFrameBuffer(capacity: 1)
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 16)
                defer { buffer.deallocate() }
                let clock = MonotonicClock()
                let period = Int64(1e9 / hz)
                var deadline = clock.now()
                let n = Int(seconds * hz)
                for i in 0..<n {
                    frame.reset()
                    frame.protocolVersion = wireProtocolVersion
                    frame.layoutHash = layout.layoutHash
                    frame.sequence = UInt64(i + 1)
                    frame.senderTimeNs = clock.now()
                    frame.valueCount = 1
                    frame.values[0] = Float(0.8 * sin(Double(i) / hz * 2 * .pi))
                    let size = HotCodec.encode(frame, into: buffer)!
                    _ = try socket.send(UnsafeRawBufferPointer(rebasing: buffer[0..<size]), .dontWait)
                    deadline += period
                    clock.sleep(until: deadline)
                }
            }
        }
    }
}

/// cyclictest (Debian rt-tests), run as the reference for wake-up lateness.
enum Cyclictest {
    struct Result {
        /// Wake-ups per microsecond of lateness, from cyclictest's histogram.
        var buckets: [Int]
        var overflows: Int
        var count: Int64 { Int64(buckets.reduce(0, +) + overflows) }

        init(buckets: [Int], overflows: Int) { (self.buckets, self.overflows) = (buckets, overflows) }

        init(merging rounds: [Result]) {
            self.init(buckets: [Int](repeating: 0, count: rounds.map(\.buckets.count).max() ?? 0), overflows: 0)
            for r in rounds {
                for (us, n) in r.buckets.enumerated() { buckets[us] += n }
                overflows += r.overflows
            }
        }
        /// ns, at the histogram's 1 µs resolution.
        func percentile(_ p: Double) -> UInt64 {
            let rank = Int((p / 100 * Double(count)).rounded(.up))
            var seen = 0
            for (us, n) in buckets.enumerated() {
                seen += n
                if seen >= rank { return UInt64(us) * 1000 }
            }
            return UInt64(buckets.count) * 1000
        }
        var max: UInt64 {
            overflows > 0 ? UInt64(buckets.count) * 1000 : UInt64(buckets.lastIndex { $0 > 0 } ?? 0) * 1000
        }
    }

    static func find() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for folder in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"] {
            let candidate = "\(folder)/cyclictest"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    static func run(_ path: String, periodNs: Int64, ticks: Int64, priority: Int32, cpu: Int?, holdsLatency: Bool) throws -> Result {
        guard periodNs % 1000 == 0 else { throw ValidationError("cyclictest needs a whole number of microseconds per tick; use --no-cyclictest") }
        let histogramMicroseconds = 10_000
        var arguments = ["-m", "-q", "-i", "\(periodNs / 1000)", "-l", "\(ticks)", "-h", "\(histogramMicroseconds)"]
        if priority > 0 { arguments += ["-p", "\(priority)"] }
        if let cpu { arguments += ["-a", "\(cpu)"] }
        if !holdsLatency { arguments.append("--laptop") }
        FileHandle.standardError.write(Data("running cyclictest \(arguments.joined(separator: " "))\n".utf8))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("cyclictest exited with status \(process.terminationStatus); use --no-cyclictest")
        }
        var buckets = [Int](repeating: 0, count: histogramMicroseconds)
        var overflows = 0
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let us = Int(fields[0]), us < histogramMicroseconds, let n = Int(fields[1]) {
                buckets[us] += n
            } else if line.hasPrefix("# Histogram Overflows:"), let n = fields.last.flatMap({ Int($0) }) {
                overflows += n
            }
        }
        return Result(buckets: buckets, overflows: overflows)
    }
}
