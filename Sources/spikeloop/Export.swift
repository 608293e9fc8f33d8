import ArgumentParser
import Neural
import NIR

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a network of layers as a NIR graph (docs/nir.md).",
        discussion: """
        Writes NETWORK (a network file of layers, e.g. one `spikeloop import` wrote and \
        you edited, or a .nir file read with the import options) as a NIR file that NIR's \
        importers read: each layer input an Affine node, each layer its NIR neuron node, an \
        Output for every layer that feeds none. A reset NIR cannot say (subtract) is kept \
        in the node's metadata, where `spikeloop import` finds it again. Hand-built \
        networks (lif, izhikevich, projections) are refused: NIR cannot express them.

        Example:
          spikeloop export networks/policy.yaml --out policy-edited.nir
        """
    )

    @Argument(help: "The network file (.yaml) or NIR graph (.nir).")
    var network: String

    @Option(help: "The NIR file to write.")
    var out: String

    @Option(help: "For a .nir input: how spikes reset v (as simulate --reset).")
    var reset: String?

    @Option(help: "For a .nir input: what its numbers mean, nir or norse (as simulate --conventions).")
    var conventions: String?

    func run() throws {
        let spec = try loadNetwork(network, reset: reset, conventions: conventions)
        do { try NIRExport.write(spec, to: out) } catch {
            throw CommandError("nothing was exported.\n" + error.description)
        }
        print("wrote \(out) (\(spec.populations.count) populations)")
    }
}
