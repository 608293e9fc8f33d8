import CAllocationCounter
import Foundation
import Synchronization
import Neural
import Recording
import Testing
import Wire
@testable import Control
@testable import Daemon

/// Weights files against networks: what fits, what is refused and why, the
/// atomic save, and the hand-over to a running loop at a tick boundary.
@Suite struct WeightStoreTests {
    func network(seed: UInt64 = 3, post: Int = 4) throws -> Network {
        let cell = LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -65)
        return try Network(NetworkSpec(dt: 0.1, seed: seed, populations: [
            PopulationSpec(name: "a", size: 6, model: .lif(cell)),
            PopulationSpec(name: "b", size: post, model: .lif(cell)),
        ], projections: [
            ProjectionSpec(source: "a", target: "b", variable: .v, rule: .fixedProbability(0.5), weight: .uniform(1, 2)),
            ProjectionSpec(source: "b", target: "a", variable: .v, rule: .allToAll, weight: .constant(-1)),
        ]))
    }

    func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("slweights-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func savedWeightsLoadIntoAnEquallyBuiltNetwork() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = try network()
        let layout = WeightLayout(source)
        try source.setWeights(ofProjection: 1, (0..<source.synapseCount(ofProjection: 1)).map { Float($0) / 8 })
        let path = dir + "/w.slw"
        try WeightStore.writeAtomically(WeightStore.snapshot(of: source, layout: layout).encode(), to: path)

        let target = try network()
        let snapshot = try WeightStore.read(path, layout: WeightLayout(target))
        for p in try WeightStore.prepare(snapshot, for: target, file: path) { target.install(p) }
        #expect(target.weights(ofProjection: 0) == source.weights(ofProjection: 0))
        #expect(target.weights(ofProjection: 1) == (0..<24).map { Float($0) / 8 })
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["w.slw"])
    }

    @Test func aFileOfAnotherNetworkIsRefusedNamingWhatDiffers() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let net = try network()
        let path = dir + "/w.slw"
        func refusal(of other: Network) throws -> String {
            try WeightStore.writeAtomically(WeightStore.snapshot(of: other, layout: WeightLayout(other)).encode(), to: path)
            do {
                _ = try WeightStore.read(path, layout: WeightLayout(net))
                return "accepted"
            } catch { return error.description }
        }
        let n = net.synapseCount(ofProjection: 0)
        // Another seed draws another wiring; with the same synapse count only the hash can tell.
        var seed: UInt64 = 4
        var rewired = try network(seed: seed)
        while rewired.synapseCount(ofProjection: 0) != n { seed += 1; rewired = try network(seed: seed) }
        let hashes = (WeightLayout(rewired).projections[0].connectivityHash, WeightLayout(net).projections[0].connectivityHash)
        #expect(try refusal(of: rewired) == "weights file '\(path)' does not fit the network: projection 'a->b': connectivity hash \(hex64(hashes.0)) in the file, \(hex64(hashes.1)) in the network (wired differently: another seed, rule or size)")
        #expect(try refusal(of: network(post: 5)) == "weights file '\(path)' does not fit the network: projection 'a->b' connects 6 → 5 neurons in the file, 6 → 4 in the network")

        let cell = LIFParameters(tauM: 10, vRest: -70, vThreshold: -50, vReset: -65)
        let renamed = try Network(NetworkSpec(dt: 0.1, populations: [PopulationSpec(name: "a", size: 6, model: .lif(cell))],
                                              projections: [ProjectionSpec(name: "recurrent", source: "a", target: "a", variable: .v, rule: .allToAll, weight: .constant(1))]))
        #expect(try refusal(of: renamed) == "weights file '\(path)' does not fit the network: projection 'a->b' is not in the file (the file has: recurrent)")

        // A fitting file whose synapse count was edited (and the CRC resealed) is refused too.
        var snapshot = WeightStore.snapshot(of: net, layout: WeightLayout(net))
        snapshot.projections[0].weights.append(1)
        try WeightStore.writeAtomically(snapshot.encode(), to: path)
        #expect(throws: WeightStoreError("weights file '\(path)' does not fit the network: projection 'a->b' has \(n + 1) synapses in the file, \(n) in the network")) {
            try WeightStore.read(path, layout: WeightLayout(net))
        }
    }

    @Test func aCorruptFileIsRefusedWithTheSnapshotsMessage() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let net = try network()
        let path = dir + "/w.slw"
        var bytes = WeightStore.snapshot(of: net, layout: WeightLayout(net)).encode()
        bytes[bytes.count - 8] ^= 0x40  // inside the last weight
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(performing: { try WeightStore.read(path, layout: WeightLayout(net)) }, throws: { error in
            "\(error)".hasPrefix("\(path): CRC mismatch: the trailer says ")
        })
        #expect(throws: WeightStoreError("\(dir)/none.slw: cannot open: No such file or directory")) {
            try WeightStore.read(dir + "/none.slw", layout: WeightLayout(net))
        }
    }

    /// The rename fails after the temporary file was written and fsynced:
    /// the target keeps what it was and no temporary file is left.
    @Test func aFailedSaveLeavesTheTargetAndNoTemporaryFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let target = dir + "/w.slw"
        try FileManager.default.createDirectory(atPath: target + "/occupied", withIntermediateDirectories: true)
        #expect(throws: WeightStoreError("cannot save the weights to '\(target)': renaming '\(target).tmp-\(getpid())' over it: Is a directory")) {
            try WeightStore.writeAtomically([1, 2, 3], to: target)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["w.slw"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["occupied"])

        // The temporary file cannot be created: the previous complete file stays.
        let file = dir + "/v.slw"
        try WeightStore.writeAtomically([7, 7], to: file)
        try FileManager.default.createDirectory(atPath: WeightStore.temporaryPath(for: file), withIntermediateDirectories: false)
        #expect(throws: WeightStoreError("cannot save the weights to '\(file)': creating '\(file).tmp-\(getpid())': Is a directory")) {
            try WeightStore.writeAtomically([1, 2, 3], to: file)
        }
        #expect(FileManager.default.contents(atPath: file) == Data([7, 7]))
    }

    @Test func leftoversOfCutSavesAreRemoved() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["w.slw", "w.slw.tmp-123", "w.slw.tmp-9", "x.slw.tmp-1"] {
            FileManager.default.createFile(atPath: "\(dir)/\(name)", contents: Data([1]))
        }
        #expect(WeightStore.removeLeftovers(of: dir + "/w.slw") == ["w.slw.tmp-123", "w.slw.tmp-9"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["w.slw", "x.slw.tmp-1"])
    }

    /// A control thread loads and copies weights while the loop ticks through
    /// real sockets: the loop takes them at a tick boundary without allocating.
    @Test(.enabled(if: optimised, "allocation counts are meaningful in optimised builds: swift test -c release"))
    func theLoopTakesWeightsAtATickBoundaryWithoutAllocating() throws {
        let config = try ControllerConfiguration.load(path: fixtures.appendingPathComponent("controller.yaml").path)
        let shared = LoopShared()
        let loop = TickLoop(config: config, controller: try Controller(config), shared: shared,
                            statistics: StatisticsExchange(), clock: MonotonicClock())
        let net = loop.controller.network
        let layout = WeightLayout(net)
        // New weights for every projection: constant ones get per-synapse values.
        let snapshot = layout.snapshot(weights: layout.projections.map { p in (0..<p.synapseCount).map { Float($0 % 7) - 3 } })
        let prepared = try WeightStore.prepare(snapshot, for: net, file: "test")

        let context = try ZMQContext()
        let rep = try ZMQSocket(context, .rep)
        try rep.bind("tcp://127.0.0.1:*")
        let req = try ZMQSocket(context, .req)
        try req.connect(try rep.lastEndpoint)
        let reply = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 16)
        defer { reply.deallocate() }
        let encoded = encodedArmFrames(layoutHash: loop.layout.layoutHash, count: 100) { i in (Float(sin(Double(i) * 0.1)), 0.3) }
        /// One lockstep tick; returns the loop thread's allocations in it.
        func tick(_ i: Int) throws -> UInt64 {
            try encoded[i % 100].withUnsafeBytes { _ = try req.send($0, .wait) }
            sl_alloc_counting_begin()
            try loop.serveOne(rep)
            let n = sl_alloc_counting_end()
            _ = try req.receive(into: reply, .wait)
            return n
        }
        for i in 0..<1000 { _ = try tick(i) }  // warm-up: libzmq's pipes reach their steady size

        final class ControlSide: @unchecked Sendable {
            let done = Atomic<Bool>(false)
            var installed = false
            var copied: [[Float]]?
        }
        let side = ControlSide()
        let counts = layout.projections.map(\.synapseCount)
        let control = Thread {
            side.installed = shared.weightExchange.install(prepared, shared: shared, timeoutNs: 5_000_000_000)
            side.copied = shared.weightExchange.copy(synapseCounts: counts, shared: shared, timeoutNs: 5_000_000_000)
            side.done.store(true, ordering: .releasing)
        }
        control.start()
        var allocations: UInt64 = 0, ticks = 0
        while !side.done.load(ordering: .acquiring) {
            allocations += try tick(ticks)
            ticks += 1
        }
        #expect(side.installed)
        #expect(allocations == 0, "\(allocations) heap allocations on the loop thread in \(ticks) ticks")
        #expect(side.copied == snapshot.projections.map(\.weights))
        #expect(layout.projections.indices.map { net.weights(ofProjection: $0) } == snapshot.projections.map(\.weights))
    }
    /// No loop at a tick boundary (stalled or stopped): the request is
    /// withdrawn, and a boundary reached later changes nothing.
    @Test func aHandOverNobodyTakesIsWithdrawn() throws {
        let net = try network()
        let shared = LoopShared()
        let before = net.weights(ofProjection: 1)
        let prepared = try net.prepareWeights(ofProjection: 1, before.map { $0 * 2 })
        #expect(!shared.weightExchange.install([prepared], shared: shared, timeoutNs: 20_000_000))
        #expect(shared.takeRequests().contains(.weights))
        shared.weightExchange.serve(net)
        #expect(net.weights(ofProjection: 1) == before)
    }
}
