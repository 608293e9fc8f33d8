import Foundation
import Neural
import NetworkFile
import Testing

/// A valid network that each bad case below breaks in one place.
let validNetwork = """
name: test
dt: 0.1 ms
seed: 1
populations:
  - name: exc
    model: lif
    size: 10
    params: {tau_m: 10 ms, v_rest: -70 mV, v_threshold: -50 mV, v_reset: -65 mV, t_ref: 2 ms, tau_e: 5 ms}
  - name: noise
    model: poisson
    size: 5
    params: {rate: 20 Hz}
projections:
  - from: noise
    to: exc
    target: g_e
    connect: {rule: fixed_probability, p: 0.5}
    weight: 1 mV
    delay: 1 ms
"""

func problems(_ yaml: String) -> [String] {
    do {
        _ = try NetworkFile.parse(yaml: yaml, file: "net.yaml")
        return []
    } catch let error as ConfigurationError {
        return error.problems.map(\.description)
    } catch {
        return ["unexpected \(error)"]
    }
}

@Suite struct NetworkFileTests {
    @Test func validFileLoads() throws {
        let spec = try NetworkFile.parse(yaml: validNetwork, file: "net.yaml")
        #expect(spec.populations.map(\.name) == ["exc", "noise"])
        #expect(spec.dt == 0.1)
        guard case .lif(let p) = spec.populations[0].model else { Issue.record("not lif"); return }
        #expect(p.tauM == 10 && p.vRest == -70 && p.tRef == 2 && p.tauE == 5)
        #expect(spec.projections[0].delay == .constant(1))
        #expect(spec.projections[0].rule == .fixedProbability(0.5))
    }

    @Test func precisionDefaultsToFloat32() throws {
        #expect(try NetworkFile.parse(yaml: validNetwork, file: "net.yaml").precision == .float32)
        let wide = validNetwork.replacingFirst("seed: 1", with: "seed: 1\nprecision: float64")
        #expect(try NetworkFile.parse(yaml: wide, file: "net.yaml").precision == .float64)
    }

    @Test func exampleNetworksLoad() throws {
        let root = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        for name in ["seed", "cuba", "izhikevich"] {
            let spec = try NetworkFile.load(path: "/\(root)/Config/examples/\(name).yaml")
            #expect(spec.name == name)
        }
    }

    /// Each bad file is refused with the file, the line, the key path and what is valid.
    @Test(arguments: [
        ("unknown model",
         ("model: lif", "model: lfi"),
         ["net.yaml:6: populations[0].model: 'lfi' is not valid; valid: lif, izhikevich, poisson, spike_times, input, analog_input, layer"]),
        ("missing parameter",
         ("tau_m: 10 ms, ", ""),
         ["net.yaml:8: populations[0].params.tau_m: missing; lif needs tau_m, v_rest, v_threshold and v_reset, e.g. tau_m: 10 ms"]),
        ("missing unit",
         ("v_rest: -70 mV", "v_rest: -70"),
         ["net.yaml:8: populations[0].params.v_rest: '-70' has no unit; a voltage needs one of V, mV, uV, e.g. '-70 mV'"]),
        ("wrong unit",
         ("tau_m: 10 ms", "tau_m: 10 mV"),
         ["net.yaml:8: populations[0].params.tau_m: 'mV' is not a unit of time; valid: s, ms, us"]),
        ("probability above one",
         ("p: 0.5", "p: 1.5"),
         ["net.yaml:17: projections[0].connect.p: 1.5 is outside [0, 1]"]),
        ("negative probability",
         ("p: 0.5", "p: -0.1"),
         ["net.yaml:17: projections[0].connect.p: -0.1 is outside [0, 1]"]),
        ("unknown population",
         ("to: exc", "to: excitatory"),
         ["net.yaml:15: projections[0].to: no population named 'excitatory'; defined: exc, noise"]),
        ("negative delay",
         ("delay: 1 ms", "delay: -1 ms"),
         ["net.yaml:19: projections[0].delay: '-1 ms' is negative; must be ≥ 0"]),
        ("unknown key",
         ("    size: 5", "    sise: 5"),
         ["net.yaml:11: populations[1].sise: unknown key 'sise'; valid keys: name, model, size, params, init, inputs",
          "net.yaml:9: populations[1].size: missing; the number of neurons"]),
        ("target the model lacks",
         ("target: g_e", "target: g_x"),
         ["net.yaml:16: projections[0].target: 'g_x' is not valid; valid: v, g_e, g_i"]),
        ("synaptic variable without its time constant",
         (", tau_e: 5 ms}", "}"),
         ["net.yaml:16: projections[0].target: population 'exc' has no tau_e; add tau_e to its params to use g_e"]),
        ("a spike source as target",
         ("to: exc", "to: noise"),
         ["net.yaml:16: projections[0].target: a poisson population cannot be a target of 'g_e'; valid: none (it is a spike source)"]),
        ("reset above threshold",
         ("v_reset: -65 mV", "v_reset: -45 mV"),
         ["net.yaml:8: populations[0].params.v_reset: must be below v_threshold (-50 mV), or the neuron would fire again right after its refractory period"]),
        ("size zero",
         ("size: 10", "size: 0"),
         ["net.yaml:7: populations[0].size: 0 is too small; must be ≥ 1"]),
        ("unknown precision",
         ("seed: 1", "seed: 1\nprecision: double"),
         ["net.yaml:4: precision: 'double' is not valid; valid: float32, float64"]),
    ] as [(String, (String, String), [String])])
    func badFileIsRefused(name: String, edit: (String, String), expected: [String]) {
        #expect(validNetwork.contains(edit.0), "\(name): the edit does not apply")
        let found = problems(validNetwork.replacingFirst(edit.0, with: edit.1))
        #expect(found == expected, "\(name)")
    }

