import Control
import Neural
import Recording

/// The channels of a session, as recorded (MCAP) and as streamed live
/// (telemetry): the spikeloop.v1 messages, Foxglove's log, and the values by
/// name whose schemas come from the robot description and the network.
public struct SessionChannels: Sendable {
    public typealias Channel = SessionSchema.Channel

    /// In a fixed order: a channel's index is its place here.
    public let channels: [Channel]
    let sensorsNamed: NamedValues
    let motorsNamed: NamedValues
    let spikeCounts: NamedValues
    let probesNamed: NamedValues?

    /// Topics of the values by name.
    public static let sensorsNamedTopic = "/sensors/named"
    public static let motorsNamedTopic = "/motors/named"
    public static let spikeCountsTopic = "/spikes/counts"
    public static let probesNamedTopic = "/probes/named"

    init(robot: RobotDescription, network: Network, probes: [SessionTap.ResolvedProbe]) {
        let package = "spikeloop.robot.\(NamedValues.identifier(robot.name))"
        sensorsNamed = NamedValues(package: package, message: "Sensors", names: robot.sensors.map(\.name), kind: .float)
        motorsNamed = NamedValues(package: package, message: "Motors",
                                  names: robot.motors.map { "decoded.\($0.name)" } + robot.motors.map { "sent.\($0.name)" }, kind: .float)
        spikeCounts = NamedValues(package: package, message: "SpikeCounts", names: network.populationNames, kind: .count)
        let probeNames = probes.flatMap { p in p.neurons.map { "\(p.name).\(p.variable).n\($0)" } }
        probesNamed = probes.isEmpty ? nil : NamedValues(package: package, message: "Probes", names: probeNames, kind: .float)

        var list = SessionSchema.topics.filter { $0 != SessionSchema.probes || !probes.isEmpty }.map(Channel.init)
        func units(_ paths: [String], _ units: [String]) -> [String: String] {
            Dictionary(zip(paths.map { "unit.\($0)" }, units), uniquingKeysWith: { a, _ in a })
        }
        list.append(Channel(topic: Self.sensorsNamedTopic, schemaName: sensorsNamed.messageName, schema: sensorsNamed.descriptorSet,
                            metadata: units(sensorsNamed.fieldPaths, robot.sensors.map(\.unit)).merging([
                                "description": "every accepted sensor frame's values by the robot's channel names",
                            ]) { a, _ in a }))
        list.append(Channel(topic: Self.motorsNamedTopic, schemaName: motorsNamed.messageName, schema: motorsNamed.descriptorSet,
                            metadata: units(motorsNamed.fieldPaths, robot.motors.map(\.unit) + robot.motors.map(\.unit)).merging([
                                "description": "each tick's command by motor name: decoded (before the safety filter) and sent",
                            ]) { a, _ in a }))
        list.append(Channel(topic: Self.spikeCountsTopic, schemaName: spikeCounts.messageName, schema: spikeCounts.descriptorSet,
                            metadata: ["description": "spikes of each population during each tick that stepped the network"]))
        if let probesNamed {
            let probeUnits = probes.flatMap { p in p.neurons.map { _ in p.variable == "u" ? "mV/ms" : "mV" } }
            list.append(Channel(topic: Self.probesNamedTopic, schemaName: probesNamed.messageName, schema: probesNamed.descriptorSet,
                                metadata: units(probesNamed.fieldPaths, probeUnits).merging([
                                    "description": "probed state variables by population, variable and neuron (n3: neuron 3), one message per network step",
                                ]) { a, _ in a }))
        }
        channels = list
    }

    /// A channel's index by topic.
    func index(_ topic: String) -> Int? { channels.firstIndex { $0.topic == topic } }
}
