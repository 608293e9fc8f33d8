import Wire

/// Encoded sensor frames of the closed-loop fixture's two-joint arm
/// (sequences 1…count), prepared before a test's counted part: the
/// simulator's side is not under test.
func encodedArmFrames(layoutHash: UInt64, count: Int, values: (Int) -> (Float, Float)) -> [[UInt8]] {
    let frame = SensorFrameBuffer(capacity: 2)
    return (0..<count).map { i -> [UInt8] in
        frame.reset()
        frame.protocolVersion = wireProtocolVersion
        frame.layoutHash = layoutHash
        frame.sequence = UInt64(i + 1)
        frame.valueCount = 2
        (frame.values[0], frame.values[1]) = values(i)
        var bytes = [UInt8](repeating: 0, count: 256)
        let n = bytes.withUnsafeMutableBytes { HotCodec.encode(frame, into: $0)! }
        return Array(bytes[0..<n])
    }
}
