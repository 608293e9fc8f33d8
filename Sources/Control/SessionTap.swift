import Neural
import Synchronization
import Wire
#if canImport(Glibc)
import Glibc
#endif

/// The loop's side of session recording: copies what a tick saw and did into
/// the record queue, with preallocated buffers only, so recording and
/// telemetry add no allocation, lock or system call to the tick. The session
/// stream's thread turns the records into messages (`SessionStream`).
///
/// Recording switches on and off at tick boundaries (`latch()`), so a session
/// holds whole ticks.
public final class SessionTap: StepTap, @unchecked Sendable {
    public enum Kind: UInt32 {
        case tick = 1, frame = 2, start = 3
    }

    public let queue: RecordQueue
    /// Wanted by the daemon; the loop follows at its next tick boundary.
    public let requested = Atomic<Bool>(false)
    /// What the loop follows now (the recorder waits for it before closing).
    public let active = Atomic<Bool>(false)
    /// Records refused because the queue was full, since start.
    public let dropped = Atomic<Int64>(0)
    /// Spikes left out because a tick had more than the scratch holds.
    public let truncated = Atomic<Int64>(0)
    /// Lockstep: a full queue makes the loop wait for the recorder instead
    /// of dropping (there is no deadline to keep; the simulator waits too).
    let waitsForSpace: Bool
    /// Set while a recording is open (or about to open) and its consumer
    /// drains the queue; the loop waits only then (telemetry alone drops).
    public let consumerAlive = Atomic<Bool>(false)
    /// Whether the ticks since the last boundary are recorded (loop side).
    private(set) var isOn = false

    public let probes: [ResolvedProbe]
    public struct ResolvedProbe: Sendable {
        public var population: Int
        public var name: String
        public var variable: String
        public var neurons: [Int]
    }

    private let populationCount: Int
    private let stepsPerTick: Int
    /// Per population: spikes of the tick as (neuron, step offset) pairs.
    private let spikeStorage: [UnsafeMutablePointer<UInt32>]
    private let spikeCapacity: [Int]
    private var spikeCount: [Int]
    private let probeValues: UnsafeMutablePointer<Float>
    private let probeValueCount: Int

    init(network: Network, stepsPerTick: Int, probes: [ControllerConfiguration.Recording.Probe], queueBytes: Int,
         waitsForSpace: Bool) {
        queue = RecordQueue(capacity: queueBytes)
        self.waitsForSpace = waitsForSpace
        self.stepsPerTick = stepsPerTick
        populationCount = network.populationNames.count
        var storage: [UnsafeMutablePointer<UInt32>] = []
        var capacity: [Int] = []
        for p in 0..<populationCount {
            // Every neuron spiking on every other step is far beyond any
            // controller; beyond that the tick's spikes are truncated and counted.
            let c = max(64, min(network.size(ofPopulation: p) * stepsPerTick / 2 + 64, 1 << 21))
            storage.append(.allocate(capacity: 2 * c))
            capacity.append(c)
        }
        spikeStorage = storage
        spikeCapacity = capacity
        spikeCount = Array(repeating: 0, count: populationCount)
        self.probes = probes.compactMap { p in
            network.populationIndex(named: p.population).map { ResolvedProbe(population: $0, name: p.population, variable: p.variable, neurons: p.neurons) }
        }
        probeValueCount = self.probes.reduce(0) { $0 + $1.neurons.count } * stepsPerTick
        probeValues = .allocate(capacity: max(1, probeValueCount))
        probeValues.initialize(repeating: 0, count: max(1, probeValueCount))
    }

    deinit {
        for s in spikeStorage { s.deallocate() }
        probeValues.deallocate()
    }

    /// At a tick boundary: follows the daemon's wish (``isOn``).
    @inline(__always)
    func latch(controller: Controller, simTime: Int64, clock: TickClock) {
        let want = requested.load(ordering: .relaxed)
        if want != isOn {
            isOn = want
            active.store(isOn, ordering: .releasing)
            controller.stepTap = isOn ? self : nil
            if isOn {
                if let p = reserve(32, .start) {
                    var w = RecordWriter(p)
                    w.put(clock.now())
                    w.put(controller.ticks)
                    w.put(controller.network.stepIndex)
                    w.put(simTime)
                    queue.commit()
                } else {
                    dropped.add(1, ordering: .relaxed)
                }
            }
        }
        if isOn { for p in 0..<populationCount { spikeCount[p] = 0 } }
    }

