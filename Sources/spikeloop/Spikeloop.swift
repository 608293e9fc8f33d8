import ArgumentParser
import Control
import NIR

@main
struct Spikeloop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spikeloop",
        abstract: "A real-time spiking-neural-network controller for robots.",
        discussion: """
        spikeloop encodes sensor streams into spikes, runs a spiking neural network on a fixed \
        tick, decodes motor spikes into motor commands, and exchanges frames and commands with \
        a robot or simulator over ZeroMQ (protocol spikeloop.v1).

        A session:
          spikeloop check --config Config/cartpole.yaml     # lists every problem
          spikeloop run   --config Config/cartpole.yaml &   # the daemon
          spikeloop sim   --robot Robots/cartpole.yaml --endpoint tcp://127.0.0.1:5571
          spikeloop status --endpoint tcp://127.0.0.1:5572

        Configuration files are YAML with a unit on every physical value; see README.md and docs/.
        """,
        version: SoftwareVersion.current,
        subcommands: [Run.self, Check.self, Status.self, Control.self, Sim.self, Inspect.self, Replay.self, Recover.self, Offline.self, Simulate.self, Import.self, Export.self, Convert.self, Bench.self, NIRProbe.self]
    )
}


extension Spikeloop {
    static func main() {
        // libhdf5 reads NIR files in a child process only (NIRProbe): a malformed file is an error, not a crash.
        HDF5Tree.isolatedReader = NIRProbe.read
        main(nil)
    }
}
