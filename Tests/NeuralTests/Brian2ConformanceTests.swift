import Foundation
import NetworkFile
import Testing
@testable import Neural

/// Our engine against Brian2 2.9 (`method='exact'`), spike for spike.
///
/// `Tests/brian2/make_fixtures.py` defines each network once, runs it in Brian2
/// and writes both our network file and Brian2's spikes; CI reruns it first.
@Suite struct Brian2ConformanceTests {
    static let directory = fixturesDirectory.appendingPathComponent("brian2")

    static var cases: [(name: String, durationMs: Double)] {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("index.csv"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").dropFirst().compactMap { line in
            let f = line.split(separator: ",")
            guard f.count == 2, let d = Double(f[1]) else { return nil }
            return (String(f[0]), d)
        }
    }

    @Test func atLeastSixNetworks() {
        #expect(Self.cases.count >= 6)
    }

    /// In both precisions: the fixtures keep clear of threshold near-misses,
    /// so float32 must match too (random networks without that guard:
    /// Tests/brian2/precision_check.py).
    @Test(arguments: cases.map(\.name), Precision.allCases)
    func sameSpikesAsBrian2(name: String, precision: Precision) throws {
        let duration = Self.cases.first { $0.name == name }!.durationMs
        var spec = try NetworkFile.load(path: Self.directory.appendingPathComponent("\(name).yaml").path)
        spec.precision = precision
        let net = try Network(spec)
        let ours = runSpikes(net, steps: Int((duration / spec.dt).rounded())).sorted()

        let csv = try String(contentsOf: Self.directory.appendingPathComponent("\(name).spikes.csv"), encoding: .utf8)
        let brian = csv.split(separator: "\n").dropFirst().map { line -> Spike in
            let f = line.split(separator: ",")
            return Spike(step: Int(f[0])!, population: String(f[1]), neuron: Int(f[2])!)
        }.sorted()

        #expect(brian.count > 0)
        #expect(ours.count == brian.count, "\(name): \(ours.count) spikes, Brian2 \(brian.count)")
        if let i = (0..<min(ours.count, brian.count)).first(where: { ours[$0] != brian[$0] }) {
            Issue.record("\(name): first difference at spike \(i): ours \(ours[i]), Brian2 \(brian[i])")
        }
        try expectBrian2Weights(name: name, net)
    }

    /// Plastic networks: every final weight within 1e-5 of Brian2's, relative
    /// (absolute 1e-8 mV for weights Brian2 ends within 1e-3 mV of zero).
    func expectBrian2Weights(name: String, _ net: Network) throws {
        let url = Self.directory.appendingPathComponent("\(name).weights.csv")
        guard FileManager.default.fileExists(atPath: url.path) else { return }
        var ours: [String: Float] = [:]
        for (p, projection) in net.projectionNames.enumerated() {
            for ((pre, post), w) in zip(net.connections(ofProjection: p), net.weights(ofProjection: p)) {
                ours["\(projection),\(pre),\(post)"] = w
            }
        }
        let rows = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").dropFirst()
        #expect(rows.count > 0)
        var worst = 0.0
        for row in rows {
            let f = row.split(separator: ",")
            let key = f[0...2].joined(separator: ","), brian = Double(f[3])!
            guard let w = ours[key] else {
                Issue.record("\(name): Brian2 has synapse \(key), we do not")
                continue
            }
            let error = abs(Double(w) - brian) / max(abs(brian), 1e-3)
            worst = max(worst, error)
            #expect(error <= 1e-5, "\(name): weight \(key): ours \(w) mV, Brian2 \(brian) mV")
        }
        print("\(name): \(rows.count) plastic weights, largest difference from Brian2 \(worst) (relative)")
    }
}