    @Test func everyProblemIsReportedAtOnce() {
        let yaml = validNetwork.replacingFirst("model: lif", with: "model: lfi")
            .replacingFirst("p: 0.5", with: "p: 2")
            .replacingFirst("delay: 1 ms", with: "delay: 1")
        #expect(problems(yaml).count == 3)
    }

    @Test func notYAML() {
        let p = problems("populations: [unclosed")
        #expect(p.count == 1)
        #expect(p[0].hasPrefix("net.yaml: not valid YAML"))
    }

    @Test func missingFileNamesTheFile() {
        #expect(throws: ConfigurationError.self) { try NetworkFile.load(path: "/nonexistent/net.yaml") }
    }

    @Test func quantities() throws {
        #expect(try parseQuantity("10 ms", .time).get() == 10)
        #expect(try parseQuantity("1s", .time).get() == 1000)
        #expect(try parseQuantity("250 us", .time).get() == 0.25)
        #expect(try parseQuantity("-70 mV", .voltage).get() == -70)
        #expect(try parseQuantity("1e-3 V", .voltage).get() == 1)
        #expect(try parseQuantity("500 pA", .current).get() == 0.5)
        #expect(try parseQuantity("100 Mohm", .resistance).get() == 100)
        #expect(try parseQuantity("1 kHz", .rate).get() == 1000)
        #expect(parseQuantity("10", .time) == .failure(.missingUnit))
        #expect(parseQuantity("ten ms", .time) == .failure(.notANumber))
        #expect(parseQuantity("10 mV", .time) == .failure(.wrongUnit("mV")))
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let r = range(of: target) else { return self }
        return replacingCharacters(in: r, with: replacement)
    }
}

/// A network too large for the machine is refused from its specification,
/// with the estimate, before anything is allocated.
@Suite struct NetworkSizeTests {
    func problems(_ yaml: String) -> [String] {
        do {
            _ = try NetworkFile.parse(yaml: yaml, file: "n.yaml")
            return []
        } catch let e as ConfigurationError {
            return e.problems.map(\.description)
        } catch {
            return ["\(error)"]
        }
    }

    @Test func billionsOfSynapsesAreRefusedWithTheEstimate() {
        let found = problems("""
            populations:
              - {name: a, model: poisson, size: 2000000, params: {rate: 10 Hz}}
              - {name: b, model: lif, size: 2000000, params: {tau_m: 10 ms, v_rest: -70 mV, v_threshold: -50 mV, v_reset: -70 mV}}
            projections:
              - {from: a, to: b, target: v, connect: {rule: fixed_probability, p: 0.5}, weight: 1 mV}
            """)
        #expect(found.count == 1)
        #expect(found.first?.contains("the network needs about ") == true, "\(found)")
        #expect(found.first?.contains("4.0 million neurons at ~64 B, 2000.0 billion synapses at ~10 B") == true, "\(found)")
    }

