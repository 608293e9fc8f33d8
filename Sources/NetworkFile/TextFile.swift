#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct FileReadError: Error, CustomStringConvertible {
    public let description: String
}

/// Reads a whole UTF-8 text file.
public func readText(_ path: String) throws -> String {
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
