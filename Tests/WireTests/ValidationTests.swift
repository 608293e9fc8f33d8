import CAllocationCounter
import SwiftProtobuf
import Testing
@testable import Wire

@Suite("Validation and layout")
struct ValidationTests {
    let layout = testLayout(channels: 3, range: 10)

    func frame(_ edit: (inout Spikeloop_V1_SensorFrame) -> Void = { _ in }) -> [UInt8] {
        var message = Spikeloop_V1_SensorFrame()
        message.protocolVersion = 1
        message.layoutHash = layout.layoutHash
        message.sequence = 1
        message.values = [1, -2, 3]
        edit(&message)
        return try! message.serializedBytes()
    }

    @Test func layoutHashIsTheSameAsPythons() {
        // spikeloop_client.testing.make_test_layout(4).hash
        #expect(testLayout(channels: 4).layoutHash == 0x11bf_5355_ae72_8c93)
        #expect(testLayout(channels: 4).computedHash == 0x11bf_5355_ae72_8c93)
        #expect(patternValue(sequence: 1, index: 0).bitPattern == 0x5A00_52B9)  // pattern_bits(1, 0)
        #expect(fnv1a64("".utf8) == 0xcbf2_9ce4_8422_2325)
        #expect(fnv1a64("a".utf8) == 0xaf63_dc4c_8601_ec8c)
        #expect(layout.canonicalText == "spikeloop.v1 layout\nrobot\twire-test\ns\ts0\t1\ns\ts1\t1\ns\ts2\t1\nm\tm0\t1\nm\tm1\t1\nm\tm2\t1\n")
    }

    @Test func countsEachRejectionUnderItsReason() {
        let validator = SensorFrameValidator(layoutHash: layout.layoutHash, channelCount: 3, ranges: layout.sensorRanges)
        let buffer = validator.makeFrameBuffer()
        func check(_ bytes: [UInt8]) -> RejectReason? {
            bytes.withUnsafeBytes { validator.accept($0, into: buffer) }
        }
        #expect(check(frame()) == nil)
        #expect(check([]) == .empty)
        #expect(check([0x07, 1, 2, 3]) == .malformed)
        #expect(check(Array(frame().dropLast(2))) == .malformed)
        #expect(check(frame { $0.protocolVersion = 2 }) == .wrongVersion)
        #expect(check(frame { $0.protocolVersion = 0 }) == .wrongVersion)
        #expect(check(frame { $0.layoutHash ^= 1 }) == .wrongLayout)
        #expect(check(frame { $0.values = [1, 2] }) == .wrongValueCount)
        #expect(check(frame { $0.values = [1, 2, 3, 4] }) == .wrongValueCount)
        #expect(check(frame { $0.values[1] = .nan }) == .nonFinite)
        #expect(check(frame { $0.values[2] = -.infinity }) == .nonFinite)
        #expect(check(frame { $0.reward = .infinity }) == .nonFinite)
        #expect(check(frame { $0.values[0] = 10.001 }) == .outOfRange)
        #expect(check(frame { $0.values[2] = -1e30 }) == .outOfRange)
        #expect(check(frame { $0.values = [10, -10, 0]; $0.reward = 5 }) == nil)

        let counters = validator.counters
        #expect(counters.accepted == 2)
        let counts = RejectReason.allCases.map { counters.count($0) }
        // malformed, empty, oversized, wrongVersion, wrongLayout, wrongValueCount, nonFinite, outOfRange
        #expect(counts == [2, 1, 0, 2, 1, 2, 3, 2])
        #expect(counters.totalRejected == 13)
        #expect(counters.lastDetail(.wrongValueCount) == (4, 3))
        #expect(counters.lastDetail(.outOfRange).0 == 2)
    }

    @Test func truncatedAndMultipartReceivesAreOversized() {
        let validator = SensorFrameValidator(layoutHash: layout.layoutHash, channelCount: 3)
        let buffer = validator.makeFrameBuffer()
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
        defer { storage.deallocate() }
        let raw = UnsafeRawBufferPointer(storage)
        #expect(validator.accept(ZMQReceived(byteCount: 100, truncated: true, more: false), buffer: raw, into: buffer) == .oversized)
        #expect(validator.accept(ZMQReceived(byteCount: 4, truncated: false, more: true), buffer: raw, into: buffer) == .oversized)
        #expect(validator.accept(ZMQReceived(byteCount: 0, truncated: false, more: false), buffer: raw, into: buffer) == .empty)
        #expect(validator.counters.count(.oversized) == 2)
        #expect(validator.counters.lastDetail(.oversized) == (4, 16))
    }

