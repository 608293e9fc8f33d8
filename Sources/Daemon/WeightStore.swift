import Control
import NetworkFile
import Neural
import Recording
#if canImport(Glibc)
import Glibc
#endif

/// What a weights file must match to be applied to a network: its
/// projections' names, sizes and wiring. Computed once (hashing the wiring
/// is O(synapses)); the wiring never changes while the network lives.
public struct WeightLayout: Sendable, Equatable {
    public struct Projection: Sendable, Equatable {
        public var name: String
        public var preCount: Int
        public var postCount: Int
        public var synapseCount: Int
        public var connectivityHash: UInt64
    }

    public let projections: [Projection]

    public init(_ network: Network) {
        projections = network.projectionNames.indices.map { i in
            var hash = ConnectivityHash()
            network.forEachConnection(ofProjection: i) { hash.add(pre: $0, post: $1) }
            return Projection(name: network.projectionNames[i], preCount: network.preCount(ofProjection: i),
                              postCount: network.postCount(ofProjection: i),
                              synapseCount: network.synapseCount(ofProjection: i), connectivityHash: hash.value)
        }
    }

    public var synapseCount: Int { projections.reduce(0) { $0 + $1.synapseCount } }

    /// Refuses a snapshot of another network: the first difference, named.
    public func check(_ snapshot: WeightSnapshot, file: String) throws(WeightStoreError) {
        func differs(_ what: String) -> WeightStoreError {
            WeightStoreError("weights file '\(file)' does not fit the network: \(what)")
        }
        let mine = projections.map(\.name), theirs = snapshot.projections.map(\.name)
        if let missing = mine.first(where: { !theirs.contains($0) }) {
            throw differs("projection '\(missing)' is not in the file (the file has: \(theirs.joined(separator: ", ")))")
        }
        if let extra = theirs.first(where: { !mine.contains($0) }) {
            throw differs("the file has projection '\(extra)', the network has none of that name (it has: \(mine.joined(separator: ", ")))")
        }
        guard mine == theirs else {
            throw differs("the projections are in another order (file: \(theirs.joined(separator: ", ")); network: \(mine.joined(separator: ", ")))")
        }
        for (p, s) in zip(projections, snapshot.projections) {
            let name = "projection '\(p.name)'"
            guard s.preCount == p.preCount, s.postCount == p.postCount else {
                throw differs("\(name) connects \(s.preCount) → \(s.postCount) neurons in the file, \(p.preCount) → \(p.postCount) in the network")
            }
            guard s.synapseCount == p.synapseCount else {
                throw differs("\(name) has \(s.synapseCount) synapses in the file, \(p.synapseCount) in the network")
            }
            guard s.connectivityHash == p.connectivityHash else {
                throw differs("\(name): connectivity hash \(hex64(s.connectivityHash)) in the file, \(hex64(p.connectivityHash)) in the network (wired differently: another seed, rule or size)")
            }
        }
    }

    /// A snapshot of these projections with the given weights (CSR order each).
    public func snapshot(weights: [[Float]]) -> WeightSnapshot {
        WeightSnapshot(projections: zip(projections, weights).map { p, w in
            .init(name: p.name, preCount: p.preCount, postCount: p.postCount, connectivityHash: p.connectivityHash, weights: w)
        })
    }
}

/// Weights files on disk: read and check against a network, write atomically.
public enum WeightStore {
    /// The network's weights now; only from the thread that steps it (or while nothing does).
    public static func snapshot(of network: Network, layout: WeightLayout) -> WeightSnapshot {
        layout.snapshot(weights: layout.projections.indices.map { network.weights(ofProjection: $0) })
    }

    /// Reads, decodes and checks `path` against `layout`.
    public static func read(_ path: String, layout: WeightLayout) throws(WeightStoreError) -> WeightSnapshot {
        let bytes = try readFile(path)
        let snapshot: WeightSnapshot
        do { snapshot = try WeightSnapshot(decoding: bytes, file: path) } catch { throw WeightStoreError(error.description) }
        try layout.check(snapshot, file: path)
        return snapshot
    }

    /// Reads `path`, checks it against `layout` (the network's) and installs
    /// it, on the thread that steps the network or while nothing does.
    @discardableResult
    public static func load(_ path: String, into network: Network, layout: WeightLayout) throws(WeightStoreError) -> WeightSnapshot {
        let snapshot = try read(path, layout: layout)
        for p in try prepare(snapshot, for: network, file: path) { network.install(p) }
        return snapshot
    }

    /// Checks and copies a snapshot's weights for `network.install` (the
    /// snapshot must have passed `layout.check`). Any thread.
    public static func prepare(_ snapshot: WeightSnapshot, for network: Network, file: String) throws(WeightStoreError) -> [PreparedWeights] {
        var prepared: [PreparedWeights] = []
        for (i, p) in snapshot.projections.enumerated() {
            do { prepared.append(try network.prepareWeights(ofProjection: i, p.weights)) } catch {
                throw WeightStoreError("\(file): \(error)")
            }
        }
        return prepared
    }

    /// Writes `bytes` so that `path` is at every moment either its previous
    /// complete content or the new complete content: a temporary file in the
    /// same directory, fsync, rename over `path`, fsync of the directory.
    /// On failure the temporary file is removed and `path` is untouched.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(WeightStoreError) {
        let temporary = temporaryPath(for: path)
        func failed(_ step: String, _ code: Int32 = errno) -> WeightStoreError {
            unlink(temporary)
            return WeightStoreError("cannot save the weights to '\(path)': \(step): \(String(cString: strerror(code)))")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failed("creating '\(temporary)'") }
        var written = 0
        let failure: Int32? = bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += n
            }
            return fsync(fd) == 0 ? nil : errno
        }
        if let failure {
            close(fd)
            throw failed(written < bytes.count ? "writing byte \(written) of \(bytes.count)" : "fsync", failure)
        }
        guard close(fd) == 0 else { throw failed("closing '\(temporary)'") }
        guard rename(temporary, path) == 0 else { throw failed("renaming '\(temporary)' over it") }
        // The rename itself is durable only once the directory is on disk.
        let dir = open(directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
    }

    /// `path.tmp-PID`: one per process, so two daemons never share one.
    public static func temporaryPath(for path: String) -> String { "\(path).tmp-\(getpid())" }

    /// Removes temporary files that saves cut short left beside `path`
    /// (`path.tmp-*`); returns their names.
    @discardableResult
    public static func removeLeftovers(of path: String) -> [String] {
        let dir = directory(of: path)
        let prefix = String(path.split(separator: "/", omittingEmptySubsequences: false).last ?? "") + ".tmp-"
        guard let stream = opendir(dir) else { return [] }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix(prefix) { names.append(name) }
        }
        closedir(stream)
        for name in names { unlink("\(dir)/\(name)") }
        return names.sorted()
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Weights files larger than this are refused before reading.
    static let sizeLimit = 16 << 30

    static func readFile(_ path: String) throws(WeightStoreError) -> [UInt8] {
        do { return try readRegularFile(path, limit: sizeLimit) } catch {
            throw WeightStoreError("\(path): cannot open: \(error.description)")
        }
    }
}

/// A weights file that cannot be read, does not fit, or cannot be written:
/// the file and what is wrong.
public struct WeightStoreError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

func hex64(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 16 - digits.count) + digits
}
