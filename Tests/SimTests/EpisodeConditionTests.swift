import Foundation
import Sim
import Testing

/// `simulator.initial_state` and `simulator.randomize` (docs/simulators.md),
/// through the runner the daemon's robot uses, with values drawn in the test.
@Suite struct EpisodeConditionTests {
    func robot(_ settings: [String]) throws -> RobotFile {
        var file = try RobotFile.load(path: robotsDirectory + "/cartpole.yaml")
        file.simulator = try file.simulator.setting(settings + ["fail_angle_deg=180", "fail_x=100"])
        return file
    }

    /// Each episode's first state (before any tick) and its recorded parameters,
    /// and the model each episode ran.
    func run(_ settings: [String], episodes: Int = 4)
        throws -> (first: [[Double]], results: [SimEpisodeResult], models: [(mass: Double, length: Double)]) {
        var options = SimOptions()
        options.duration = 0.05
        options.episodes = episodes
        options.seed = UInt64.random(in: 1...1_000_000)
        let file = try robot(settings)
        let sim = try SimRobot(model: try CartPole(parameters: file.simulator), robot: file, options: options)
        var first: [[Double]] = [], models: [(Double, Double)] = []
        var fresh = true
        let results = try sim.runLocal(reset: { _ in fresh = true }, control: { _, motors in
            if fresh {
                first.append([sim.model.state[0], sim.model.state[1], sim.model.state[2], sim.model.state[3]])
                models.append((sim.model.poleMass, sim.model.halfLength))
                fresh = false
            }
            motors[0] = 0
        })
        return (first, results, models)
    }

    @Test func initialStateSetsTheGivenComponentsAndDrawsTheRest() throws {
        let angle = Double.random(in: -0.2...0.2), rate = Double.random(in: -1...1)
        let drawn = try run(["init_angle=0.1", "init_x=0.5"])
        let set = try run(["init_angle=0.1", "init_x=0.5", "initial_state={angle: \(angle), rate: \(rate)}"])
        #expect(drawn.first.count == 4 && set.first.count == 4)
        for k in 0..<4 {
            #expect(set.first[k][2] == angle && set.first[k][3] == rate)
            #expect(set.first[k][1] == 0)
            // x is still drawn from the episode's seed (run() picks the seed anew, so compare ranges).
            #expect(abs(set.first[k][0]) <= 0.5 && abs(drawn.first[k][0]) <= 0.5)
        }
    }

    @Test func randomizedParametersAreDrawnPerEpisodeRecordedAndUsed() throws {
        let lo = Double.random(in: 0.05...0.2), hi = lo + Double.random(in: 0.1...0.5)
        let (first, results, models) = try run(["randomize={pole_mass: {uniform: [\(lo), \(hi)]}, pole_half_length: {uniform: [0.3, 0.9]}}"], episodes: 6)
        #expect(results.count == 6 && models.count == 6)
        for (r, m) in zip(results, models) {
            #expect(r.parameters.map(\.0) == ["pole_mass", "pole_half_length"])
            let mass = r.parameters[0].1, length = r.parameters[1].1
            #expect(mass >= lo && mass <= hi && length >= 0.3 && length <= 0.9)
            #expect(m.mass == mass && m.length == length, "the episode ran the parameters it reports")
        }
        #expect(Set(results.map { $0.parameters[0].1 }).count == 6, "each episode draws anew")
        // The parameters have a stream of their own: initial states are those of the same seeds without them.
        var options = SimOptions()
        options.duration = 0.01
        options.episodes = 6
        options.seed = results[0].seed
        let file = try robot([])
        let plain = try SimRobot(model: try CartPole(parameters: file.simulator), robot: file, options: options)
        var angles: [Double] = [], fresh = true
        _ = try plain.runLocal(reset: { _ in fresh = true }, control: { _, motors in
            if fresh { angles.append(plain.model.state[2]); fresh = false }
            motors[0] = 0
        })
        #expect(angles == first.map { $0[2] })
    }

    @Test func badConditionsAreRefusedNamingTheKey() throws {
        let cases: [(String, String)] = [
            ("initial_state={theta: 0.1}", "initial_state.theta: unknown; a cartpole starts from x, v, angle, rate"),
            ("initial_state={angle: fast}", "initial_state.angle: 'fast' is not a number"),
            ("initial_state=0.1", "initial_state: expected {component: value"),
            ("randomize={init_angle: {uniform: [0, 1]}}", "randomize.init_angle: not a parameter that can vary"),
            ("randomize={pole_mass: [0.1, 0.2]}", "randomize.pole_mass: expected {uniform: [lo, hi]}"),
            ("randomize={pole_mass: {uniform: [0.3, 0.2]}}", "randomize.pole_mass: expected {uniform: [lo, hi]} with lo ≤ hi"),
            ("randomize={pole_mass: {uniform: [-0.1, 0.2]}}", "randomize.pole_mass: the bound -0.1 makes no valid model"),
        ]
        for (setting, expected) in cases {
            expectRefused(try robot([setting]), expected, prefix: "--set \(setting.prefix { $0 != "=" })", setting)
        }
    }
}
