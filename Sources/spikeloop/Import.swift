import ArgumentParser
import Foundation
import Neural
import NetworkFile
import NIR

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Write a NIR graph as a network file to read and edit (docs/nir.md).",
        discussion: """
        Imports MODEL (a .nir file) as `spikeloop simulate` and `network: model.nir` \
        would run it, and writes it as a network file: layers and their parameters in \
        the YAML, weights of more than 64 entries in .npy files beside it (numpy.load \
        reads them). `spikeloop simulate OUT.yaml` then runs the same network, spike for \
        spike. Nothing is written when the graph is not valid.

        Example:
          spikeloop import policy.nir --out networks/policy.yaml --reset subtract
        """
    )

    @Argument(help: "The NIR graph (.nir).")
    var model: String

    @Option(help: "The network file to write (.yaml); .npy weights go beside it.")
    var out: String

    @Option(help: "How spikes reset v: to_v_reset, subtract or to_v_reset_next_step (docs/nir.md).")
    var reset: String?

    @Option(help: "What the file's numbers mean: nir or norse (docs/nir.md).")
    var conventions: String?

    @Option(help: "What the graph's Inputs take: values (analog_input) or spikes (input).")
    var inputs: String?

    @Option(help: "The step, with a unit (default 0.1ms).")
    var dt: String?

    func run() throws {
        guard out.hasSuffix(".yaml") || out.hasSuffix(".yml") else {
            throw ValidationError("--out '\(out)': give a .yaml file")
        }
        let step = try dt.map { try cliQuantity($0, .time, option: "--dt") }
        if let step, !(step > 0) { throw ValidationError("--dt must be positive") }
        let options = try nirOptions(dt: step, reset: reset, conventions: conventions, inputs: inputs)
        let imported = try importNIR(model, options: options, refused: "nothing was written")
        let outputs = imported.outputs.map { "\($0.node) -> population \($0.population)" }.joined(separator: ", ")
        let header = """
        Imported from \(URL(fileURLWithPath: model).lastPathComponent) by `spikeloop import` (docs/nir.md):
        conventions \(options.conventions.rawValue), reset \(options.reset?.rawValue ?? "as the file says (default to_v_reset)"), inputs \(options.inputs.rawValue).
        Inputs: \(imported.inputs.joined(separator: ", ")); outputs: \(outputs).
        """
        let files = try writeLayerFile(imported.network, to: out, header: header)
        print("wrote \(out) (\(imported.network.populations.count) populations)"
              + (files == 0 ? "" : " and \(files) .npy file\(files == 1 ? "" : "s") beside it"))
    }
}

/// Writes a network of layers as the network file `out` with its `.npy`
/// weights beside it (`LayerFileWriter`); returns how many `.npy` files.
func writeLayerFile(_ spec: NetworkSpec, to out: String, header: String) throws -> Int {
    let url = URL(fileURLWithPath: out)
    let written = try LayerFileWriter.write(spec, stem: url.deletingPathExtension().lastPathComponent, header: header)
    let folder = url.deletingLastPathComponent()
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for file in written.files {
        let path = folder.appendingPathComponent(file.name).path
        guard FileManager.default.createFile(atPath: path, contents: Data(file.bytes)) else { throw CommandError("cannot write '\(path)'") }
    }
    try writeFile(out, written.yaml)
    return written.files.count
}
