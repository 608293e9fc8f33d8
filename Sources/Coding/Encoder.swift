#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Neural

/// Turns one sensor channel's value into a population's input, for every
/// network step of a tick.
///
/// Use from the tick loop:
///
/// ```swift
/// encoder.begin(value: x)                 // once per tick
/// for k in 0..<stepsPerTick {
///     encoder.drive(step: k)              // every encoder, then
///     network.step()
/// }
/// ```
///
/// Everything is allocated in `init`; `begin`, `drive` and `reset` allocate
/// nothing, take no locks and dispatch once per encoder, never per neuron.
/// An encoder holds its input until the next `begin`, so a tick without a new
/// value repeats the last one.
public final class Encoder {
    public let spec: EncoderSpec
    public let stepsPerTick: Int

    private let lower: Double
    private let span: Double
    private let core: Core

    private enum Core {
        case spikes(RateEncoderCore)
        case latency(LatencyEncoderCore)
        case delta(DeltaEncoderCore)
        case current(CurrentEncoderCore)
    }

    /// Builds the encoder for `network`, with its random stream derived from
    /// `seed` and the channel name. Throws every problem of
    /// ``EncoderSpec/problems(in:stepsPerTick:)``.
    public init(_ spec: EncoderSpec, network: Network, stepsPerTick: Int, seed: UInt64) throws(CodingError) {
        let problems = spec.problems(in: network.spec, stepsPerTick: stepsPerTick)
        guard problems.isEmpty else { throw CodingError(subject: "encoder '\(spec.channel)'", problems: problems) }
        self.spec = spec
        self.stepsPerTick = stepsPerTick
        let span = spec.max - spec.min
        lower = spec.min
        self.span = span
        let index = network.populationIndex(named: spec.population)!
        let size = network.size(ofPopulation: index)
        let slice = NeuronSlice(population: index, range: spec.neurons ?? 0..<size, populationSize: size)
        let dt = network.dt
        let rng = RandomSource(seed: seed, stream: "encoder/\(spec.channel)")

        switch spec.kind {
        case .rate(let r):
            core = .spikes(RateEncoderCore(network: network, slice: slice, process: r.process, dt: dt, rng: rng,
                                           tuning: .uniform(minRate: r.minRate, maxRate: r.maxRate)))
        case .receptiveFields(let r):
            let n = slice.count
            let spacing = n > 1 ? span / Double(n - 1) : span
            let preferred = (0..<n).map { n > 1 ? spec.min + Double($0) * spacing : spec.min + span / 2 }
            let sigma = r.width ?? spacing
            core = .spikes(RateEncoderCore(network: network, slice: slice, process: r.process, dt: dt, rng: rng,
                                           tuning: .gaussian(maxRate: r.maxRate, preferred: FixedArray(preferred),
                                                             inverseTwoSigmaSquared: 1 / (2 * sigma * sigma))))
        case .latency(let l):
            let window = l.window.map { Int(($0 / dt).rounded()) } ?? stepsPerTick
            core = .latency(LatencyEncoderCore(input: network.spikeInput(population: index)!, slice: slice,
                                               windowSteps: window, mapping: l.mapping))
        case .sendOnDelta(let d):
            core = .delta(DeltaEncoderCore(input: network.spikeInput(population: index)!, slice: slice,
                                           thresholds: d.thresholds))
        case .current(let c):
            let gains = c.gains?.map(Float.init) ?? Array(repeating: 1, count: slice.count)
            core = .current(CurrentEncoderCore(input: network.currentInput(population: index)!, slice: slice,
                                               minCurrent: c.minCurrent, maxCurrent: c.maxCurrent, gains: gains))
        }
    }

    /// Takes the tick's value (sensor units). It is clamped to `[min, max]`;
    /// NaN counts as `min` (send-on-delta ignores it).
    public func begin(value: Float) {
        let raw = Double(value)
        var s = (raw - lower) / span
        if !(s >= 0) { s = 0 }  // also NaN
        if s > 1 { s = 1 }
        let x = lower + s * span
        switch core {
        case .spikes(let c): c.begin(normalised: s, value: x)
        case .latency(let c): c.begin(normalised: s)
        case .delta(let c): if !raw.isNaN { c.begin(value: x) }
        case .current(let c): c.begin(normalised: s)
        }
    }

