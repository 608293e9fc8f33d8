import ArgumentParser
import Foundation
import NIR

/// `spikeloop nir-probe`: reads an HDF5 file from standard input with
/// libhdf5 and writes its tree, encoded (`HDF5Tree.encoded()`), to standard
/// output (exit 0), or the error to standard error (exit 3), or dies. Every
/// `spikeloop` command reads NIR files through it (`HDF5Tree.isolatedReader`):
/// libhdf5 crashes, hangs or corrupts memory on some malformed files, and the
/// process that runs the network must not (a file whose reading corrupted the
/// child's heap without a crash there crashed the parent when it read the
/// same bytes itself).
struct NIRProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nir-probe",
        abstract: "Read an HDF5 file from standard input (used internally to isolate libhdf5).",
        shouldDisplay: false
    )

    @Option(help: "The file's name in error messages.")
    var name = "stdin"

    func run() throws {
        let bytes = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        do {
            let tree = try HDF5Tree.readHere(bytes: bytes, path: name)
            FileHandle.standardOutput.write(Data(tree.encoded()))
        } catch {
            FileHandle.standardError.write(Data(error.description.utf8))
            throw ExitCode(3)
        }
    }

    /// How long the child may take; libhdf5 loops on some malformed files.
    static let timeout: TimeInterval = 10

    /// Reads `bytes` with libhdf5 in a child process and decodes the tree it
    /// returns; a crash or a hang there is an error here.
    static func read(_ bytes: [UInt8], _ path: String) throws(NIRError) -> HDF5Tree {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        child.arguments = ["nir-probe", "--name=\(path)"]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        child.standardInput = input
        child.standardOutput = output
        child.standardError = errors
        do { try child.run() } catch {
            // No child to isolate libhdf5 in: read here, as a library user would.
            return try HDF5Tree.readHere(bytes: bytes, path: path)
        }
        // The pipes are drained while the child runs: a tree larger than a
        // pipe's buffer would otherwise block it until the deadline.
        let received = Received()
        let threads = [
            Thread {
                try? input.fileHandleForWriting.write(contentsOf: Data(bytes))
                try? input.fileHandleForWriting.close()
            },
            Thread { received.set(output: output.fileHandleForReading.readDataToEndOfFile()) },
            Thread { received.set(errors: errors.fileHandleForReading.readDataToEndOfFile()) },
        ]
        threads.forEach { $0.start() }
        let deadline = Date().addingTimeInterval(timeout)
        while child.isRunning && Date() < deadline { usleep(2000) }
        if child.isRunning {
            child.terminate()
            child.waitUntilExit()
            throw NIRError(file: path, "is malformed: libhdf5 did not finish reading it within \(Int(timeout)) s (in a separate process); nothing was run")
        }
        if child.terminationReason == .uncaughtSignal {
            throw NIRError(file: path, "is malformed: libhdf5 crashed reading it (signal \(child.terminationStatus), in a separate process); nothing was run")
        }
        let (tree, message) = received.wait()
        guard child.terminationStatus == 0 else {
            throw NIRError(description: message.isEmpty ? "\(path): the reader exited with status \(child.terminationStatus)" : message)
        }
        return try HDF5Tree(encoded: tree, path: path)
    }

    /// What the child wrote, once both pipes have closed.
    private final class Received: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var output = Data(), errors = Data()

        func set(output data: Data) {
            lock.withLock { output = data }
            done.signal()
        }

        func set(errors data: Data) {
            lock.withLock { errors = data }
            done.signal()
        }

        func wait() -> (output: [UInt8], errors: String) {
            done.wait()
            done.wait()
            return lock.withLock { ([UInt8](output), String(decoding: errors, as: UTF8.self)) }
        }
    }
}
