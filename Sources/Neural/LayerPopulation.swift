import LIFKernel
/// A layer of a trained network (``LayerSpec``): dense inputs summed, then
/// one forward-Euler step of every neuron, written as one affine map per
/// neuron so that all kinds share one vector loop:
///
///     i ← ds·i + cs·I
///     v ← dm·v + bm + cm·i − pending
///
/// `pending` is the subtraction left by last step's spike (`reset: subtract`).
/// Stateless kinds have `dm = 0`, and `cs = 1, ds = 0` where there is no
/// synaptic current. Padding lanes have all coefficients 0 and an infinite
/// threshold, so they stay at 0 and never spike.
/// Layers compute in float32 whatever the network's `precision`, as the
/// frameworks that train and export them do.
typealias FloatLanes = SIMD16<Float>
typealias IntLanes = SIMD16<Int32>

/// A population that no projection targets and nothing resets after the step
/// (layers, analog inputs): phases 3b and 4 have nothing for it.
protocol WithoutProjections: PopulationDynamics {}

extension WithoutProjections {
    func deliverDelayed(step: Int64) {}
    var receivesDelayed: Bool { false }
    var resetsAfterSpike: Bool { false }
    func resetSpiked() {}
}

/// A population fed by ``LayerInput``s, connected once every population is built.
protocol LayerBinding: WithoutProjections {
    var spec: LayerSpec { get }
    var inputSum: LayerInputSum { get }
}

extension LayerBinding {
    /// Connects the inputs to their sources once every population is built.
    func bind(_ sources: [any PopulationDynamics]) { inputSum.bind(spec.inputs, sources: sources, size: size) }
}

/// A layer's input in this step, `Σ W·x + b` over its ``LayerInput``s.
final class LayerInputSum {
    let values: StateBuffer<Float>
    private let bias: StateBuffer<Float>
    private var inputs: [DenseInput] = []

    init(_ inputs: [LayerInput], size: Int) {
        values = StateBuffer(count: size, filling: 0)
        bias = StateBuffer(count: size, filling: 0)
        for q in inputs where !q.bias.isEmpty { for j in 0..<size { bias[j] += q.bias[j] } }
    }

    func bind(_ specs: [LayerInput], sources: [any PopulationDynamics], size: Int) {
        inputs = zip(specs, sources).map { DenseInput(spec: $0, source: $1, targetSize: size) }
    }

    /// Sums the sources' outputs as they are now into `values`.
    @inline(__always)
    func compute() {
        values.base.update(from: bias.base, count: values.count)
        for k in inputs.indices { inputs[k].add(into: values.base) }
    }
}

final class LayerPopulation: LayerBinding {
    let name: String
    let size: Int
    let spec: LayerSpec

    private let ds: StateBuffer<Float>, cs: StateBuffer<Float>
    private let dm: StateBuffer<Float>, bm: StateBuffer<Float>, cm: StateBuffer<Float>
    private let threshold: StateBuffer<Float>, resetValue: StateBuffer<Float>, resetAmount: StateBuffer<Float>
    let v: StateBuffer<Float>
    /// `v_initial` (or 0), where `v` starts and returns on every reset.
    private let initialV: StateBuffer<Float>
    let i: StateBuffer<Float>
    private let pending: StateBuffer<Float>
    /// All ones where last step's spike replaces this step's update (`to_v_reset_next_step`).
    private let held: StateBuffer<Int32>
    let inputSum: LayerInputSum
    /// Spikes as 0/1, or `v` for kinds without spikes: what layers downstream read.
    let output: StateBuffer<Float>
    private let spikeIndices: StateBuffer<UInt32>
    private(set) var spikeCount = 0

