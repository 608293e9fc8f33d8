/// How one sensor channel feeds one population: the encoder's kind and its
/// parameters, in the engine's internal units (**ms, mV, nA, Hz**; sensor
/// values in the sensor's own unit).
///
/// Once per tick the encoder takes the channel's latest value, clamps it to
/// `[min, max]` and turns it into the population's input for every step of
/// the tick (see ``Encoder``). The configuration parser fills these values;
/// ``problems(in:stepsPerTick:)`` lists every inconsistency with the network.
public struct EncoderSpec: Sendable, Equatable {
    /// The sensor channel. Also names the encoder's random stream
    /// (`encoder/<channel>`), so channel names must be unique.
    public var channel: String
    /// The population the encoder drives.
    public var population: String
    /// The neurons of `population` it drives (indices within the population);
    /// `nil` means all of them. Lets several channels share one population.
    public var neurons: Range<Int>?
    /// The sensor range, sensor units. Values are clamped to it; NaN counts as `min`.
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
        /// Every neuron fires at one rate, linear in the value.
        case rate(Rate)
        /// Gaussian receptive fields: neuron `j` prefers value `μ_j`.
        case receptiveFields(ReceptiveFields)
        /// One spike per neuron per tick; a larger value spikes earlier.
        case latency(Latency)
        /// Spikes on changes of the value, like a DVS pixel.
        case sendOnDelta(SendOnDelta)
        /// A current into a `lif` population, linear in the value.
        case current(Current)

        /// The name used in configuration files.
        public var name: String {
            switch self {
            case .rate: "rate"
            case .receptiveFields: "receptive_fields"
            case .latency: "latency"
            case .sendOnDelta: "send_on_delta"
            case .current: "current"
            }
        }
    }

    /// How spikes are drawn from a rate.
    public enum Process: String, Sendable, Equatable, CaseIterable {
        /// Independent Bernoulli trials each step with probability `rate · dt`
        /// (Poisson in the limit of small `dt`), from the encoder's seeded stream.
        case poisson
        /// Deterministic: a phase accumulator per neuron advances by `rate · dt`
        /// each step and fires when it reaches 1. Neuron `j` of `N` starts at
        /// phase `(j + 0.5) / N`, so the neurons interleave evenly.
        case regular
    }

    /// Rate coding: `rate = minRate + (x − min)/(max − min) · (maxRate − minRate)`.
    ///
    /// Into an `input` population the encoder draws the spikes itself (either
    /// process); into a `poisson` population it sets the rates once per tick
    /// and the engine draws (`poisson` process only).
    public struct Rate: Sendable, Equatable {
        public var process: Process
        /// Hz, at `x = min`.
        public var minRate: Double
        /// Hz, at `x = max`.
        public var maxRate: Double

        public init(process: Process = .poisson, minRate: Double = 0, maxRate: Double) {
            self.process = process
            self.minRate = minRate
            self.maxRate = maxRate
        }
    }

    /// Population coding with Gaussian receptive fields. The `N` neurons prefer
    /// values evenly spread over `[min, max]` (`μ_j = min + j·(max − min)/(N − 1)`,
    /// the midpoint when `N = 1`) and fire at
    /// `rate_j = maxRate · exp(−(x − μ_j)² / 2σ²)`, drawn as for ``Rate``.
    public struct ReceptiveFields: Sendable, Equatable {
        public var process: Process
        /// Hz, at the preferred value.
        public var maxRate: Double
        /// σ, sensor units; `nil` means the spacing of the preferred values,
        /// `(max − min)/(N − 1)`.
        public var width: Double?

        public init(process: Process = .poisson, maxRate: Double, width: Double? = nil) {
            self.process = process
            self.maxRate = maxRate
            self.width = width
        }
    }

    /// Latency (time-to-first-spike) coding: every neuron fires exactly once
    /// per tick, at step `k` of the tick's first `W = window/dt` steps, where
    /// `s = (x − min)/(max − min)`:
    /// - linear: `k = round((1 − s)·(W − 1))`,
    /// - logarithmic: `k = round((W − 1)·ln(1/s′)/ln(D))` with `s′ = max(s, 1/D)`
    ///   (equal ratios of the value give equal steps of time; below `1/D` of
    ///   the range everything fires last).
    ///
    /// So `x = max` fires in the tick's first step and `x = min` in step `W − 1`.
    public struct Latency: Sendable, Equatable {
        public enum Mapping: Sendable, Equatable {
            case linear
            /// `dynamicRange` D > 1: the ratio of the largest to the smallest
            /// value that still get distinct times.
            case logarithmic(dynamicRange: Double)
        }

        public var mapping: Mapping
        /// ms; `nil` means the whole tick. At most one tick.
        public var window: Double?

        public init(mapping: Mapping = .linear, window: Double? = nil) {
            self.mapping = mapping
            self.window = window
        }
    }

    /// Send-on-delta (event-based, like a DVS pixel). For each threshold `θ_i`
    /// there is an *increase* neuron `i` and a *decrease* neuron `n + i`
    /// (`n` thresholds, so the population slice has `2n` neurons). Each keeps
    /// a reference value, set to the first value seen after start or reset;
    /// every tick, a change of `|x − ref| ≥ θ` emits `floor(|x − ref|/θ)`
    /// events of that sign and moves the reference by that many `θ` towards `x`
    /// (the remainder is kept, so a slow ramp is not lost). The events leave as
    /// one spike per step from the tick's first step on; more events than
    /// steps carry over to the next tick. NaN values are ignored.
    public struct SendOnDelta: Sendable, Equatable {
        /// Sensor units, each > 0.
        public var thresholds: [Double]

        public init(thresholds: [Double]) {
            self.thresholds = thresholds
        }

        public init(threshold: Double) {
            thresholds = [threshold]
        }
    }

    /// Direct current injection into a `lif` population:
    /// `I = minCurrent + (x − min)/(max − min)·(maxCurrent − minCurrent)`, and
    /// neuron `j` receives `gain_j · I` (on top of its `i_ext`), set once per tick.
    public struct Current: Sendable, Equatable {
        /// nA, at `x = min`.
        public var minCurrent: Double
        /// nA, at `x = max`.
        public var maxCurrent: Double
        /// One dimensionless gain per neuron of the slice; `nil` means 1 for all.
        public var gains: [Double]?

        public init(minCurrent: Double = 0, maxCurrent: Double, gains: [Double]? = nil) {
            self.minCurrent = minCurrent
            self.maxCurrent = maxCurrent
            self.gains = gains
        }
    }
}
