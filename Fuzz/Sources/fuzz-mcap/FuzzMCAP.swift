// fuzz-mcap: session recordings (MCAP files), the input written to a scratch
// file and read with
//   - MCAPReader(path:): header, footer, summary (with its CRC), every
//     message (through the chunk indexes when there is a summary, else by a
//     tolerant scan), and both linear scans (strict and tolerant);
//   - MCAPRecovery.recover(input:output:), whose output must then be a
//     complete file that the reader reads, strictly, with every message the
//     recovery reported (through the scan and through its summary).
// Thrown MCAPErrors are expected; crashes and broken checks are the findings.
import FuzzSupport
import Recording

let inputPath: String = "\(scratchDirectory)/input.mcap"
let recoveredPath: String = "\(scratchDirectory)/recovered.mcap"

func read(_ reader: MCAPReader) {
    expected("header") { _ = try reader.header() }
    _ = reader.hasFooter
    expected("summary") {
        if let summary = try reader.summary() {
            _ = summary.statistics?.channelMessageCounts.count
        }
    }
    expected("forEachMessage") {
        var messages = 0
        try reader.forEachMessage { message in
            messages += 1
            _ = message.data.count
        }
    }
    expected("readAll") { _ = try reader.readAll(tolerant: false) }
    expected("readAll(tolerant: true)") {
        let all = try reader.readAll(tolerant: true)
        if let scan = all.scan {
            fuzzCheck(scan.validBytes <= scan.fileSize, "a scan claims \(scan.validBytes) valid bytes of \(scan.fileSize)")
            fuzzCheck(scan.messages == all.messages.count, "a scan counted \(scan.messages) messages and handed out \(all.messages.count)")
        }
    }
}

func recover() {
    var options = MCAPWriterOptions()
    options.chunkSize = 4096  // several chunks from small inputs
    let report: MCAPRecoveryReport
    do {
        report = try MCAPRecovery.recover(input: inputPath, output: recoveredPath, options: options)
    } catch {
        let text = "\(error)"
        note("recover: \(text)")
        return
    }
    let text = "\(report)"
    note("recover: \(text)")

    // What recovery writes is complete and holds what it reported.
    do {
        let reader = try MCAPReader(path: recoveredPath)
        let all = try reader.readAll(tolerant: false)
        fuzzCheck(all.scan?.complete == true, "the recovered file is not complete")
        fuzzCheck(all.messages.count == report.messages,
                  "recovery reported \(report.messages) messages, the recovered file has \(all.messages.count)")
        fuzzCheck(all.metadata.count == report.metadata && all.attachments.count == report.attachments,
                  "recovery reported \(report.metadata) metadata and \(report.attachments) attachments, the file has \(all.metadata.count) and \(all.attachments.count)")
        var indexed = 0
        try reader.forEachMessage { _ in indexed += 1 }
        fuzzCheck(indexed == report.messages,
                  "the recovered file's summary leads to \(indexed) messages, recovery reported \(report.messages)")
    } catch {
        fuzzCheck(false, "the recovered file does not read: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    writeFile(inputPath, inputBytes(data, size))
    do {
        let reader = try MCAPReader(path: inputPath)
        read(reader)
    } catch {
        let text = "\(error)"
        note("MCAPReader: \(text)")
        return 0  // not an MCAP file (no magic): recovery refuses it the same way
    }
    recover()
    return 0
}

@main
enum Main {
    static func main() { runLibFuzzer { data, size in fuzz(data ?? emptyInput, size) } }
}
