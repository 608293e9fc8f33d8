// fuzz-nir: NIR graphs (`spikeloop import`, `simulate x.nir`, a configuration's
// `network: {nir: ...}`), from the bytes the libhdf5 child hands back on.
//
// libhdf5 itself is not fuzzed: it crashes, hangs or corrupts memory on some
// malformed files, so `spikeloop` runs it only in a child process
// (`nir-probe`), which returns the tree it read in HDF5Tree's byte form
// (Sources/NIR/HDF5TreeEncoding.swift). What the process that runs the
// network does is fuzzed: one options byte (bit 0: Norse's conventions,
// bit 1: inputs as spikes, bits 2-3: reset none/to_v_reset/subtract/zero,
// bit 4: dt 1 ms instead of 0.1 ms), then the tree's bytes through
// `HDF5Tree(encoded:path:)`, `NIRGraph(tree:file:)` and `NIRImport`, and an
// imported network small enough to build cheaply is built and stepped with
// its inputs driven. Fuzz/make_corpus.py writes the seeds from real NIR files
// through `spikeloop nir-probe`.
//
// Checks beyond "does not crash": a decoded tree survives encoding and
// decoding; every Input and Output the import names is a population of its
// network.
import FuzzSupport
import NIR
import Neural

/// Neurons and weights of an imported network that is built and stepped.
let maximumNeurons = 512
let maximumWeights = 1 << 16

func options(_ b: UInt8) -> NIRImport.Options {
    let resets: [LayerSpec.Reset?] = [nil] + LayerSpec.Reset.allCases.map { $0 }
    return NIRImport.Options(dt: b & 16 != 0 ? 1 : 0.1, reset: resets[Int(b >> 2 & 3) % resets.count],
                             conventions: b & 1 != 0 ? .norse : .nir, inputs: b & 2 != 0 ? .spikes : .values)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = [UInt8](inputBytes(data, size))
    guard let first = bytes.first else { return 0 }
    let encoded = Array(bytes.dropFirst())
    expected("import") {
        let tree = try HDF5Tree(encoded: encoded, path: "fuzz.nir")
        let again = tree.encoded()
        fuzzCheck((try? HDF5Tree(encoded: again, path: "fuzz.nir").encoded()) == again, "a tree does not survive encoding")
        let graph = try NIRGraph(tree: tree, file: "fuzz.nir")
        let imported = try NIRImport(graph: graph, name: "fuzz", options: options(first), file: "fuzz.nir")
        let spec = imported.network
        let names = Set(spec.populations.map(\.name))
        for input in imported.inputs { fuzzCheck(names.contains(input), "Input '\(input)' has no population") }
        for output in imported.outputs {
            fuzzCheck(names.contains(output.population), "Output '\(output.node)' reads '\(output.population)', no population")
        }
        let weights = spec.populations.reduce(0) { total, p in
            guard case .layer(let layer) = p.model else { return total }
            return total + layer.inputs.reduce(0) { $0 + $1.weights.count }
        }
        guard spec.populations.reduce(0, { $0 + $1.size }) <= maximumNeurons, weights <= maximumWeights else {
            note("import: ok; too large to build here")
            return
        }
        let network = try Network(spec)
        let driven = imported.inputs.compactMap { network.populationIndex(named: $0).flatMap { network.currentInput(population: $0) } }
        for step in 0..<20 {
            for input in driven {
                for j in 0..<input.size { input.set(j, nanoamps: Float((step + j) % 3)) }
            }
            network.step()
        }
    }
    return 0
}

@main
enum Main {
    static func main() { runLibFuzzer { data, size in fuzz(data ?? emptyInput, size) } }
}
