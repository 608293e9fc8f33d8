#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Neural

/// Reads one motor channel's value from a network.
///
/// Use from the tick loop:
///
/// ```swift
/// for k in 0..<stepsPerTick {
///     // encoders drive …
///     network.step()
///     decoder.observe()                   // after every step
/// }
/// let command = decoder.value()           // once, at the end of the tick
/// ```
///
/// `value()` closes the tick: per-tick tallies (winner-take-all) start afresh
/// at the next `observe()`. Calling it again before that returns the same value.
/// Every value is in the motor's unit and clamped to `[min, max]`.
///
/// Everything is allocated in `init`; `observe`, `value` and `reset` allocate
/// nothing, take no locks and dispatch once per decoder, never per neuron.
public final class Decoder {
    /// As built, or as last retuned.
    public private(set) var spec: DecoderSpec
    public let stepsPerTick: Int

    private let network: Network
    private let lower: Double
    private let upper: Double
    private let core: Core

    private enum Core {
        case rate(RateDecoderCore)
        case vector(PopulationVectorCore)
        case pushPull(PushPullCore)
        case winner(WinnerTakeAllCore)
        case membrane(MembraneCore)
    }

    /// Builds the decoder for `network`. Throws every problem of
    /// ``DecoderSpec/problems(in:stepsPerTick:)``.
    public init(_ spec: DecoderSpec, network: Network, stepsPerTick: Int) throws(CodingError) {
        let problems = spec.problems(in: network.spec, stepsPerTick: stepsPerTick)
        guard problems.isEmpty else { throw CodingError(subject: "decoder '\(spec.channel)'", problems: problems) }
        self.spec = spec
        self.stepsPerTick = stepsPerTick
        self.network = network
        lower = spec.min
        upper = spec.max
        let dt = network.dt
        func slice(_ name: String, _ range: Range<Int>?) -> NeuronSlice {
            let index = network.populationIndex(named: name)!
            let size = network.size(ofPopulation: index)
            return NeuronSlice(population: index, range: range ?? 0..<size, populationSize: size)
        }
        let own = slice(spec.population, spec.neurons)
        let middle = (spec.min + spec.max) / 2

        switch spec.kind {
        case .windowedRate(let w):
            core = .rate(RateDecoderCore(slice: own, estimator: RateEstimator(.window(w.window), neurons: own.count, dt: dt, stepsPerTick: stepsPerTick),
                                         minRate: w.minRate, maxRate: w.maxRate))
        case .filteredRate(let f):
            core = .rate(RateDecoderCore(slice: own, estimator: RateEstimator(.exponential(tau: f.tau), neurons: own.count, dt: dt, stepsPerTick: stepsPerTick),
                                         minRate: f.minRate, maxRate: f.maxRate))
        case .populationVector(let v):
            let n = own.count
            let preferred = v.preferred ?? (0..<n).map { n > 1 ? spec.min + Double($0) * (spec.max - spec.min) / Double(n - 1) : middle }
            core = .vector(PopulationVectorCore(slice: own, preferred: preferred, tau: v.tau, dt: dt,
                                                minRate: v.minRate, fallback: v.fallback ?? middle))
        case .pushPull(let q):
            let other = slice(q.opposing, q.opposingNeurons)
            core = .pushPull(PushPullCore(
                agonist: own, agonistRate: RateEstimator(q.filter, neurons: own.count, dt: dt, stepsPerTick: stepsPerTick),
                antagonist: other, antagonistRate: RateEstimator(q.filter, neurons: other.count, dt: dt, stepsPerTick: stepsPerTick),
                gain: q.gain, offset: q.offset ?? middle))
        case .winnerTakeAll(let w):
            core = .winner(WinnerTakeAllCore(slice: own, rule: w.rule, groupSize: w.groupSize, actions: w.actions,
                                             fallback: w.fallback ?? middle))
        case .membrane(let m):
            core = .membrane(MembraneCore(slice: own, vMin: m.vMin, vMax: m.vMax))
        }
    }