    init(name: String, size: Int, spec: LayerSpec, dt: Double) {
        self.name = name
        self.size = size
        self.spec = spec
        func buffer(_ value: (Int) -> Double) -> StateBuffer<Float> {
            let b = StateBuffer<Float>(count: size, filling: 0)
            for j in 0..<size { b[j] = Float(value(j)) }
            return b
        }
        let kind = spec.kind
        ds = buffer { kind.hasCurrent ? 1 - dt / spec.tauSyn[$0] : 0 }
        cs = buffer { kind.hasCurrent ? dt / spec.tauSyn[$0] * spec.wIn[$0] : 1 }
        dm = buffer { j in
            if kind.leaks { return 1 - dt / spec.tauMem[j] }
            return kind == .integrateAndFire || kind == .integrator ? 1 : 0
        }
        bm = buffer { kind.leaks ? dt / spec.tauMem[$0] * spec.vLeak[$0] : 0 }
        cm = buffer { j in
            if kind.leaks { return dt / spec.tauMem[j] * spec.r[j] }
            // NIR's `dv/dt = R·I` has time in seconds.
            return kind == .integrateAndFire || kind == .integrator ? dt / 1000 * spec.r[j] : 1
        }
        threshold = StateBuffer(count: size, filling: .infinity)
        if kind.spikes { for j in 0..<size { threshold[j] = Float(spec.vThreshold[j]) } }
        let resets = kind.spikes && kind != .threshold
        resetValue = buffer { resets ? spec.vReset[$0] : 0 }
        resetAmount = buffer { resets && spec.reset == .subtract ? spec.vThreshold[$0] - spec.vReset[$0] : 0 }
        initialV = buffer { spec.vInitial.isEmpty ? 0 : spec.vInitial[$0] }
        v = StateBuffer(count: size, filling: 0)
        v.base.update(from: initialV.base, count: v.count)
        i = StateBuffer(count: size, filling: 0)
        pending = StateBuffer(count: size, filling: 0)
        held = StateBuffer(count: size, filling: 0)
        inputSum = LayerInputSum(spec.inputs, size: size)
        output = StateBuffer(count: size, filling: 0)
        spikeIndices = StateBuffer(count: size, filling: 0)
    }

    var spikes: SpikeList { SpikeList(indices: UnsafePointer(spikeIndices.base), count: spikeCount) }
    var analogOutput: UnsafePointer<Float>? { spec.kind.spikes ? nil : UnsafePointer(output.base) }

    func updateAndThreshold(step: Int64) {
        inputSum.compute()
        let raw = { (b: StateBuffer<Float>) in UnsafeMutableRawPointer(b.base) }
        let (dsp, csp, dmp, bmp, cmp) = (raw(ds), raw(cs), raw(dm), raw(bm), raw(cm))
        let (thp, amp, vp, ip, pp) = (raw(threshold), raw(resetAmount), raw(v), raw(i), raw(pending))
        let (inp, outp, rvp, hp) = (raw(inputSum.values), raw(output), raw(resetValue), UnsafeMutableRawPointer(held.base))
        let spiking = spec.kind.spikes, resetsToValue = spec.reset == .toReset, holds = spec.reset == .toResetNextStep
        let one = unsafeBitCast(FloatLanes(repeating: 1), to: IntLanes.self)
        let out = spikeIndices.base
        var n = 0
        var offset = 0
        let bytes = v.count * 4
        while offset < bytes {
            @inline(__always) func load(_ p: UnsafeMutableRawPointer) -> FloatLanes { p.load(fromByteOffset: offset, as: FloatLanes.self) }
            let i1 = load(dsp) * load(ip) + load(csp) * load(inp)
            var v1 = load(dmp) * load(vp) + load(bmp) + load(cmp) * i1 - load(pp)
            if holds {
                let h = hp.load(fromByteOffset: offset, as: IntLanes.self)
                v1 = unsafeBitCast((unsafeBitCast(v1, to: IntLanes.self) & ~h) | (unsafeBitCast(load(rvp), to: IntLanes.self) & h), to: FloatLanes.self)
            }
            ip.storeBytes(of: i1, toByteOffset: offset, as: FloatLanes.self)
            vp.storeBytes(of: v1, toByteOffset: offset, as: FloatLanes.self)
            if spiking {
                let theta = load(thp)
                // All ones where v1 > θ: the sign of θ − v1 (x − x is +0, never −0).
                let fire = unsafeBitCast(theta - v1, to: IntLanes.self) &>> 31
                outp.storeBytes(of: one & fire, toByteOffset: offset, as: IntLanes.self)
                pp.storeBytes(of: unsafeBitCast(load(amp), to: IntLanes.self) & fire, toByteOffset: offset, as: IntLanes.self)
                if holds { hp.storeBytes(of: fire, toByteOffset: offset, as: IntLanes.self) }
                if LIFKernel.anyLane(v1 .> theta) {
                    let first = offset / 4
                    for j in first..<first + FloatLanes.scalarCount where output[j] != 0 {
                        out[n] = UInt32(j)
                        n += 1
                        if resetsToValue { v[j] = resetValue[j] }
                    }
                }
            } else {
                outp.storeBytes(of: v1, toByteOffset: offset, as: FloatLanes.self)
            }
            offset += MemoryLayout<FloatLanes>.size
        }
        spikeCount = n
    }