    @Test func aPopulationBeyond32BitIndicesIsRefused() {
        let found = problems("""
            populations:
              - {name: a, model: input, size: 1000000000000}
            """)
        #expect(found == ["n.yaml:2: populations[0].size: 1000000000000 is too large; must be ≤ 2147483647"])
    }

    @Test func estimateCountsEachRule() {
        let spec = NetworkSpec(populations: [
            PopulationSpec(name: "a", size: 100, model: .input),
            PopulationSpec(name: "b", size: 50, model: .input),
        ], projections: [
            ProjectionSpec(source: "a", target: "b", variable: .v, rule: .allToAll, weight: .constant(1)),
            ProjectionSpec(source: "a", target: "a", variable: .v, rule: .allToAll, excludeSelf: true, weight: .constant(1)),
            ProjectionSpec(source: "a", target: "b", variable: .v, rule: .fixedProbability(0.1), weight: .constant(1)),
            ProjectionSpec(source: "a", target: "b", variable: .v, rule: .fixedIndegree(3), weight: .constant(1)),
            ProjectionSpec(source: "a", target: "b", variable: .v, rule: .oneToOne, weight: .constant(1),
                           plasticity: .stdp(STDPRule(aPre: 0.01, aPost: -0.01, tauPre: 20, tauPost: 20, wMin: 0, wMax: 2))),
        ])
        #expect(spec.sizeEstimate.neurons == 150)
        #expect(spec.sizeEstimate.synapses == 5000 + 9900 + 500 + 150 + 50)
        // Plastic synapses cost more: counted apart.
        #expect(spec.sizeEstimate.plasticSynapses == 50)
        let expectedBytes: Double = 150 * 64 + 15_600 * 10 + 50 * 36
        #expect(spec.sizeEstimate.bytes == expectedBytes)
    }
}

@Suite struct YAMLErrorTests {
    @Test func aDuplicatedKeyIsNamedWithItsLineNotTheWholeFile() {
        let filler = String(repeating: "# a long file\n", count: 10_000)
        do {
            _ = try NetworkFile.parse(yaml: "dt: 0.1 ms\ndt: 0.2 ms\npopulations: []\n" + filler, file: "n.yaml")
            Issue.record("accepted")
        } catch let e as ConfigurationError {
            #expect(e.problems.map(\.description) == ["n.yaml:1: the key 'dt' appears more than once in one mapping (first here); keep one"])
        } catch {
            Issue.record("\(error)")
        }
    }
}

/// Times libFuzzer's harness showed trapping in a conversion to an integer
/// (Fuzz/Regressions/fuzz-network-file): each is refused or means what it says.
@Suite struct NetworkFuzzRegressionTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/Regressions/fuzz-network-file")

    func parse(_ name: String) throws -> NetworkSpec {
        let path = Self.folder.appendingPathComponent(name).path
        return try NetworkFile.parse(yaml: String(contentsOfFile: path, encoding: .utf8), file: name)
    }

    @Test func aDelayOf1e300msIsRefusedWithItsStepCount() {
        do {
            _ = try parse("fuzz-network-file-manual-delay-1e300ms.yaml")
            Issue.record("accepted")
        } catch {
            #expect("\(error)".contains("delay 1e+300 ms is 1e+301 steps; at most 65535 steps are allowed"), "\(error)")
        }
    }

    @Test func aRefractoryPeriodBeyond32BitStepsIsForever() throws {
        let network = try Network(try parse("fuzz-network-file-manual-t-ref-1e10s.yaml"))
        #expect(network.neuronCount == 1)
    }

    @Test func aSpikeTimeNeverReachedIsNeverFired() throws {
        let network = try Network(try parse("fuzz-network-file-manual-spike-time-1e300s.yaml"))
        for _ in 0..<100 { network.step() }
        #expect(network.spikes(ofPopulation: 0).count == 0)
    }
}

/// `plasticity:` on a projection (docs/plasticity.md).
@Suite struct PlasticityFileTests {
    static let plastic = validNetwork + "\n" + """
        plasticity:
          rule: stdp
          a_pre: 0.01 mV
          a_post: -0.0105 mV
          tau_pre: 20 ms
          tau_post: 20 ms
          w_min: 0 mV
          w_max: 2 mV

    """

