import Testing
@testable import Recording

/// The weights file: bytes as documented in docs/weights.md, a round trip,
/// and every kind of damage refused with the file's name and what is wrong.
@Suite struct WeightSnapshotTests {
    static let sample = WeightSnapshot(projections: [
        .init(name: "in->n", preCount: 2, postCount: 3, connectivityHash: 0x0102_0304_0506_0708, weights: [1, -2.5, 0.125]),
        .init(name: "n->n", preCount: 3, postCount: 3, connectivityHash: 7, weights: []),
    ])

    @Test func layoutIsAsDocumented() {
        let b = Self.sample.encode()
        #expect(Array(b[0..<8]) == Array("SLWEIGHT".utf8))
        #expect(Array(b[8..<16]) == [1, 0, 0, 0, 2, 0, 0, 0])             // version 1, 2 projections
        #expect(Array(b[16..<20]) == [5, 0, 0, 0])                         // name length
        #expect(String(decoding: b[20..<25], as: UTF8.self) == "in->n")
        #expect(Array(b[25..<33]) == [2, 0, 0, 0, 0, 0, 0, 0])             // pre
        #expect(Array(b[33..<41]) == [3, 0, 0, 0, 0, 0, 0, 0])             // post
        #expect(Array(b[41..<49]) == [3, 0, 0, 0, 0, 0, 0, 0])             // synapses
        #expect(Array(b[49..<57]) == [8, 7, 6, 5, 4, 3, 2, 1])             // hash
        #expect(Array(b[57..<61]) == [0, 0, 0x80, 0x3F])                   // 1.0 as f32 LE
        #expect(b.count == 57 + 12 + (4 + 4 + 32) + 4)
        let crc = UInt32(b[b.count - 4]) | UInt32(b[b.count - 3]) << 8 | UInt32(b[b.count - 2]) << 16 | UInt32(b[b.count - 1]) << 24
        #expect(crc == CRC32.checksum(Array(b.dropLast(4))))
    }

    @Test func roundTrip() throws {
        let bytes = Self.sample.encode()
        let decoded = try WeightSnapshot(decoding: bytes, file: "w.slw")
        #expect(decoded == Self.sample)
        #expect(decoded.projections.map(\.connectivityHash) == [0x0102_0304_0506_0708, 7])
        #expect(decoded.crc == CRC32.checksum(Array(bytes.dropLast(4))))
        #expect(decoded.encode() == bytes)
        #expect(WeightSnapshot.describe(crc: 0xAB) == "0x000000ab")
    }

    func refusal(_ bytes: [UInt8]) -> String? {
        do {
            _ = try WeightSnapshot(decoding: bytes, file: "w.slw")
            return nil
        } catch { return error.description }
    }

    /// Recomputes the trailer after an edit, the way a tool that edits weights does.
    func resealed(_ bytes: [UInt8]) -> [UInt8] {
        var b = Array(bytes.dropLast(4))
        let crc = CRC32.checksum(b)
        b += [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)]
        return b
    }

    @Test func eachCorruptionIsRefusedWithItsMessage() {
        let good = Self.sample.encode()
        var flipped = good
        flipped[58] ^= 0x01
        #expect(refusal(flipped)?.hasPrefix("w.slw: CRC mismatch: the trailer says 0x") == true, "\(refusal(flipped) ?? "accepted")")
        #expect(refusal(flipped)?.hasSuffix("; the file is corrupt") == true)

        var magic = good
        magic[0] = UInt8(ascii: "X")
        #expect(refusal(magic) == "w.slw: not a spikeloop weights file: it starts with 'XLWEIGHT' (\(good.count) bytes), expected the magic 'SLWEIGHT'")
        #expect(refusal([]) == "w.slw: not a spikeloop weights file: it starts with '' (0 bytes), expected the magic 'SLWEIGHT'")

        var version = good
        version[8] = 2
        #expect(refusal(resealed(version)) == "w.slw: format version 2 is not supported; this spikeloop reads version 1")

        #expect(refusal(Array(good[0..<12])) == "w.slw: truncated: 12 bytes, shorter than the 16-byte header")
        let unsealed = "; its last 4 bytes are not the CRC-32 of the rest"
        #expect(refusal(Array(good[0..<60])) == "w.slw: truncated or corrupt: projection 0 ('in->n') claims 3 synapses (2 × 3 neurons) after byte 57, the file has 60\(unsealed)")
        #expect(refusal(Array(good[0..<80])) == "w.slw: truncated or corrupt: the header of projection 1 needs bytes up to 109, the file has 80\(unsealed)")
        #expect(refusal(Array(good.dropLast(2))) == "w.slw: truncated or corrupt: the last projection ends at byte \(good.count - 4), leaving no room for the 4-byte CRC-32 trailer in \(good.count - 2) bytes\(unsealed)")
        #expect(refusal(good + [0, 0]) == "w.slw: truncated or corrupt: 2 unexpected bytes between the last projection (ends at byte \(good.count - 4)) and the 4-byte CRC-32 trailer\(unsealed)")
        // A damaged size (3 → 4 synapses: projection 1's name "n->n" is read as its length):
        // the structure does not hold; the CRC tells damage from a bad writer.
        var size = good
        size[41] = 4
        #expect(refusal(size) == "w.slw: truncated or corrupt: the header of projection 1 needs bytes up to \(73 + 36 + 0x6E3E_2D6E), the file has \(good.count)\(unsealed)")
        #expect(refusal(resealed(size))?.hasPrefix("w.slw: inconsistent sizes: ") == true)

        var nan = good
        nan[57..<61] = [0, 0, 0xC0, 0x7F]
        #expect(refusal(resealed(nan)) == "w.slw: projection 'in->n': weight 0 is nan; weights must be finite")
    }

    @Test func connectivityHashIsFNV1aOverLittleEndianPairs() {
        var h = ConnectivityHash()
        #expect(h.value == 0xCBF2_9CE4_8422_2325)  // the empty projection
        h.add(pre: 1, post: 0x0100)
        // FNV-1a 64 of the bytes 01 00 00 00 00 01 00 00, as Python computes it in docs/weights.md.
        var expected: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte: UInt8 in [1, 0, 0, 0, 0, 1, 0, 0] { expected = (expected ^ UInt64(byte)) &* 0x100_0000_01B3 }
        #expect(h.value == expected)
        var swapped = ConnectivityHash()
        swapped.add(pre: 0x0100, post: 1)
        #expect(swapped.value != h.value)
    }
}