    /// Writes the population's input for step `k` (0 ..< stepsPerTick) of the
    /// tick; call it right before that `network.step()`.
    public func drive(step k: Int) {
        switch core {
        case .spikes(let c): c.drive()
        case .latency(let c): c.drive(step: k)
        case .delta(let c): c.drive()
        case .current: break  // the current stays set until the next begin
        }
    }

    /// Back to the state right after `init`: the same random stream, phases,
    /// and (send-on-delta) no reference yet. The network's own state, including
    /// injected currents and Poisson rates, is restored by
    /// `Network.restoreInitialState()`.
    public func reset() {
        switch core {
        case .spikes(let c): c.reset()
        case .latency(let c): c.reset()
        case .delta(let c): c.reset()
        case .current: break
        }
    }
}

// MARK: - Rate and receptive fields

/// Per-neuron rates from the value, drawn as spikes into an `input`
/// population (Bernoulli or regular) or written as rates into a `poisson` one.
final class RateEncoderCore {
    enum Tuning {
        case uniform(minRate: Double, maxRate: Double)
        case gaussian(maxRate: Double, preferred: FixedArray<Double>, inverseTwoSigmaSquared: Double)
    }

    enum Target {
        case spikes(SpikeInput)
        case rates(RateInput)
    }

    let slice: NeuronSlice
    let process: EncoderSpec.Process
    let tuning: Tuning
    let target: Target
    /// Spikes per step per rate: dt / 1000 (dt in ms, rate in Hz).
    let perHertz: Double
    /// Bernoulli probability per neuron and step (poisson process).
    let probability: FixedArray<Float>
    /// Phase increment per step and phase, per neuron (regular process),
    /// padded to whole vectors with lanes that never fire.
    let increment: FixedArray<Double>
    let phase: FixedArray<Double>
    private typealias Lanes = SIMD8<Double>
    var rng: RandomSource
    let initialRNG: RandomSource

    init(network: Network, slice: NeuronSlice, process: EncoderSpec.Process, dt: Double,
         rng: RandomSource, tuning: Tuning) {
        self.slice = slice
        self.process = process
        self.tuning = tuning
        if let input = network.spikeInput(population: slice.population) {
            target = .spikes(input)
        } else {
            target = .rates(network.rateInput(population: slice.population)!)
        }
        perHertz = dt / 1000
        probability = FixedArray(count: slice.count, filling: 0)
        let padded = (slice.count + Lanes.scalarCount - 1) / Lanes.scalarCount * Lanes.scalarCount
        increment = FixedArray(count: padded, filling: 0)
        phase = FixedArray(count: padded, filling: 0)
        self.rng = rng
        initialRNG = rng
        resetPhases()
    }

    private func resetPhases() {
        let n = slice.count
        for j in 0..<n { phase[j] = (Double(j) + 0.5) / Double(n) }
    }

    @inline(__always)
    private func rate(_ j: Int, normalised s: Double, value x: Double) -> Double {
        switch tuning {
        case .uniform(let lo, let hi):
            return lo + s * (hi - lo)
        case .gaussian(let peak, let preferred, let k):
            let d = x - preferred[j]
            return peak * exp(-d * d * k)
        }
    }

    func begin(normalised s: Double, value x: Double) {
        let n = slice.count
        switch target {
        case .rates(let input):
            for j in 0..<n { input.set(slice.first + j, hertz: Float(rate(j, normalised: s, value: x))) }
        case .spikes:
            switch process {
            case .poisson:
                for j in 0..<n { probability[j] = Float(Swift.min(1, rate(j, normalised: s, value: x) * perHertz)) }
            case .regular:
                for j in 0..<n { increment[j] = Swift.min(1, rate(j, normalised: s, value: x) * perHertz) }
            }
        }
    }

    @inline(__always)
    func drive() {
        guard case .spikes(let input) = target else { return }  // the engine draws Poisson populations
        let n = slice.count, first = slice.first
        switch process {
        case .poisson:
            for j in 0..<n where rng.uniformFloat() < probability[j] { input.fire(first + j) }
        case .regular:
            // Eight neurons at a time, the same arithmetic as one by one; most
            // steps fire none of them, so the firing test is rarely taken.
            let phases = UnsafeMutableRawPointer(phase.base), increments = UnsafeRawPointer(increment.base)
            let width = MemoryLayout<Lanes>.size
            for v in 0..<(phase.count / Lanes.scalarCount) {
                let p = phases.loadUnaligned(fromByteOffset: v * width, as: Lanes.self)
                    + increments.loadUnaligned(fromByteOffset: v * width, as: Lanes.self)
                let fired = p .>= 1
                if any(fired) {
                    phases.storeBytes(of: p.replacing(with: p - 1, where: fired), toByteOffset: v * width, as: Lanes.self)
                    for lane in 0..<Lanes.scalarCount where fired[lane] { input.fire(first + v * Lanes.scalarCount + lane) }
                } else {
                    phases.storeBytes(of: p, toByteOffset: v * width, as: Lanes.self)
                }
            }
        }
    }