    @Test func aRuleIsRead() throws {
        let spec = try NetworkFile.parse(yaml: Self.plastic + "      pairing: nearest\n      update: multiplicative\n", file: "net.yaml")
        #expect(spec.projections[0].plasticity == .stdp(STDPRule(aPre: 0.01, aPost: -0.0105, tauPre: 20, tauPost: 20,
                                                                   wMin: 0, wMax: 2, pairing: .nearest, update: .multiplicative)))
        let defaults = try NetworkFile.parse(yaml: Self.plastic, file: "net.yaml")
        guard case .stdp(let rule)? = defaults.projections[0].plasticity else { Issue.record("no rule"); return }
        #expect(rule.pairing == .allToAll && rule.update == .additive)
        #expect(try NetworkFile.parse(yaml: validNetwork, file: "net.yaml").projections[0].plasticity == nil)
    }

    @Test(arguments: [
        ("rule: stdp", "rule: hebb", "net.yaml:21: projections[0].plasticity.rule: 'hebb' is not valid; valid: stdp, reward_stdp"),
        ("tau_pre: 20 ms", "tau_pre: 0 ms", "net.yaml:24: projections[0].plasticity.tau_pre: must be greater than zero, e.g. '10 ms'"),
        ("tau_post: 20 ms", "tau_post: 20", "net.yaml:25: projections[0].plasticity.tau_post: '20' has no unit; a time needs one of s, ms, us, e.g. '10 ms'"),
        ("a_pre: 0.01 mV", "a_pre: 0.01 ms", "net.yaml:22: projections[0].plasticity.a_pre: 'ms' is not a unit of voltage; valid: V, mV, uV"),
        ("w_max: 2 mV", "w_max: -1 mV", "net.yaml:27: projections[0].plasticity.w_max: w_max -1 mV is below w_min 0 mV"),
        ("w_max: 2 mV", "w_max: 0.5 mV", "net.yaml:18: projections[0].weight: initial weights lie in [1, 1] mV, outside the plasticity's [w_min, w_max] = [0, 0.5] mV"),
        ("      w_min: 0 mV\n", "", "net.yaml:21: projections[0].plasticity.w_min: missing; the smallest weight, e.g. '0 mV'"),
    ])
    func aBadRuleIsRefused(old: String, new: String, expected: String) {
        #expect(Self.plastic.contains(old))
        #expect(problems(Self.plastic.replacingFirst(old, with: new)) == [expected])
    }

    @Test func rewardSTDPIsRead() throws {
        let yaml = Self.plastic.replacingFirst("rule: stdp", with: "rule: reward_stdp")
            + "      tau_c: 1 s\n      tau_d: 200 ms\n      baseline: 2 Hz\n"
        let spec = try NetworkFile.parse(yaml: yaml, file: "net.yaml")
        guard case .rewardSTDP(let rule)? = spec.projections[0].plasticity else { Issue.record("not reward_stdp"); return }
        #expect(rule.tauC == 1000 && rule.tauD == 200 && abs(rule.baseline - 0.002) < 1e-15 && rule.timing.aPre == 0.01)
        #expect(rule.baselineTau == nil)
        let following = try NetworkFile.parse(yaml: yaml + "      baseline_tau: 10 s\n", file: "net.yaml")
        guard case .rewardSTDP(let f)? = following.projections[0].plasticity else { Issue.record("not reward_stdp"); return }
        #expect(f.baselineTau == 10_000)
        #expect(problems(yaml + "      baseline_tau: -1 s\n").count == 1)
        #expect(problems(Self.plastic + "      baseline_tau: 1 s\n")
            == ["net.yaml:28: projections[0].plasticity.baseline_tau: baseline_tau belongs to rule reward_stdp, not stdp"])
        #expect(problems(Self.plastic.replacingFirst("rule: stdp", with: "rule: reward_stdp")) == [
            "net.yaml:21: projections[0].plasticity.tau_c: missing; the eligibility trace's time constant, e.g. '1 s'",
            "net.yaml:21: projections[0].plasticity.tau_d: missing; the reward signal's time constant, e.g. '200 ms'",
        ])
        #expect(problems(Self.plastic + "      tau_c: 1 s\n") == ["net.yaml:28: projections[0].plasticity.tau_c: tau_c belongs to rule reward_stdp, not stdp"])
    }

    @Test func unknownPairingAndKeysAreNamed() {
        let found = problems(Self.plastic + "      pairing: closest\n      tau: 3 ms\n")
        #expect(found.contains("net.yaml:28: projections[0].plasticity.pairing: 'closest' is not valid; valid: all_to_all, nearest"))
        #expect(found.contains { $0.contains("unknown key 'tau'") })
    }
}
