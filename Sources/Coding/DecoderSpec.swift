/// How one motor channel is read from the network: the decoder's kind and its
/// parameters, in the engine's internal units (**ms, mV, Hz**; motor values in
/// the motor's own unit).
///
/// The decoder observes its population after every step and, at the end of the
/// tick, gives one value in the motor's unit, clamped to `[min, max]` (see
/// ``Decoder``). The configuration parser fills these values;
/// ``problems(in:stepsPerTick:)`` lists every inconsistency with the network.
public struct DecoderSpec: Sendable, Equatable {
    /// The motor channel.
    public var channel: String
    /// The population the decoder reads (for push-pull: the agonist, A).
    public var population: String
    /// The neurons of `population` it reads (indices within the population);
    /// `nil` means all of them.
    public var neurons: Range<Int>?
    /// The motor range, motor units; every output is clamped to it.
    public var min: Double
    public var max: Double
    public var kind: Kind

    public init(channel: String, population: String, neurons: Range<Int>? = nil,
                min: Double, max: Double, kind: Kind) {
        self.channel = channel
        self.population = population
        self.neurons = neurons
        self.min = min
        self.max = max
        self.kind = kind
    }

    public enum Kind: Sendable, Equatable {
        /// Mean rate per neuron over a sliding window, mapped linearly.
        case windowedRate(WindowedRate)
        /// Mean rate per neuron, exponentially filtered, mapped linearly.
        case filteredRate(FilteredRate)
        /// Preferred values weighted by the neurons' filtered rates.
        case populationVector(PopulationVector)
        /// Gain times (rate of A − rate of B), around an offset.
        case pushPull(PushPull)
        /// A discrete action: the group that spiked first, or most, in the tick.
        case winnerTakeAll(WinnerTakeAll)
        /// Mean membrane potential, mapped linearly.
        case membrane(Membrane)

        /// The name used in configuration files.
        public var name: String {
            switch self {
            case .windowedRate: "windowed_rate"
            case .filteredRate: "filtered_rate"
            case .populationVector: "population_vector"
            case .pushPull: "push_pull"
            case .winnerTakeAll: "winner_take_all"
            case .membrane: "membrane"
            }
        }
    }

    /// The length of a sliding window.
    public enum Window: Sendable, Equatable {
        /// The last `n` ticks (n ≥ 1).
        case ticks(Int)
        /// The last `round(ms / dt)` steps (at least one step).
        case milliseconds(Double)
    }

    /// How a firing rate (Hz per neuron) is estimated from spikes.
    public enum RateFilter: Sendable, Equatable {
        /// Spike count over the window ÷ (neurons × window length). Until the
        /// window has filled (after start or reset) it divides by the time elapsed.
        case window(Window)
        /// `r ← a·r + (1 − a)·(c/N)/dt` each step, `a = exp(−dt/τ)`, `c` the spikes
        /// of the step: a constant rate ν is estimated without bias, and a rate
        /// switched on at t = 0 gives `ν·(1 − e^(−t/τ))`. τ in ms.
        case exponential(tau: Double)
    }

    /// `value = min + (r − minRate)/(maxRate − minRate)·(max − min)`, clamped,
    /// with `r` the mean rate per neuron over the window.
    public struct WindowedRate: Sendable, Equatable {
        public var window: Window
        /// Hz, mapped to `min`.
        public var minRate: Double
        /// Hz, mapped to `max`.
        public var maxRate: Double

        public init(window: Window, minRate: Double = 0, maxRate: Double) {
            self.window = window
            self.minRate = minRate
            self.maxRate = maxRate
        }
    }

    /// As ``WindowedRate`` with an exponential filter of time constant `tau`.
    public struct FilteredRate: Sendable, Equatable {
        /// ms, > 0.
        public var tau: Double
        /// Hz, mapped to `min`.
        public var minRate: Double
        /// Hz, mapped to `max`.
        public var maxRate: Double

        public init(tau: Double, minRate: Double = 0, maxRate: Double) {
            self.tau = tau
            self.minRate = minRate
            self.maxRate = maxRate
        }
    }

    /// Population vector: `value = Σ r_j μ_j / Σ r_j` with `r_j` neuron `j`'s
    /// exponentially filtered rate (τ) and `μ_j` its preferred value.
    public struct PopulationVector: Sendable, Equatable {
        /// ms, > 0.
        public var tau: Double
        /// Motor units, one per neuron of the slice; `nil` means evenly over
        /// `[min, max]` (`μ_j = min + j·(max − min)/(N − 1)`), matching the
        /// receptive-field encoder over the same range.
        public var preferred: [Double]?
        /// Hz: while the mean filtered rate per neuron is below it (e.g. before
        /// any spike) the output is `fallback`.
        public var minRate: Double
        /// Motor units; `nil` means the middle of the range.
        public var fallback: Double?