    // MARK: - StepTap

    public func afterStep(_ network: Network, offset: Int) {
        for p in 0..<populationCount {
            let spikes = network.spikes(ofPopulation: p)
            guard spikes.count > 0 else { continue }
            var n = spikeCount[p]
            let room = spikeCapacity[p] - n
            let take = min(room, spikes.count)
            if take < spikes.count { truncated.add(Int64(spikes.count - take), ordering: .relaxed) }
            let out = spikeStorage[p]
            for i in 0..<take {
                out[2 * n] = spikes.indices[i]
                out[2 * n + 1] = UInt32(offset)
                n += 1
            }
            spikeCount[p] = n
        }
        var v = offset * (probeValueCount / max(1, stepsPerTick))
        for probe in probes {
            for neuron in probe.neurons {
                probeValues[v] = Float(network.value(population: probe.population, variable: probe.variable, neuron: neuron) ?? .nan)
                v += 1
            }
        }
    }

    // MARK: - Records

    /// Space for a record: at once, or (lockstep) once the recorder made
    /// room; nil means it is dropped (the caller counts it).
    @inline(__always)
    private func reserve(_ size: Int, _ kind: Kind) -> UnsafeMutableRawPointer? {
        if let p = queue.reserve(size, kind: kind.rawValue) { return p }
        return waitsForSpace ? reserveWaiting(size, kind) : nil
    }

    @inline(never)
    private func reserveWaiting(_ size: Int, _ kind: Kind) -> UnsafeMutableRawPointer? {
        guard RecordQueue.total(size) <= queue.capacity else { return nil }  // could never fit
        while consumerAlive.load(ordering: .acquiring) {
            var pause = timespec(tv_sec: 0, tv_nsec: 100_000)
            nanosleep(&pause, nil)
            if let p = queue.reserve(size, kind: kind.rawValue) { return p }
        }
        return nil
    }

    /// A sensor frame as received, with its arrival time (while ``isOn``).
    @inline(__always)
    func recordFrame(_ bytes: UnsafeRawBufferPointer, at time: Int64) {
        guard let p = reserve(8 + bytes.count, .frame) else {
            dropped.add(1, ordering: .relaxed)
            return
        }
        var w = RecordWriter(p)
        w.put(time)
        if let base = bytes.baseAddress { w.put(base.assumingMemoryBound(to: UInt8.self), count: bytes.count) }
        queue.commit()
    }

    /// What one tick did (while ``isOn``). `ticked`: the network advanced
    /// (not paused, a frame seen).
    @inline(__always)
    func recordTick(start: Int64, ticked: Bool, firstStep: Int64, command: MotorCommandBuffer, decoded: UnsafePointer<Float>,
                    safeReasons: UInt8, overruns: Int64) {
        let motors = command.valueCount
        var size = 75 + 8 * motors
        var populationsWithSpikes = 0
        if ticked {
            for p in 0..<populationCount where spikeCount[p] > 0 {
                size += 8 + 8 * spikeCount[p]
                populationsWithSpikes += 1
            }
            size += 4 * probeValueCount
        }
        guard let p = reserve(size, .tick) else {
            dropped.add(1, ordering: .relaxed)
            return
        }
        var w = RecordWriter(p)
        w.put(start)
        w.put(command.simTimeNs)
        w.put(command.sequence)
        w.put(command.sensorSequence)
        w.put(command.senderTimeNs)
        w.put(firstStep)
        w.put(overruns)
        w.put(UInt32(stepsPerTick))
        w.put(ticked ? UInt8(1) : 0)
        w.put(command.safeStop ? UInt8(1) : 0)
        w.put(safeReasons)
        w.put(UInt32(motors))
        w.put(decoded, count: motors)
        w.put(UnsafePointer(command.values), count: motors)
        w.put(UInt32(populationsWithSpikes))
        if ticked {
            for q in 0..<populationCount where spikeCount[q] > 0 {
                w.put(UInt32(q))
                w.put(UInt32(spikeCount[q]))
                w.put(UnsafePointer(spikeStorage[q]), count: 2 * spikeCount[q])
            }
            w.put(UInt32(probeValueCount))
            w.put(UnsafePointer(probeValues), count: probeValueCount)
        } else {
            w.put(UInt32(0))
        }
        queue.commit()
    }
}
