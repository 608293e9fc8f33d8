#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC).
func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Resident memory of this process in bytes, from /proc/self/statm.
func residentBytes() -> Int? {
    guard let f = fopen("/proc/self/statm", "r") else { return nil }
    defer { fclose(f) }
    var size = 0, resident = 0
    guard fscanf_pair(f, &size, &resident) else { return nil }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

private func fscanf_pair(_ f: UnsafeMutablePointer<FILE>, _ a: inout Int, _ b: inout Int) -> Bool {
    var line = [CChar](repeating: 0, count: 256)
    guard fgets(&line, 256, f) != nil else { return false }
    let text = String(cString: line)
    let parts = text.split(separator: " ")
    guard parts.count >= 2, let x = Int(parts[0]), let y = Int(parts[1]) else { return false }
    a = x
    b = y
    return true
}