    var probeableVariables: [String] { spec.kind.hasCurrent ? ["v", "i"] : ["v"] }

    func value(of variable: String, neuron: Int) -> Double? {
        guard neuron >= 0, neuron < size else { return nil }
        switch variable {
        case "v": return Double(v[neuron])
        case "i" where spec.kind.hasCurrent: return Double(i[neuron])
        default: return nil
        }
    }

    func restoreInitialState() {
        for b in [i, pending, inputSum.values, output] { b.fill(0) }
        v.base.update(from: initialV.base, count: v.count)
        held.fill(0)
        spikeCount = 0
    }
}

/// `W·x` from one source into a layer's input. Mostly full matrices are
/// stored by source neuron, a column of W each padded to whole vectors, so a
/// spike adds one contiguous column with vector instructions; sparse ones
/// (convolutions) as each source neuron's list of targets.
struct DenseInput {
    private enum Storage {
        case columns(StateBuffer<Float>, stride: Int)
        /// Entries of source neuron `k` are `starts[k]..<starts[k + 1]`.
        case lists(starts: [Int], targets: [UInt32], weights: [Float])
    }
    private let storage: Storage
    /// Not retained: a recurrent layer is its own source, and the network
    /// that owns every population outlives its inputs (retained, such a
    /// network was never freed: a daemon leaked it at each reload; fuzz-nir).
    private unowned(unsafe) let source: any PopulationDynamics
    private let values: UnsafePointer<Float>?
    private let sourceSize: Int

    init(spec: LayerInput, source: any PopulationDynamics, targetSize: Int) {
        sourceSize = spec.sourceSize
        if spec.weights.count * 4 >= targetSize * spec.sourceSize {
            let stride = (targetSize + FloatLanes.scalarCount - 1) / FloatLanes.scalarCount * FloatLanes.scalarCount
            let columns = StateBuffer<Float>(count: stride * spec.sourceSize, filling: 0)
            for k in spec.weights.indices { columns[Int(spec.columns[k]) * stride + Int(spec.rows[k])] += spec.weights[k] }
            storage = .columns(columns, stride: stride)
        } else {
            var starts = [Int](repeating: 0, count: spec.sourceSize + 1)
            for c in spec.columns { starts[Int(c) + 1] += 1 }
            for k in 0..<spec.sourceSize { starts[k + 1] += starts[k] }
            var next = starts
            var targets = [UInt32](repeating: 0, count: spec.weights.count)
            var weights = [Float](repeating: 0, count: spec.weights.count)
            for k in spec.weights.indices {
                let c = Int(spec.columns[k])
                targets[next[c]] = spec.rows[k]
                weights[next[c]] = spec.weights[k]
                next[c] += 1
            }
            storage = .lists(starts: starts, targets: targets, weights: weights)
        }
        self.source = source
        values = source.analogOutput
    }

    @inline(__always)
    func add(into sum: UnsafeMutablePointer<Float>) {
        if let values {
            for k in 0..<sourceSize {
                let x = values[k]
                if x != 0 { addColumn(k, times: x, into: sum) }
            }
        } else {
            let spikes = source.spikes
            for k in 0..<spikes.count { addColumn(Int(spikes.indices[k]), times: 1, into: sum) }
        }
    }

