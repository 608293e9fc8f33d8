import ArgumentParser
import Daemon
import Neural
import NIR

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a network as a NIR graph (docs/nir.md).",
        discussion: """
        Writes NETWORK as a NIR file that NIR's importers read (SpiNNaker2, Xylo, Loihi, \
        the training frameworks, `spikeloop import`).

        A network of layers (one `spikeloop import` wrote and you edited, or a .nir file \
        read with the import options): each layer input an Affine node, each layer its NIR \
        neuron node, an Output for every layer that feeds none. A reset NIR cannot say \
        (subtract) is kept in the node's metadata, where `spikeloop import` finds it again.

        A hand-built network (lif populations and projections, learned weights with \
        --weights): each population a LIF node whose forward-Euler step at the network's \
        dt is its exact step, each current synapse a LI node, each delay a Delay node. \
        What NIR cannot say (refractory periods, learning rules, spike_times) is printed \
        and left out; izhikevich populations and conductance synapses are refused.

        Examples:
          spikeloop export networks/policy.yaml --out policy-edited.nir
          spikeloop export Config/networks/cartpole.yaml --out cartpole.nir
          spikeloop export net.yaml --weights learned.slw --out learned.nir
        """
    )

    @Argument(help: "The network file (.yaml) or NIR graph (.nir).")
    var network: String

    @Option(help: "The NIR file to write.")
    var out: String

    @Option(help: "For a hand-built network: take the weights from this weights file (.slw), e.g. what it learned.")
    var weights: String?

    @Option(help: "For a .nir input: how spikes reset v (as simulate --reset).")
    var reset: String?

    @Option(help: "For a .nir input: what its numbers mean, nir or norse (as simulate --conventions).")
    var conventions: String?

    func run() throws {
        var spec = try loadNetwork(network, reset: reset, conventions: conventions)
        var outputs = Set<String>()
        let handBuilt = !spec.projections.isEmpty || spec.populations.contains {
            switch $0.model {
            case .lif, .izhikevich, .spikeTimes: true
            default: false
            }
        }
        if handBuilt {
            let net = try Network(spec)
            if let weights { try WeightStore.load(weights, into: net, layout: WeightLayout(net)) }
            let form: LayerForm.Result
            do { form = try LayerForm.layers(of: net, file: network) } catch { throw CommandError(error.description) }
            spec = form.network
            outputs = form.outputs
            for line in form.approximations { print("left out: \(line)") }
            print("made for dt = \(formatMs(net.dt)) ms: run it at this dt (simulate --dt, loop: {dt: …})")
        } else if weights != nil {
            throw ValidationError("--weights applies to hand-built networks (lif populations and projections); a network of layers has its weights in its file")
        }
        do { try NIRExport.write(spec, to: out, outputs: outputs) } catch {
            throw CommandError("nothing was exported.\n" + error.description)
        }
        print("wrote \(out) (\(spec.populations.count) populations)")
    }
}
