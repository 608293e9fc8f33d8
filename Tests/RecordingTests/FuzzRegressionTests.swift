import Foundation
import Recording
import Testing

/// Inputs libFuzzer found crashing the MCAP reader (Fuzz/Regressions/fuzz-mcap):
/// a chunk claiming hundreds of gigabytes uncompressed made the reader
/// reserve them before decompressing. Each is now a clear error.
@Suite struct MCAPFuzzRegressionTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/Regressions/fuzz-mcap")
    static let inputs = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()

    @Test func thereAreInputs() { #expect(Self.inputs.count >= 9) }

    @Test(arguments: inputs)
    func readAndRecoverEndWithAnErrorNamingTheRecord(name: String) throws {
        let path = Self.folder.appendingPathComponent(name).path
        let reader = try MCAPReader(path: path)
        let all = try reader.readAll(tolerant: true)
        let reason = try #require(all.scan?.stoppedBy, "\(name) reads as complete")
        #expect("\(reason)".contains("implausible for 440 compressed bytes") || "\(reason)".contains("the file ends inside it"), "\(reason)")
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-recovered-\(name).mcap").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let report = try MCAPRecovery.recover(input: path, output: output)
        #expect(report.stoppedBy != nil || !report.skippedChunks.isEmpty)
        #expect(try MCAPReader(path: output).readAll().scan?.complete == true)
    }
}