    /// Takes in the step just done; call it after every `network.step()`.
    public func observe() {
        switch core {
        case .rate(let c): c.observe(network)
        case .vector(let c): c.observe(network)
        case .pushPull(let c): c.observe(network)
        case .winner(let c): c.observe(network)
        case .membrane: break  // read at the end of the tick
        }
    }

    /// The motor command for the tick just done, motor units, in `[min, max]`.
    public func value() -> Float {
        let raw: Double
        switch core {
        case .rate(let c): raw = lower + c.normalised() * (upper - lower)
        case .vector(let c): raw = c.value()
        case .pushPull(let c): raw = c.value()
        case .winner(let c): raw = c.value()
        case .membrane(let c): raw = lower + c.normalised(network) * (upper - lower)
        }
        return Float(clamp(raw))
    }

    /// Back to the state right after `init`: empty windows and filters, no
    /// tallies.
    public func reset() {
        switch core {
        case .rate(let c): c.estimator.reset()
        case .vector(let c): c.reset()
        case .pushPull(let c): c.reset()
        case .winner(let c): c.reset()
        case .membrane: break
        }
    }

    // MARK: - Retuning (configuration reload)

    /// Why `new` cannot be applied to this running decoder, or nil. What the
    /// decoder remembers between ticks (population, neurons, window, time
    /// constant, groups, range) needs a restart; the mapping from rates to
    /// motor values (rates, gain, offset, preferred values, actions, fallback,
    /// membrane bounds) does not.
    public func retuneProblem(_ new: DecoderSpec) -> String? {
        guard new.channel == spec.channel else { return "channel '\(spec.channel)' became '\(new.channel)'" }
        guard new.mappingFree == spec.mappingFree else {
            return "decoder '\(spec.channel)': kind, population, neurons, window or time constant changed"
        }
        return nil
    }

    /// Takes the mapping parameters of `new` (see ``retuneProblem(_:)``) in
    /// place, between ticks; the replaced spec comes back in `new`, so the
    /// caller's thread frees it. Allocates nothing.
    public func retune(_ new: inout DecoderSpec) {
        switch (core, new.kind) {
        case (.rate(let c), .windowedRate(let w)):
            c.minRate = w.minRate
            c.maxRate = w.maxRate
        case (.rate(let c), .filteredRate(let f)):
            c.minRate = f.minRate
            c.maxRate = f.maxRate
        case (.vector(let c), .populationVector(let v)):
            let n = c.preferred.count
            for j in 0..<n {
                c.preferred[j] = v.preferred?[j] ?? (n > 1 ? new.min + Double(j) * (new.max - new.min) / Double(n - 1) : (new.min + new.max) / 2)
            }
            c.minRate = v.minRate
            c.fallback = v.fallback ?? (new.min + new.max) / 2
        case (.pushPull(let c), .pushPull(let q)):
            c.gain = q.gain
            c.offset = q.offset ?? (new.min + new.max) / 2
        case (.winner(let c), .winnerTakeAll(let w)):
            for g in 0..<c.actions.count { c.actions[g] = w.actions[g] }
            c.fallback = w.fallback ?? (new.min + new.max) / 2
        case (.membrane(let c), .membrane(let m)):
            c.vMin = m.vMin
            c.vMax = m.vMax
        default:
            return  // refused by retuneProblem
        }
        swap(&spec, &new)
    }

    @inline(__always)
    private func clamp(_ x: Double) -> Double {
        if !(x >= lower) { return lower }  // also NaN
        return x > upper ? upper : x
    }
}

// MARK: - Rate estimation

/// The mean firing rate per neuron of a slice, Hz: a sliding window at step
/// resolution, or an exponential filter.
final class RateEstimator {
    private enum Mode { case window, exponential }
    private let mode: Mode
    private let neurons: Double
    private let dt: Double

    // Window: spike counts of the last `length` steps.
    private let ring: FixedArray<Int32>
    private var head = 0
    private var filled = 0
    private var sum = 0

