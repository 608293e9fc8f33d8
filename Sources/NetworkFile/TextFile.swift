#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

import Synchronization

public struct FileReadError: Error, CustomStringConvertible {
    public let description: String
}

/// Texts that stand in for files: `spikeloop replay` rebuilds a recorded
/// controller from the configuration, robot and network files stored in the
/// recording, under the paths they were read from.
public enum FileOverlay {
    private static let files = Mutex<[String: String]>([:])

    public static func install(_ texts: [String: String]) { files.withLock { $0.merge(texts) { $1 } } }

    static func text(_ path: String) -> String? { files.withLock { $0[path] } }
}

/// Reads a whole UTF-8 text file (or its stand-in from ``FileOverlay``).
public func readText(_ path: String) throws -> String {
    if let text = FileOverlay.text(path) { return text }
    guard let f = fopen(path, "rb") else { throw FileReadError(description: String(cString: strerror(errno))) }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, 65536, f) }
        if n == 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    if ferror(f) != 0 { throw FileReadError(description: "read error") }
    return String(decoding: bytes, as: UTF8.self)
}
