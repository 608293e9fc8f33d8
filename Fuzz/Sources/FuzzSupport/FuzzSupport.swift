// What the harnesses share: the libFuzzer entry point, a failed-check
// crash, and scratch files for the parsers that read from a path.
import CFuzzerDriver

#if canImport(Glibc)
import Glibc
#endif

/// LLVMFuzzerTestOneInput's C type.
public typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

/// Hands `callback` to libFuzzer with this process's command line (the usual
/// libFuzzer flags and corpus directories); exits with libFuzzer's status.
public func runLibFuzzer(_ callback: FuzzCallback) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, callback))
}

/// The input as raw bytes (libFuzzer's buffer is exactly `size` bytes long,
/// so AddressSanitizer sees any read past its end).
@inline(__always)
public func inputBytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: data, count: size)
}

/// A broken invariant: prints `message` and aborts, so that libFuzzer keeps
/// the input as a crash.
public func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #fileID, line: UInt = #line) {
    guard !condition() else { return }
    let text = Array("fuzz check failed (\(file):\(line)): \(message())\n".utf8)
    _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    abort()
}

// MARK: - Scratch files

/// This process's scratch directory: `$SPIKELOOP_FUZZ_TMP` (Tools/fuzz sets
/// it to a directory it removes afterwards), else /dev/shm (memory: the MCAP
/// writer fsyncs every file it closes, which on a disk takes milliseconds)
/// or /tmp; then spikeloop-fuzz-PID. Created on first use, removed at exit.
public let scratchDirectory: String = {
    var info = stat()
    let base = getenv("SPIKELOOP_FUZZ_TMP").map { String(cString: $0) }
        ?? (stat("/dev/shm", &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR ? "/dev/shm" : "/tmp")
    let path = "\(base)/spikeloop-fuzz-\(getpid())"
    makeDirectory(path)
    atexit { removeScratch() }
    return path
}()

nonisolated(unsafe) private var createdFiles: [String] = []
nonisolated(unsafe) private var createdDirectories: [String] = []

/// Creates `path` and its missing parents (mkdir -p); records new directories for removal.
public func makeDirectory(_ path: String) {
    var prefix = ""
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
        prefix += "/" + part
        if mkdir(prefix, 0o755) == 0 { createdDirectories.append(prefix) }
    }
}

/// Writes `bytes` to `path` (created or truncated); returns `path`.
@discardableResult
public func writeFile(_ path: String, _ bytes: UnsafeRawBufferPointer) -> String {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    fuzzCheck(fd >= 0, "cannot create \(path): \(String(cString: strerror(errno)))")
    defer { close(fd) }
    var done = 0
    while done < bytes.count {
        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n < 0, errno == EINTR { continue }
        fuzzCheck(n > 0, "cannot write \(path): \(String(cString: strerror(errno)))")
        done += n
    }
    if !createdFiles.contains(path) { createdFiles.append(path) }
    return path
}

/// Writes `bytes` to `name` in the scratch directory; returns its path.
@discardableResult
public func writeScratch(_ name: String, _ bytes: UnsafeRawBufferPointer) -> String {
    writeFile("\(scratchDirectory)/\(name)", bytes)
}

/// Copies the regular file `source` to `destination`; false when `source` cannot be read.
@discardableResult
public func copyFile(_ source: String, to destination: String) -> Bool {
    guard let bytes = readFile(source) else { return false }
    bytes.withUnsafeBytes { _ = writeFile(destination, $0) }
    return true
}

/// The whole file, or nil.
public func readFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n == 0 { break }
        out += chunk[0..<n]
    }
    return out
}

/// Names of the entries of `directory` that end with `suffix`, sorted.
public func listDirectory(_ directory: String, suffix: String) -> [String] {
    guard let d = opendir(directory) else { return [] }
    defer { closedir(d) }
    var names: [String] = []
    while let entry = readdir(d) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        if name.hasSuffix(suffix) { names.append(name) }
    }
    return names.sorted()
}

/// Removes the scratch files and directories this process created.
public func removeScratch() {
    for f in createdFiles { unlink(f) }
    for d in createdDirectories.reversed() { rmdir(d) }
    createdFiles = []
    createdDirectories = []
}

/// The spikeloop checkout: `$SPIKELOOP_ROOT`, else the one this package was
/// compiled in (this file is Fuzz/Sources/FuzzSupport/FuzzSupport.swift in it).
public let repositoryRoot: String = {
    if let root = getenv("SPIKELOOP_ROOT") { return String(cString: root) }
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(4)  // FuzzSupport.swift, FuzzSupport, Sources, Fuzz
    return parts.joined(separator: "/")
}()

/// Stands in for a null input pointer (libFuzzer passes one only for size 0, if ever).
nonisolated(unsafe) public let emptyInput = UnsafePointer<UInt8>(UnsafeMutablePointer<UInt8>.allocate(capacity: 1))

/// Whether to print what the parsers said (`SPIKELOOP_FUZZ_VERBOSE=1`, for
/// looking at single inputs: `HARNESS FILE...`).
public let verbose: Bool = getenv("SPIKELOOP_FUZZ_VERBOSE").map { String(cString: $0) != "0" } ?? false

/// An expected outcome (a thrown error, a refusal): printed when `verbose`.
public func note(_ text: @autoclosure () -> String) {
    guard verbose else { return }
    let line = Array("\(text())\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// Runs `body`; a thrown error is an expected outcome, not a finding. Its
/// description is made either way (the daemon logs it: that code runs too).
public func expected(_ what: String, _ body: () throws -> Void) {
    do {
        try body()
        note("\(what): ok")
    } catch {
        let text = "\(error)"
        note("\(what): \(text)")
    }
}