    // Exponential: r ← a·r + gain·c.
    private let decay: Double
    private let gain: Double
    private var filtered = 0.0

    init(_ filter: DecoderSpec.RateFilter, neurons: Int, dt: Double, stepsPerTick: Int) {
        self.neurons = Double(neurons)
        self.dt = dt
        switch filter {
        case .window(let w):
            mode = .window
            let length: Int
            switch w {
            case .ticks(let n): length = n * stepsPerTick
            case .milliseconds(let ms): length = Swift.max(1, Int((ms / dt).rounded()))
            }
            ring = FixedArray(count: length, filling: 0)
            decay = 0
            gain = 0
        case .exponential(let tau):
            mode = .exponential
            ring = FixedArray(count: 0, filling: 0)
            decay = exp(-dt / tau)
            gain = (1 - decay) * 1000 / (dt * Double(neurons))
        }
    }

    @inline(__always)
    func push(_ count: Int) {
        switch mode {
        case .window:
            sum += count - Int(ring[head])
            ring[head] = Int32(truncatingIfNeeded: count)
            head += 1
            if head == ring.count { head = 0 }
            if filled < ring.count { filled += 1 }
        case .exponential:
            filtered = decay * filtered + gain * Double(count)
        }
    }

    /// Hz per neuron.
    var rate: Double {
        switch mode {
        case .window: filled == 0 ? 0 : Double(sum) * 1000 / (Double(filled) * dt * neurons)
        case .exponential: filtered
        }
    }

    func reset() {
        ring.fill(0)
        head = 0
        filled = 0
        sum = 0
        filtered = 0
    }
}

/// Windowed or filtered rate, mapped linearly.
final class RateDecoderCore {
    let slice: NeuronSlice
    let estimator: RateEstimator
    var minRate: Double
    var maxRate: Double

    init(slice: NeuronSlice, estimator: RateEstimator, minRate: Double, maxRate: Double) {
        self.slice = slice
        self.estimator = estimator
        self.minRate = minRate
        self.maxRate = maxRate
    }

    @inline(__always)
    func observe(_ network: Network) {
        estimator.push(slice.count(in: network.spikes(ofPopulation: slice.population)))
    }

    /// (rate − minRate)/(maxRate − minRate), unclamped.
    func normalised() -> Double { (estimator.rate - minRate) / (maxRate - minRate) }
}

// MARK: - Population vector

/// Σ r_j μ_j / Σ r_j with exponentially filtered rates. All rates decay by the
/// same factor, so two sums carry the whole state: `S = Σ r_j μ_j` and
/// `R = Σ r_j` (in spikes, scaled), updated per spike, not per neuron.
final class PopulationVectorCore {
    let slice: NeuronSlice
    let preferred: FixedArray<Double>
    let decay: Double
    /// Converts R to the mean rate per neuron, Hz.
    let toRate: Double
    var minRate: Double
    var fallback: Double
    private var weighted = 0.0
    private var total = 0.0

    init(slice: NeuronSlice, preferred: [Double], tau: Double, dt: Double, minRate: Double, fallback: Double) {
        self.slice = slice
        self.preferred = FixedArray(preferred)
        decay = exp(-dt / tau)
        toRate = (1 - decay) * 1000 / (dt * Double(slice.count))
        self.minRate = minRate
        self.fallback = fallback
    }

    @inline(__always)
    func observe(_ network: Network) {
        weighted *= decay
        total *= decay
        for i in network.spikes(ofPopulation: slice.population).buffer {
            let j = slice.position(of: i)
            if j >= 0 {
                weighted += preferred[j]
                total += 1
            }
        }
    }

    func value() -> Double {
        guard total > 0, total * toRate >= minRate else { return fallback }
        return weighted / total
    }

    func reset() {
        weighted = 0
        total = 0
    }
}

// MARK: - Push-pull

