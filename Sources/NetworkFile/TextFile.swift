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
    private static let files = Mutex<[String: [UInt8]]>([:])

    public static func install(_ texts: [String: String]) {
        install(bytes: texts.mapValues { Array($0.utf8) })
    }

    /// Files that are not text (a NIR graph), as they were recorded.
    public static func install(bytes: [String: [UInt8]]) {
        files.withLock { $0.merge(bytes.map { (normalizedPath($0.key), $0.value) }) { $1 } }
    }

    static func bytes(_ path: String) -> [UInt8]? { files.withLock { $0[normalizedPath(path)] } }
}

/// `path` with `.` components and `name/..` pairs removed, lexically (no file
/// system access): `Config/../Robots/cartpole.yaml` is `Robots/cartpole.yaml`.
public func normalizedPath(_ path: String) -> String {
    let absolute = path.hasPrefix("/")
    var parts: [Substring] = []
    for part in path.split(separator: "/") where part != "." {
        if part == "..", let last = parts.last, last != ".." {
            parts.removeLast()
        } else if part == "..", absolute {
            continue  // above the root is the root
        } else {
            parts.append(part)
        }
    }
    let joined = parts.joined(separator: "/")
    return absolute ? "/" + joined : (joined.isEmpty ? "." : joined)
}

/// Reads a whole UTF-8 text file (or its stand-in from ``FileOverlay``) of
/// at most `limit` bytes.
public func readText(_ path: String, limit: Int = 64 << 20) throws -> String {
    String(decoding: try readBytes(path, limit: limit), as: UTF8.self)
}

/// Reads a whole file (or its stand-in from ``FileOverlay``) of at most `limit` bytes.
public func readBytes(_ path: String, limit: Int) throws -> [UInt8] {
    if let bytes = FileOverlay.bytes(path) { return bytes }
    return try readRegularFile(path, limit: limit)
}

/// Reads a whole regular file of at most `limit` bytes. Anything else (a
/// FIFO, a device such as /dev/zero, a directory) is refused before a byte
/// is read, and opening never blocks: a FIFO without a writer would hang
/// the reading thread, and shutdown with it.
public func readRegularFile(_ path: String, limit: Int) throws(FileReadError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
    guard fd >= 0 else { throw FileReadError(description: String(cString: strerror(errno))) }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw FileReadError(description: "cannot stat: \(String(cString: strerror(errno)))") }
    guard info.st_mode & S_IFMT == S_IFREG else {
        throw FileReadError(description: "not a regular file (\(fileKind(info.st_mode))); give the path of a file")
    }
    guard Int(info.st_size) <= limit else {
        throw FileReadError(description: "\(info.st_size) bytes, more than the \(limit) bytes accepted")
    }
    var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
    var got = 0
    let failure: Int32? = bytes.withUnsafeMutableBytes { raw in
        while got < raw.count {
            let n = read(fd, raw.baseAddress! + got, raw.count - got)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if n == 0 { break }
            got += n
        }
        return nil
    }
    if let failure { throw FileReadError(description: "cannot read: \(String(cString: strerror(failure)))") }
    if got < bytes.count { bytes.removeLast(bytes.count - got) }  // shrank while being read
    return bytes
}

private func fileKind(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFDIR: return "a directory"
    case S_IFIFO: return "a FIFO"
    case S_IFCHR: return "a character device"
    case S_IFBLK: return "a block device"
    case S_IFSOCK: return "a socket"
    default: return "not a file"
    }
}
