import ArgumentParser
import Foundation
import NIR

/// `spikeloop nir-probe`: reads an HDF5 file from standard input with
/// libhdf5 and exits 0 (read), 3 (refused with an error) or dies. The
/// command runs it before reading a NIR file in its own process (see
/// `HDF5Tree.readerGuard`), because libhdf5 can crash or hang on malformed files.
struct NIRProbe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nir-probe",
        abstract: "Read an HDF5 file from standard input (used internally to isolate libhdf5).",
        shouldDisplay: false
    )

    func run() throws {
        HDF5Tree.readerGuard = nil  // this is the child: read here
        let bytes = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        do { _ = try HDF5Tree.read(bytes: bytes, path: "stdin") } catch { throw ExitCode(3) }
    }

    /// How long the child may take; libhdf5 loops on some malformed files.
    static let timeout: TimeInterval = 10

    /// Reads `bytes` in a child process; a crash or a hang there is an error here.
    static func guardReading(_ bytes: [UInt8], _ path: String) throws(NIRError) {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        child.arguments = ["nir-probe"]
        let input = Pipe()
        child.standardInput = input
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        do { try child.run() } catch {
            return  // no child to isolate the read in: read in this process, as a library user would
        }
        let writer = Thread {
            try? input.fileHandleForWriting.write(contentsOf: Data(bytes))
            try? input.fileHandleForWriting.close()
        }
        writer.start()
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
    }
}
