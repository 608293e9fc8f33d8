/// A population that only emits spikes: no state to reset, nothing to receive.
protocol SpikeSource: PopulationDynamics {}

extension SpikeSource {
    func deliverDelayed(step: Int64) {}
    func resetSpiked() {}
    var receivesDelayed: Bool { false }
    var resetsAfterSpike: Bool { false }
    var probeableVariables: [String] { [] }
    func value(of variable: String, neuron: Int) -> Double? { nil }
}

/// Independent Bernoulli trials each step with probability `rate · dt`, as Brian2's PoissonGroup.
final class PoissonSource: SpikeSource {
    let name: String
    let size: Int
    private let probability: StateBuffer<Float>
    private let initialProbability: [Float]
    private let seed: UInt64
    private var rng: RandomSource
    private let spikeIndices: StateBuffer<UInt32>
    private(set) var spikeCount = 0

    init(name: String, size: Int, rates: PerNeuron, dt: Double, seed: UInt64, rng: inout RandomSource) {
        self.name = name
        self.size = size
        self.seed = seed
        probability = StateBuffer(count: size, filling: 0)
        let hz = rates.resolve(count: size, rng: &rng)
        for j in 0..<size { probability[j] = Float(min(1, max(0, hz[j] * dt / 1000))) }
        let probabilities = probability
        initialProbability = (0..<size).map { probabilities[$0] }
        spikeIndices = StateBuffer(count: size, filling: 0)
        self.rng = RandomSource(seed: seed, stream: "poisson/\(name)")
    }

    var spikes: SpikeList { SpikeList(indices: UnsafePointer(spikeIndices.base), count: spikeCount) }

    func updateAndThreshold(step: Int64) {
        var n = 0
        for j in 0..<size where rng.uniformFloat() < probability[j] {
            spikeIndices[n] = UInt32(j)
            n += 1
        }
        spikeCount = n
    }

    /// Sets the rate of one neuron, Hz (for rate encoders).
    func setRate(_ hz: Double, neuron: Int, dt: Double) {
        guard neuron >= 0, neuron < size else { return }
        probability[neuron] = Float(min(1, max(0, hz * dt / 1000)))
    }


    func restoreInitialState() {
        for j in 0..<size { probability[j] = initialProbability[j] }
        rng = RandomSource(seed: seed, stream: "poisson/\(name)")
        spikeCount = 0
    }
}

/// Spikes at given times (Brian2's SpikeGeneratorGroup), rounded to whole steps.
final class SpikeTimesSource: SpikeSource {
    let name: String
    let size: Int
    /// (step, neuron) sorted by step, then neuron.
    private let schedule: [(step: Int64, neuron: UInt32)]
    private var cursor = 0
    private let spikeIndices: StateBuffer<UInt32>
    private(set) var spikeCount = 0

    init(name: String, times: [[Double]], dt: Double) {
        self.name = name
        size = times.count
        var entries: [(step: Int64, neuron: UInt32)] = []
        for (j, ts) in times.enumerated() {
            // A time beyond 2⁶² steps is never reached (and is no Int64).
            for t in ts where (t / dt).rounded() < 0x1p62 { entries.append((Int64((t / dt).rounded()), UInt32(j))) }
        }
        entries.sort { $0.step != $1.step ? $0.step < $1.step : $0.neuron < $1.neuron }
        // A neuron spikes at most once per step.
        var unique: [(step: Int64, neuron: UInt32)] = []
        for e in entries where unique.last.map({ $0 != e }) ?? true { unique.append(e) }
        schedule = unique
        spikeIndices = StateBuffer(count: size, filling: 0)
    }

    var spikes: SpikeList { SpikeList(indices: UnsafePointer(spikeIndices.base), count: spikeCount) }

    func updateAndThreshold(step: Int64) {
        while cursor < schedule.count, schedule[cursor].step < step { cursor += 1 }
        var n = 0
        while cursor < schedule.count, schedule[cursor].step == step {
            spikeIndices[n] = schedule[cursor].neuron
            n += 1
            cursor += 1
        }
        spikeCount = n
    }


    func restoreInitialState() {
        cursor = 0
        spikeCount = 0
    }
}

/// Spikes written from outside (by an encoder) before the step that emits them.
final class InputSource: SpikeSource {
    let name: String
    let size: Int
    private let pending: StateBuffer<UInt32>
    private let pendingMark: StateBuffer<UInt8>
    private var pendingCount = 0
    private let spikeIndices: StateBuffer<UInt32>
    private(set) var spikeCount = 0

    init(name: String, size: Int) {
        self.name = name
        self.size = size
        pending = StateBuffer(count: size, filling: 0)
        pendingMark = StateBuffer(count: size, filling: 0)
        spikeIndices = StateBuffer(count: size, filling: 0)
    }

    var spikes: SpikeList { SpikeList(indices: UnsafePointer(spikeIndices.base), count: spikeCount) }

    /// Queues a spike of `neuron` for the next step; repeats within a step count once.
    @inline(__always)
    func fire(_ neuron: Int) {
        guard neuron >= 0, neuron < size, pendingMark[neuron] == 0 else { return }
        pendingMark[neuron] = 1
        pending[pendingCount] = UInt32(neuron)
        pendingCount += 1
    }

    func updateAndThreshold(step: Int64) {
        for k in 0..<pendingCount {
            let j = pending[k]
            spikeIndices[k] = j
            pendingMark[Int(j)] = 0
        }
        spikeCount = pendingCount
        pendingCount = 0
    }


    func restoreInitialState() {
        for k in 0..<pendingCount { pendingMark[Int(pending[k])] = 0 }
        pendingCount = 0
        spikeCount = 0
    }
}