        public init(tau: Double, preferred: [Double]? = nil, minRate: Double = 1, fallback: Double? = nil) {
            self.tau = tau
            self.preferred = preferred
            self.minRate = minRate
            self.fallback = fallback
        }
    }

    /// Push-pull of two antagonistic populations (muscles, directions):
    /// `value = offset + gain · (r_A − r_B)`, clamped, with `r_A` the mean rate
    /// per neuron of `population`/`neurons` and `r_B` that of `opposing`.
    public struct PushPull: Sendable, Equatable {
        /// Population B, the antagonist.
        public var opposing: String
        /// The neurons of `opposing` it reads; `nil` means all.
        public var opposingNeurons: Range<Int>?
        /// Motor units per Hz.
        public var gain: Double
        /// Motor units, the output when both rates are equal; `nil` means the
        /// middle of the range.
        public var offset: Double?
        public var filter: RateFilter

        public init(opposing: String, opposingNeurons: Range<Int>? = nil, gain: Double,
                    offset: Double? = nil, filter: RateFilter) {
            self.opposing = opposing
            self.opposingNeurons = opposingNeurons
            self.gain = gain
            self.offset = offset
            self.filter = filter
        }
    }

    /// Winner-take-all for discrete actions. The slice's neurons form groups of
    /// `groupSize` consecutive neurons (group `g` = neurons `g·groupSize ..<
    /// (g+1)·groupSize`); the winning group of the tick selects `actions[g]`.
    /// Ties go to the lowest group index; a tick without spikes gives `fallback`.
    public struct WinnerTakeAll: Sendable, Equatable {
        public enum Rule: String, Sendable, Equatable, CaseIterable {
            /// The group with the earliest spike in the tick.
            case firstSpike = "first_spike"
            /// The group with the most spikes in the tick.
            case mostSpikes = "most_spikes"
        }

        public var rule: Rule
        /// Neurons per group, ≥ 1; it must divide the slice's size.
        public var groupSize: Int
        /// Motor units, one per group.
        public var actions: [Double]
        /// Motor units; `nil` means the middle of the range.
        public var fallback: Double?

        public init(rule: Rule = .firstSpike, groupSize: Int = 1, actions: [Double], fallback: Double? = nil) {
            self.rule = rule
            self.groupSize = groupSize
            self.actions = actions
            self.fallback = fallback
        }
    }

    /// Membrane readout of a (usually non-spiking) `lif` or `izhikevich`
    /// population: the mean `v` of the slice after the tick's last step,
    /// `value = min + (v̄ − vMin)/(vMax − vMin)·(max − min)`, clamped.
    public struct Membrane: Sendable, Equatable {
        /// mV, mapped to `min`.
        public var vMin: Double
        /// mV, mapped to `max`.
        public var vMax: Double

        public init(vMin: Double, vMax: Double) {
            self.vMin = vMin
            self.vMax = vMax
        }
    }
}

extension DecoderSpec {
    /// This spec with its mapping parameters (what ``Decoder/retune(_:)`` may
    /// change) blanked: two specs with equal `mappingFree` differ only in
    /// parameters a running decoder can take.
    var mappingFree: DecoderSpec {
        var s = self
        switch kind {
        case .windowedRate(var w):
            (w.minRate, w.maxRate) = (0, 0)
            s.kind = .windowedRate(w)
        case .filteredRate(var f):
            (f.minRate, f.maxRate) = (0, 0)
            s.kind = .filteredRate(f)
        case .populationVector(var v):
            v.preferred = v.preferred.map { Array(repeating: 0, count: $0.count) }
            (v.minRate, v.fallback) = (0, nil)
            s.kind = .populationVector(v)
        case .pushPull(var q):
            (q.gain, q.offset) = (0, nil)
            s.kind = .pushPull(q)
        case .winnerTakeAll(var w):
            w.actions = Array(repeating: 0, count: w.actions.count)
            w.fallback = nil
            s.kind = .winnerTakeAll(w)
        case .membrane:
            s.kind = .membrane(.init(vMin: 0, vMax: 0))
        }
        return s
    }
}