    func reset() {
        rng = initialRNG
        probability.fill(0)
        increment.fill(0)
        phase.fill(0)
        resetPhases()
    }
}

// MARK: - Latency

/// One spike per neuron per tick, earlier for larger values.
final class LatencyEncoderCore {
    let input: SpikeInput
    let slice: NeuronSlice
    let windowSteps: Int
    let mapping: EncoderSpec.Latency.Mapping
    /// The step of the tick in which the slice fires; -1 before the first value.
    private(set) var spikeStep = -1

    init(input: SpikeInput, slice: NeuronSlice, windowSteps: Int, mapping: EncoderSpec.Latency.Mapping) {
        self.input = input
        self.slice = slice
        self.windowSteps = windowSteps
        self.mapping = mapping
    }

    func begin(normalised s: Double) {
        let last = Double(windowSteps - 1)
        switch mapping {
        case .linear:
            spikeStep = Int(((1 - s) * last).rounded())
        case .logarithmic(let range):
            let clipped = Swift.max(s, 1 / range)
            spikeStep = Int((last * log(1 / clipped) / log(range)).rounded())
        }
        spikeStep = Swift.min(Swift.max(spikeStep, 0), windowSteps - 1)
    }

    @inline(__always)
    func drive(step k: Int) {
        guard k == spikeStep else { return }
        for j in 0..<slice.count { input.fire(slice.first + j) }
    }

    func reset() { spikeStep = -1 }
}

// MARK: - Send-on-delta

/// Increase and decrease events on changes of at least a threshold.
final class DeltaEncoderCore {
    let input: SpikeInput
    let slice: NeuronSlice
    let thresholds: FixedArray<Double>
    let reference: FixedArray<Double>
    /// Events waiting to leave, per neuron: increases 0..<n, decreases n..<2n.
    let pending: FixedArray<Int>
    private var hasReference = false

    init(input: SpikeInput, slice: NeuronSlice, thresholds: [Double]) {
        self.input = input
        self.slice = slice
        self.thresholds = FixedArray(thresholds)
        reference = FixedArray(count: thresholds.count, filling: 0)
        pending = FixedArray(count: 2 * thresholds.count, filling: 0)
    }

    func begin(value x: Double) {
        let n = thresholds.count
        guard hasReference else {
            reference.fill(x)
            hasReference = true
            return
        }
        for i in 0..<n {
            let θ = thresholds[i]
            let d = x - reference[i]
            if d >= θ {
                let events = (d / θ).rounded(.down)
                reference[i] += events * θ
                pending[i] += Int(events)
            } else if -d >= θ {
                let events = (-d / θ).rounded(.down)
                reference[i] -= events * θ
                pending[n + i] += Int(events)
            }
        }
    }

    @inline(__always)
    func drive() {
        for i in 0..<pending.count where pending[i] > 0 {
            pending[i] -= 1
            input.fire(slice.first + i)
        }
    }

    func reset() {
        hasReference = false
        pending.fill(0)
    }
}

// MARK: - Current injection

/// A current into a `lif` population, set once per tick.
final class CurrentEncoderCore {
    let input: CurrentInput
    let slice: NeuronSlice
    let minCurrent: Double
    let maxCurrent: Double
    let gains: FixedArray<Float>

    init(input: CurrentInput, slice: NeuronSlice, minCurrent: Double, maxCurrent: Double, gains: [Float]) {
        self.input = input
        self.slice = slice
        self.minCurrent = minCurrent
        self.maxCurrent = maxCurrent
        self.gains = FixedArray(gains)
    }

    func begin(normalised s: Double) {
        let current = Float(minCurrent + s * (maxCurrent - minCurrent))
        for j in 0..<slice.count { input.set(slice.first + j, nanoamps: gains[j] * current) }
    }
}
