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
            tcp://127.0.0.1) beside a raw libzmq REP answering with the daemon's reply size, and \
            times round trips from a REQ socket to each in alternating blocks (so both meet the \
            same machine state). Prints p50 and p99 of both, the network's compute time per tick, \
            and what the daemon adds: the difference of each block pair, median and range.
            """
        )

        @Option(help: "The controller configuration (its network, encoders and decoders are used).")
        var config: String

        @Option(help: "Round trips to time on each side (after a warm-up of a tenth as many).")
        var rounds: Int = 20_000

        @Option(help: "Round trips per block; the daemon and raw libzmq alternate blocks.")
        var block: Int = 1000

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
            // The peer: raw libzmq REP echoing a reply of the daemon's size, on
            // its own thread, up at the same time as the daemon.
            let replyBytes = HotCodec.paddedSize(motors: c.robot.motors.count)
            let rawEndpoint = "tcp://127.0.0.1:\(try freeTCPPort())"
            let rawReady = DispatchSemaphore(value: 0)
            let rawServer = Thread {
                do {
                    let rep = try ZMQSocket(context, .rep)
                    try rep.bind(rawEndpoint)
                    rawReady.signal()
                    let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
                    let answer = [UInt8](repeating: 0x17, count: replyBytes)
                    defer { input.deallocate() }
                    while try rep.receive(into: input, .wait) != nil { _ = try rep.send(answer, .wait) }
                } catch { rawReady.signal() }
            }
            rawServer.start()
            rawReady.wait()

            let req = try ZMQSocket(context, .req)
            try req.setReceiveTimeout(milliseconds: 5000)
            try req.connect(c.endpoints.frames)
            let rawReq = try ZMQSocket(context, .req)
            try rawReq.setReceiveTimeout(milliseconds: 5000)
            try rawReq.connect(rawEndpoint)
            let frame = SensorFrameBuffer(capacity: c.robot.sensors.count)
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 + 5 * c.robot.sensors.count, alignment: 16)
            let reply = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
            defer { out.deallocate(); reply.deallocate() }
            var sequence: UInt64 = 0
            /// One frame to `socket` and its answer; the round trip in ns.
            func round(_ socket: borrowing ZMQSocket) throws -> Int64 {
                sequence += 1
                frame.reset()
                frame.protocolVersion = wireProtocolVersion
                frame.layoutHash = daemon.loop.layout.layoutHash
                frame.sequence = sequence
                frame.valueCount = c.robot.sensors.count
                for (j, s) in c.robot.sensors.enumerated() {
                    frame.values[j] = s.min + (s.max - s.min) * Float(0.5 + 0.05 * sin(Double(sequence) * 0.01 + Double(j)))
                }
                let size = HotCodec.encode(frame, into: out)!
                let t0 = monotonicNanoseconds()
                _ = try socket.send(UnsafeRawBufferPointer(rebasing: out[0..<size]), .wait)
                guard try socket.receive(into: reply, .wait) != nil else { throw CommandError("no answer within 5 s") }
                return monotonicNanoseconds() - t0
            }
            for _ in 0..<(rounds / 10) { _ = try round(req); _ = try round(rawReq) }  // warm-up
            // Alternating blocks, so that both sides meet the same machine state.
            var ours: [Int64] = [], raw: [Int64] = []
            var added50: [Int64] = [], added99: [Int64] = []
            func pct(_ xs: [Int64], _ p: Double) -> Int64 { let s = xs.sorted(); return s[min(s.count - 1, Int(p * Double(s.count - 1)))] }
            for _ in 0..<max(1, rounds / block) {
                var a: [Int64] = [], b: [Int64] = []
                for _ in 0..<block { a.append(try round(req)) }
                for _ in 0..<block { b.append(try round(rawReq)) }
                ours += a
                raw += b
                added50.append(pct(a, 0.5) - pct(b, 0.5))
                added99.append(pct(a, 0.99) - pct(b, 0.99))
            }
            daemon.shared.requestStop()
            daemon.stop()
            context.shutdown()
            let compute = daemon.totalHistograms.compute
            func us(_ ns: Int64) -> String { String(format: "%8.1f", Double(ns) / 1000) }
            func trim(_ ns: Int64) -> String { us(ns).trimmingCharacters(in: .whitespaces) }
            let c50 = Int64(compute.valueAtPercentile(50)), c99 = Int64(compute.valueAtPercentile(99))
            print("lockstep sensor-to-command round trip over tcp://127.0.0.1, \(ours.count) rounds each in alternating blocks of \(block); "
                  + "\(c.robot.sensors.count) sensors, \(c.robot.motors.count) motors")
            print("network: \(daemon.loop.controller.network.neuronCount) neurons, \(daemon.loop.controller.network.connectionsDescription), \(c.loop.stepsPerTick) steps per tick")
            print("                                   p50 µs    p99 µs")
            print("spikeloop daemon (lockstep tick)  " + us(pct(ours, 0.5)) + "  " + us(pct(ours, 0.99)))
            print("raw libzmq REQ/REP (same sizes)   " + us(pct(raw, 0.5)) + "  " + us(pct(raw, 0.99)))
            print("daemon compute per tick           " + us(c50) + "  " + us(c99))
            let m99 = pct(added99, 0.5)
            print("added by the daemon (ours − raw, per block pair; median [min, max] over \(added50.count)): "
                  + "p50 \(trim(pct(added50, 0.5))) [\(trim(added50.min()!)), \(trim(added50.max()!))] µs, "
                  + "p99 \(trim(m99)) [\(trim(added99.min()!)), \(trim(added99.max()!))] µs")
            print("target p99 < 50 µs + compute p99 (\(trim(50_000 + c99)) µs): \(m99 < 50_000 + c99 ? "met" : "missed")")
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
