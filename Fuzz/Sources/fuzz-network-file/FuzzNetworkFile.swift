// fuzz-network-file: network description files (docs/network-file.md), the
// input read as UTF-8 text.
//
// NetworkFile.parse(yaml:file:) parses (YAML, then the NetworkSpec with every
// problem reported) and then builds the Network to check it, and building
// allocates what the file asks for (a population of 10^12 neurons, an
// all-to-all projection between two large ones). So every input is parsed
// the way parse does it (DocumentReader.root, NetworkFile.read) without
// building, and only a spec that is small enough to build cheaply — at most
// `maximumNeurons` neurons in all and `maximumProjections` projections — goes
// through NetworkFile.parse itself, which builds it. Thrown errors and
// reported problems are expected; crashes are the findings.
import FuzzSupport
import Neural
import NetworkFile

let maximumNeurons = 64
let maximumProjections = 16

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: inputBytes(data, size), as: UTF8.self)

    // Parse only: what NetworkFile.parse does before it builds.
    let reader = DocumentReader(file: "fuzz.yaml")
    let spec = reader.root(yaml: text).flatMap { NetworkFile.read($0, reader: reader) }
    for problem in reader.problems {
        let text = problem.description
        note("read: \(text)")
    }
    guard let spec, reader.problems.isEmpty else { return 0 }

    // Small enough to build: the whole of NetworkFile.parse.
    guard spec.populations.allSatisfy({ $0.size <= maximumNeurons }),
          spec.populations.reduce(0, { $0 + $1.size }) <= maximumNeurons,
          spec.projections.count <= maximumProjections else {
        note("read: ok; too large to build here")
        return 0
    }
    expected("parse (and build)") {
        let parsed = try NetworkFile.parse(yaml: text, file: "fuzz.yaml")
        fuzzCheck(parsed == spec, "NetworkFile.parse and NetworkFile.read read the same text differently")
    }
    return 0
}

@main
enum Main {
    static func main() { runLibFuzzer { data, size in fuzz(data ?? emptyInput, size) } }
}
