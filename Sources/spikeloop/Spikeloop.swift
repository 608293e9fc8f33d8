import ArgumentParser

@main
struct Spikeloop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spikeloop",
        abstract: "A real-time spiking-neural-network controller for robots.",
        discussion: """
        spikeloop encodes sensor streams into spikes, runs a spiking neural network on a fixed \
        tick, and decodes motor spikes into motor commands. Network files are YAML with unit \
        suffixes; see docs/network-file.md.
        """,
        version: SoftwareVersion.current,
        subcommands: [Run.self, Check.self, Status.self, Control.self, Sim.self, Inspect.self, Recover.self, Offline.self, Simulate.self, Bench.self]
    )
}

enum SoftwareVersion {
    static let current = "0.1.0"
}
