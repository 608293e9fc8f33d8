import ArgumentParser
import Control
import Daemon
import Foundation
import NetworkFile
import Wire

extension Bench {
    struct Latency: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "latency",
            abstract: "Sensor-to-command latency of the daemon in lockstep over tcp loopback, beside raw libzmq.",
            discussion: """
            Runs the daemon's lockstep loop on the controller of --config (endpoints moved to \
            tcp://127.0.0.1), sends it frames from a REQ socket and times each round trip; then \
            times raw libzmq REQ/REP with the same payload sizes (the wire benchmark's peer). \
            Prints p50 and p99 of both, the network's compute time per tick, and what the daemon \
            adds beyond the raw round trip and its compute time.
            """
        )

        @Option(help: "The controller configuration (its network, encoders and decoders are used).")
        var config: String

        @Option(help: "Round trips to time (after a warm-up of a tenth as many).")
        var rounds: Int = 20_000

        func run() throws {
            var c: ControllerConfiguration
            do { c = try ControllerConfiguration.load(path: config) } catch let e as ConfigurationError {
                throw CommandError("the configuration is not valid.\n\(e.description)")
            }
            let port = try freeTCPPort()
            c.loop.mode = .lockstep
            c.endpoints = .init(frames: "tcp://127.0.0.1:\(port)", commands: nil,
                                control: "ipc:///tmp/spikeloop-latency-\(getpid())-control")
            let daemon = try Daemon(config: c, log: { _ in })
            try daemon.start()

            let context = try ZMQContext()
            let req = try ZMQSocket(context, .req)
            try req.setReceiveTimeout(milliseconds: 5000)
            try req.connect(c.endpoints.frames)
            let frame = SensorFrameBuffer(capacity: c.robot.sensors.count)
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 + 5 * c.robot.sensors.count, alignment: 16)
            let reply = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
            defer { out.deallocate(); reply.deallocate() }
            var samples: [Int64] = []
            samples.reserveCapacity(rounds)
            let warmup = rounds / 10
            for i in 0..<(warmup + rounds) {
                frame.reset()
                frame.protocolVersion = wireProtocolVersion
                frame.layoutHash = daemon.loop.layout.layoutHash
                frame.sequence = UInt64(i + 1)
                frame.valueCount = c.robot.sensors.count
                for (j, s) in c.robot.sensors.enumerated() {
                    frame.values[j] = s.min + (s.max - s.min) * Float(0.5 + 0.05 * sin(Double(i) * 0.01 + Double(j)))
                }
                let size = HotCodec.encode(frame, into: out)!
                let t0 = monotonicNanoseconds()
                _ = try req.send(UnsafeRawBufferPointer(rebasing: out[0..<size]), .wait)
                guard try req.receive(into: reply, .wait) != nil else { throw CommandError("the daemon did not answer") }
                let t1 = monotonicNanoseconds()
                if i >= warmup { samples.append(t1 - t0) }
            }
            daemon.shared.requestStop()
            daemon.stop()
            let compute = daemon.totalHistograms.compute
            let raw = try runLatencyBenchmark(channels: max(c.robot.sensors.count, c.robot.motors.count), rounds: rounds,
                                              warmup: rounds / 10).raw
            samples.sort()
            func pct(_ p: Double) -> Int64 { samples[min(samples.count - 1, Int(p * Double(samples.count - 1)))] }
            func us(_ ns: Int64) -> String { String(format: "%8.1f", Double(ns) / 1000) }
            let ours50 = pct(0.5), ours99 = pct(0.99)
            let c50 = Int64(compute.valueAtPercentile(50)), c99 = Int64(compute.valueAtPercentile(99))
            print("lockstep sensor-to-command round trip over tcp://127.0.0.1, \(rounds) rounds; \(c.robot.sensors.count) sensors, \(c.robot.motors.count) motors")
            print("network: \(daemon.loop.controller.network.neuronCount) neurons, \(daemon.loop.controller.network.synapseCount) synapses, \(c.loop.stepsPerTick) steps per tick")
            print("                                   p50 µs    p99 µs")
            print("spikeloop daemon (lockstep tick)  " + us(ours50) + "  " + us(ours99))
            print("raw libzmq REQ/REP (same sizes)   " + us(raw.p50) + "  " + us(raw.p99))
            print("daemon compute per tick           " + us(c50) + "  " + us(c99))
            let added99 = ours99 - raw.p99
            print("added by the daemon (ours − raw): p50 \(us(ours50 - raw.p50).trimmingCharacters(in: .whitespaces)) µs, p99 \(us(added99).trimmingCharacters(in: .whitespaces)) µs"
                  + "; target p99 < 50 µs + compute p99 (\(us(50_000 + c99).trimmingCharacters(in: .whitespaces)) µs): \(added99 < 50_000 + c99 ? "met" : "missed")")
        }
    }
}

/// A TCP port that was free a moment ago on 127.0.0.1.
func freeTCPPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok else { throw CommandError("cannot find a free TCP port") }
    return Int(UInt16(bigEndian: addr.sin_port))
}