    @Test func rejectionLogIsRateLimitedPerReason() {
        let validator = SensorFrameValidator(layoutHash: layout.layoutHash, channelCount: 3, ranges: layout.sensorRanges)
        let buffer = validator.makeFrameBuffer()
        var lines: [String] = []
        let log = RejectionLog(counters: validator.counters, source: "sensor socket ipc:///tmp/s",
                               channelNames: ["s0", "s1", "s2"], ranges: layout.sensorRanges,
                               intervalNs: 1_000_000_000) { lines.append($0) }
        let wrongCount = frame { $0.values = [1] }
        let outOfRange = frame { $0.values[1] = 11 }
        for _ in 0..<500 { _ = wrongCount.withUnsafeBytes { validator.accept($0, into: buffer) } }
        #expect(log.poll(nowNs: 0) == 1)
        for _ in 0..<300 { _ = wrongCount.withUnsafeBytes { validator.accept($0, into: buffer) } }
        _ = outOfRange.withUnsafeBytes { validator.accept($0, into: buffer) }
        #expect(log.poll(nowNs: 500_000_000) == 1)  // the new reason only
        #expect(log.poll(nowNs: 999_999_999) == 0)  // wrong value count: still within its second
        #expect(log.poll(nowNs: 1_000_000_000) == 1)
        #expect(log.poll(nowNs: 5_000_000_000) == 0)  // nothing new
        #expect(lines == [
            "wire: sensor socket ipc:///tmp/s: rejected 500 messages (wrong value count); last: 1 values, expected 3 (one per sensor channel); 500 in all",
            "wire: sensor socket ipc:///tmp/s: rejected 1 message (out of range); last: value 1 (s1) is 11.0, valid [-10.0, 10.0]; 1 in all",
            "wire: sensor socket ipc:///tmp/s: rejected 300 messages (wrong value count); last: 1 values, expected 3 (one per sensor channel); 800 in all",
        ])
    }

    @Test func swiftProtobufAllocatesPerFrameWhichIsWhyTheHotCodecExists() throws {
        let bytes = frame()
        _ = try Spikeloop_V1_SensorFrame(serializedBytes: bytes)
        sl_alloc_counting_begin()
        for _ in 0..<1000 { _ = try Spikeloop_V1_SensorFrame(serializedBytes: bytes) }
        let allocations = sl_alloc_counting_end()
        #expect(allocations >= 1000)
    }

    @Test func helloAnswerSaysWhatDoesNotMatch() {
        var peer = Spikeloop_V1_Hello()
        peer.protocolVersion = 1
        peer.role = .simulator
        peer.layout = testLayout(channels: 3, range: 10)
        let accepted = Spikeloop_V1_Hello.answer(to: peer, layout: layout)
        #expect(accepted.accepted && accepted.reason == "" && accepted.role == .controller)
        #expect(accepted.layout.layoutHash == layout.layoutHash)

        func reason(_ edit: (inout Spikeloop_V1_Hello) -> Void) -> String {
            var hello = peer
            edit(&hello)
            let answer = Spikeloop_V1_Hello.answer(to: hello, layout: layout)
            #expect(!answer.accepted)
            return answer.reason
        }
        #expect(reason { $0.protocolVersion = 2 } == "protocol_version 2 is not supported; this daemon speaks 1 (spikeloop.v1)")
        #expect(reason { $0.layout.layoutHash = 1 } == "layout.layout_hash 0x0000000000000001 does not match the layout's own channels (computed 0x\(String(layout.layoutHash, radix: 16))); compute it as described in spikeloop.proto")
        #expect(reason { $0.layout = testLayout(channels: 2) } == "2 sensor channels, the daemon's layout has 3 (s0, s1, s2)")
        #expect(reason {
            $0.layout.sensors[1].unit = "rad"
            $0.layout.layoutHash = $0.layout.computedHash
        } == "sensor channel 1 is \"s1\" in rad, the daemon expects \"s1\" in 1")
        #expect(reason {
            $0.layout.robot = "cartpole"
            $0.layout.layoutHash = $0.layout.computedHash
        } == "robot \"cartpole\" differs from the daemon's robot \"wire-test\"")
    }
}