/// offset + gain·(r_A − r_B).
final class PushPullCore {
    let agonist: NeuronSlice, agonistRate: RateEstimator
    let antagonist: NeuronSlice, antagonistRate: RateEstimator
    var gain: Double
    var offset: Double

    init(agonist: NeuronSlice, agonistRate: RateEstimator, antagonist: NeuronSlice, antagonistRate: RateEstimator,
         gain: Double, offset: Double) {
        self.agonist = agonist
        self.agonistRate = agonistRate
        self.antagonist = antagonist
        self.antagonistRate = antagonistRate
        self.gain = gain
        self.offset = offset
    }

    @inline(__always)
    func observe(_ network: Network) {
        agonistRate.push(agonist.count(in: network.spikes(ofPopulation: agonist.population)))
        antagonistRate.push(antagonist.count(in: network.spikes(ofPopulation: antagonist.population)))
    }

    func value() -> Double { offset + gain * (agonistRate.rate - antagonistRate.rate) }

    func reset() {
        agonistRate.reset()
        antagonistRate.reset()
    }
}

// MARK: - Winner-take-all

/// The group that spiked first (or most) in the tick selects an action.
final class WinnerTakeAllCore {
    let slice: NeuronSlice
    let rule: DecoderSpec.WinnerTakeAll.Rule
    let groupSize: Int
    let actions: FixedArray<Double>
    var fallback: Double
    /// Spikes per group in the tick (most-spikes rule).
    let counts: FixedArray<Int32>
    /// The first-spike winner of the tick, -1 while none.
    private var first = -1
    /// `value()` closed the tick; the next `observe()` starts a new one.
    private var closed = false

    init(slice: NeuronSlice, rule: DecoderSpec.WinnerTakeAll.Rule, groupSize: Int, actions: [Double], fallback: Double) {
        self.slice = slice
        self.rule = rule
        self.groupSize = groupSize
        self.actions = FixedArray(actions)
        self.fallback = fallback
        counts = FixedArray(count: actions.count, filling: 0)
    }

    @inline(__always)
    func observe(_ network: Network) {
        if closed {
            closed = false
            first = -1
            if rule == .mostSpikes { counts.fill(0) }
        }
        let spikes = network.spikes(ofPopulation: slice.population)
        switch rule {
        case .firstSpike:
            guard first < 0 else { return }
            // Several groups in the same step: the lowest index wins.
            var best = Int.max
            for i in spikes.buffer {
                let j = slice.position(of: i)
                if j >= 0 { best = Swift.min(best, j / groupSize) }
            }
            if best != Int.max { first = best }
        case .mostSpikes:
            for i in spikes.buffer {
                let j = slice.position(of: i)
                if j >= 0 { counts[j / groupSize] &+= 1 }
            }
        }
    }

    /// The winning group of the tick, -1 when nothing spiked.
    var winner: Int {
        switch rule {
        case .firstSpike:
            return first
        case .mostSpikes:
            var best = -1
            var most: Int32 = 0
            for g in 0..<counts.count where counts[g] > most {  // strict: ties keep the lower index
                best = g
                most = counts[g]
            }
            return best
        }
    }

    func value() -> Double {
        closed = true
        let g = winner
        return g >= 0 ? actions[g] : fallback
    }

    func reset() {
        closed = false
        first = -1
        counts.fill(0)
    }
}

// MARK: - Membrane readout

/// Mean v of the slice after the tick's last step, normalised to [vMin, vMax].
final class MembraneCore {
    let slice: NeuronSlice
    var vMin: Double
    var vMax: Double

    init(slice: NeuronSlice, vMin: Double, vMax: Double) {
        self.slice = slice
        self.vMin = vMin
        self.vMax = vMax
    }

    func normalised(_ network: Network) -> Double {
        var sum = 0.0
        for j in 0..<slice.count {
            sum += Double(network.value(population: slice.population, variable: "v", neuron: slice.first + j) ?? 0)
        }
        let mean = sum / Double(slice.count)
        return (mean - vMin) / (vMax - vMin)
    }
}
