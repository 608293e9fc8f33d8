import CHDF5
#if canImport(Glibc)
import Glibc
#endif

/// An HDF5 file read whole into memory: groups of datasets, as NIR writes
/// them. NIR files are small (a network's parameters), and reading all of it
/// first keeps libhdf5's handles inside this file.
public indirect enum HDF5Tree: Sendable {
    case group([String: HDF5Tree])
    /// Integers, floats and booleans, converted to Double; row-major.
    case numbers(shape: [Int], values: [Double])
    case strings(shape: [Int], values: [String])
    /// A dataset of a type NIR never writes (compound, opaque, …).
    case unsupported

    /// Reads the HDF5 file whose contents are `bytes` (read by the caller, so
    /// that a recording's copy serves as well as the disk); errors name `path`
    /// and the object that failed.
    public static func read(bytes: [UInt8], path: String) throws(NIRError) -> HDF5Tree {
        if let isolatedReader { return try isolatedReader(bytes, path) }
        return try readHere(bytes: bytes, path: path)
    }

    /// Reads the file with libhdf5 in this process: what ``isolatedReader`` runs in its child.
    public static func readHere(bytes: [UInt8], path: String) throws(NIRError) -> HDF5Tree {
        guard !bytes.isEmpty else { throw NIRError(file: path, "is empty; a NIR file is an HDF5 file written by nir.write") }
        let file = bytes.withUnsafeBytes { chdf5_open_image($0.baseAddress, $0.count) }
        guard file >= 0 else { throw NIRError(file: path, "cannot be read as HDF5 (truncated, or not an HDF5 file)") }
        defer { chdf5_close_file(file) }
        let root = chdf5_open_group(file, "/")
        guard root >= 0 else { throw NIRError(file: path, "has no root group") }
        defer { chdf5_close_group(root) }
        return try readGroup(root, at: "", file: path, depth: 0)
    }

    /// Reads a file instead of libhdf5 in this process. libhdf5 crashes, hangs
    /// or corrupts memory (and crashes later, or not at all) on some malformed
    /// files; the `spikeloop` command sets a reader that runs libhdf5 in a child
    /// process and takes the tree back in its byte form (``init(encoded:path:)``),
    /// so that such a file is an error, not the end of a daemon that is
    /// controlling a robot. Set once, at start-up, before any file is read.
    nonisolated(unsafe) public static var isolatedReader: ((_ bytes: [UInt8], _ path: String) throws(NIRError) -> HDF5Tree)?

    /// Deeper nesting than this is refused rather than followed (a file can nest without end).
    static let maximumDepth = 32
    /// Elements per dataset: 2²⁸ (1 GiB of float32) is beyond any network the engine runs.
    static let maximumElements = 1 << 28

    private static func readGroup(_ group: hid_t, at path: String, file: String, depth: Int) throws(NIRError) -> HDF5Tree {
        guard depth < maximumDepth else { throw NIRError(file: file, "\(path): groups nested deeper than \(maximumDepth)") }
        let count = chdf5_member_count(group)
        guard count >= 0 else { throw NIRError(file: file, "\(path.isEmpty ? "/" : path): the group cannot be listed") }
        var members: [String: HDF5Tree] = [:]
        for index in 0..<UInt64(count) {
            let length = chdf5_member_name(group, index, nil, 0)
            guard length >= 0 else { throw NIRError(file: file, "\(path): member \(index) has no readable name") }
            var bytes = [CChar](repeating: 0, count: length + 1)
            _ = chdf5_member_name(group, index, &bytes, bytes.count)
            let name = String(decoding: bytes.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let memberPath = path + "/" + name
            switch chdf5_kind(group, name) {
            case 1:
                let child = chdf5_open_group(group, name)
                guard child >= 0 else { throw NIRError(file: file, "\(memberPath): the group cannot be opened") }
                defer { chdf5_close_group(child) }
                members[name] = try readGroup(child, at: memberPath, file: file, depth: depth + 1)
            case 2:
                let dataset = chdf5_open_dataset(group, name)
                guard dataset >= 0 else { throw NIRError(file: file, "\(memberPath): the dataset cannot be opened") }
                defer { chdf5_close_dataset(dataset) }
                members[name] = try readDataset(dataset, at: memberPath, file: file)
            default:
                members[name] = .unsupported
            }
        }
        return .group(members)
    }

    private static func readDataset(_ dataset: hid_t, at path: String, file: String) throws(NIRError) -> HDF5Tree {
        var dims = [UInt64](repeating: 0, count: 32)
        let rank = chdf5_shape(dataset, &dims, 32)
        guard rank >= 0, rank <= 32 else { throw NIRError(file: file, "\(path): the dataset's shape cannot be read") }
        let shape = dims.prefix(Int(rank)).map { Int($0) }
        var count = 1
        for d in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, product <= maximumElements else {
                throw NIRError(file: file, "\(path): \(shape) is more than \(maximumElements) elements")
            }
            count = product
        }
        switch chdf5_class(dataset) {
        case 1, 2, 4:
            var values = [Double](repeating: 0, count: count)
            guard chdf5_read_doubles(dataset, &values) == 0 else {
                throw NIRError(file: file, "\(path): the data cannot be read (truncated or corrupt file?)")
            }
            return .numbers(shape: shape, values: values)
        case 3:
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            guard chdf5_read_strings(dataset, count, &pointers) == 0 else {
                throw NIRError(file: file, "\(path): the strings cannot be read (truncated or corrupt file?)")
            }
            let values = pointers.map { p -> String in
                defer { free(p) }
                return p.map { String(cString: $0) } ?? ""
            }
            return .strings(shape: shape, values: values)
        default:
            return .unsupported
        }
    }
}

/// A NIR file that cannot be run, with the place and what is valid.
public struct NIRError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(file: String, _ message: String) {
        description = "\(file): \(message)"
    }

    /// An error whose whole text is given (one reported by a child process).
    public init(description: String) {
        self.description = description
    }
}
