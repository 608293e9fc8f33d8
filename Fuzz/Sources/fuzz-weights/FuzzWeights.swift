// fuzz-weights: plastic-weight snapshots (.slw, docs/weights.md) through
// WeightSnapshot(decoding:file:), twice per input: as it is, and with its
// last 4 bytes replaced by the CRC-32 of the rest, so that the fuzzer also
// reaches what is checked after the CRC (finite weights, the decoded
// projections). Whatever decodes must encode() to exactly the bytes it was
// decoded from and decode again to an equal snapshot.
// Thrown WeightSnapshotErrors are expected; crashes are the findings.
import FuzzSupport
import Recording

func decode(_ bytes: [UInt8]) {
    let snapshot: WeightSnapshot
    do {
        snapshot = try WeightSnapshot(decoding: bytes, file: "fuzz.slw")
    } catch {
        let text = error.description
        note("decode: \(text)")
        return
    }
    note("decode: \(snapshot.projections.count) projections, \(snapshot.synapseCount) synapses")
    let encoded = snapshot.encode()
    fuzzCheck(encoded == bytes, "a decoded snapshot encodes to \(encoded.count) other bytes than the \(bytes.count) it came from")
    let again = try? WeightSnapshot(decoding: encoded, file: "fuzz.slw")
    fuzzCheck(again == snapshot, "a re-encoded snapshot does not decode to the same snapshot")
    fuzzCheck(snapshot.crc == CRC32.checksum(Array(bytes.dropLast(4))), "the snapshot's crc is not its bytes' CRC-32")
    for p in snapshot.projections {
        fuzzCheck(p.weights.allSatisfy(\.isFinite), "projection \(p.name) decoded with a non-finite weight")
    }
    _ = snapshot.synapseCount
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var bytes = Array(inputBytes(data, size))
    decode(bytes)
    if bytes.count >= 4 {
        let crc = CRC32.checksum(Array(bytes[0..<(bytes.count - 4)]))
        withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange((bytes.count - 4)..., with: $0) }
        decode(bytes)
    }
    return 0
}

@main
enum Main {
    static func main() { runLibFuzzer { data, size in fuzz(data ?? emptyInput, size) } }
}