    @inline(__always)
    private func addColumn(_ k: Int, times x: Float, into sum: UnsafeMutablePointer<Float>) {
        switch storage {
        case .columns(let columns, let stride):
            let column = UnsafeRawPointer(columns.base + k * stride)
            let target = UnsafeMutableRawPointer(sum)
            let scale = FloatLanes(repeating: x)
            var offset = 0
            while offset < stride * 4 {
                let s = target.load(fromByteOffset: offset, as: FloatLanes.self)
                target.storeBytes(of: s + scale * column.load(fromByteOffset: offset, as: FloatLanes.self),
                                  toByteOffset: offset, as: FloatLanes.self)
                offset += MemoryLayout<FloatLanes>.size
            }
        case .lists(let starts, let targets, let weights):
            targets.withUnsafeBufferPointer { t in
                weights.withUnsafeBufferPointer { w in
                    for e in starts[k]..<starts[k + 1] { sum[Int(t[e])] += x * w[e] }
                }
            }
        }
    }
}

/// `v(t) = I(t − d)` per element (a NIR `Delay`): a ring of the last
/// `max(d) + 1` inputs. Its output is values (delayed spikes stay 0/1).
final class DelayLayer: LayerBinding {
    let name: String
    let size: Int
    let spec: LayerSpec
    private let steps: [Int]
    private let ring: StateBuffer<Float>
    private let length: Int
    let inputSum: LayerInputSum
    let output: StateBuffer<Float>
    private let noSpikes: StateBuffer<UInt32>

    init(name: String, size: Int, spec: LayerSpec, dt: Double) {
        self.name = name
        self.size = size
        self.spec = spec
        steps = spec.delay.map { Int(($0 / dt).rounded()) }
        length = (steps.max() ?? 0) + 1
        inputSum = LayerInputSum(spec.inputs, size: size)
        ring = StateBuffer(count: inputSum.values.count * length, filling: 0)
        output = StateBuffer(count: size, filling: 0)
        noSpikes = StateBuffer(count: 1, filling: 0)
    }

    var spikes: SpikeList { SpikeList(indices: UnsafePointer(noSpikes.base), count: 0) }
    var analogOutput: UnsafePointer<Float>? { UnsafePointer(output.base) }

    func updateAndThreshold(step: Int64) {
        inputSum.compute()
        let input = inputSum.values
        let width = input.count
        let now = Int(step % Int64(length))
        (ring.base + now * width).update(from: input.base, count: width)
        for j in 0..<size {
            let slot = (now - steps[j] + length) % length
            output[j] = ring[slot * width + j]
        }
    }

    var probeableVariables: [String] { ["v"] }
    func value(of variable: String, neuron: Int) -> Double? {
        guard variable == "v", neuron >= 0, neuron < size else { return nil }
        return Double(output[neuron])
    }
    func restoreInitialState() {
        ring.fill(0)
        inputSum.values.fill(0)
        output.fill(0)
    }
}

/// Values set from outside before each step (a NIR `Input` node): the
/// analog input of a layer, driven by a `current` encoder.
final class AnalogInput: WithoutProjections {
    let name: String
    let size: Int
    let values: StateBuffer<Float>
    private let noSpikes: StateBuffer<UInt32>

    init(name: String, size: Int) {
        self.name = name
        self.size = size
        values = StateBuffer(count: size, filling: 0)
        noSpikes = StateBuffer(count: 1, filling: 0)
    }

    var spikes: SpikeList { SpikeList(indices: UnsafePointer(noSpikes.base), count: 0) }
    var analogOutput: UnsafePointer<Float>? { UnsafePointer(values.base) }
    func updateAndThreshold(step: Int64) {}
    var probeableVariables: [String] { ["value"] }
    func value(of variable: String, neuron: Int) -> Double? {
        guard variable == "value", neuron >= 0, neuron < size else { return nil }
        return Double(values[neuron])
    }
    func restoreInitialState() { values.fill(0) }
}

extension AnalogInput {
    @inline(__always) func inject(_ neuron: Int, nanoamps: Float) {
        guard neuron >= 0, neuron < size else { return }
        values[neuron] = nanoamps
    }
}
