// Per-tick CSV without allocation: numbers are formatted by hand into a
// buffer allocated once and written out when it fills.

#if canImport(Glibc)
import Glibc
#endif

final class CSVWriter {
    private let file: UnsafeMutablePointer<FILE>
    private let path: String
    private let buffer: UnsafeMutablePointer<UInt8>
    private let capacity = 1 << 20
    private var count = 0

    init(path: String) throws {
        guard let f = fopen(path, "wb") else { throw SimError("\(path): cannot write the CSV file") }
        file = f
        self.path = path
        buffer = .allocate(capacity: capacity)
    }

    deinit {
        if count > 0 { fwrite(buffer, 1, count, file) }
        fclose(file)
        buffer.deallocate()
    }

    func header(_ names: [String]) {
        for b in names.joined(separator: ",").utf8 { put(b) }
        put(10)
    }

    @inline(__always) private func put(_ b: UInt8) {
        if count == capacity { flush() }
        buffer[count] = b
        count += 1
    }

    private func flush() {
        fwrite(buffer, 1, count, file)
        count = 0
    }

    @inline(__always) private func integer(_ value: Int) {
        var v = value
        if v < 0 { put(45); v = -v }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat { d[n] = UInt8(48 + v % 10); v /= 10; n += 1 } while v > 0
            while n > 0 { n -= 1; put(d[n]) }
        }
    }

    /// Up to 9 significant fractional digits (fixed point, trailing zeros
    /// dropped); magnitudes beyond 1e15 and non-finite values are rare and
    /// written by Swift's formatter.
    @inline(__always) private func number(_ value: Double) {
        guard value.isFinite, abs(value) < 1e15 else {
            for b in "\(value)".utf8 { put(b) }
            return
        }
        let scale = 1e9
        var scaled = (abs(value) * scale).rounded()
        if scaled == 0 { put(48); return }
        if value < 0 { put(45) }
        let whole = (scaled / scale).rounded(.down)
        scaled -= whole * scale
        integer(Int(whole))
        var fraction = Int(scaled)
        if fraction > 0 {
            put(46)
            var div = 100_000_000
            while fraction > 0 {
                put(UInt8(48 + fraction / div))
                fraction %= div
                div /= 10
            }
        }
    }

    func row(episode: Int, tick: Int, time: Double, state: UnsafePointer<Double>, stateCount: Int,
             motors: UnsafePointer<Float>, motorCount: Int, reward: Double) {
        integer(episode); put(44)
        integer(tick); put(44)
        number(time)
        for i in 0..<stateCount { put(44); number(state[i]) }
        for i in 0..<motorCount { put(44); number(Double(motors[i])) }
        put(44); number(reward)
        put(10)
    }

    func close() throws {
        flush()
        if fflush(file) != 0 { throw SimError("\(path): writing the CSV file failed") }
    }
}
