// This file is compiled three times, into LIFKernel (the build's own target
// CPU), LIFKernelAVX2 and LIFKernelAVX512 (symbolic links to it), and Neural
// calls the widest one the CPU running it has: a binary built for a baseline
// x86-64 still steps its neurons with AVX-512 where there is AVX-512.

/// The state update and threshold of one LIF population for one step
/// (docs/network-file.md; `LIFPopulation` owns the state and documents it).
///
/// The arguments are raw and positional so that every build of this file
/// exports the same signature:
/// - `buffers`: `v`, `g_e`, `g_i`, the refractory counters (steps left, whole
///   numbers in the scalar), `rest`, and the spike indices written (`UInt32`);
/// - `constants`: `pvv, pve, pvi, pee, pii, v_threshold, k, a_e, b_e, a_i, b_i,
///   rest` in the scalar (the last used with `uniformRest`);
/// - `count`: neurons, padded to whole vectors of 16;
/// - `form`: `conductance`, `uniformRest` and `bothConductances` or'ed. Each
///   form is its own loop;
/// - `refractorySteps`: a spike's counter (`Int64.max`: a period that never ends).
///
/// Returns the number of spikes written.
public enum LIFStep {
    // Computed, not stored: a stored static is initialised lazily, on first
    // use, which may be inside a tick.
    /// COBA: forward Euler on `g·(E − v)`; otherwise CUBA's propagators.
    @inlinable public static var conductance: Int { 1 }
    /// Every neuron has the same `rest` (constant 11): the loop does not read
    /// the rest buffer, one memory stream of five fewer.
    @inlinable public static var uniformRest: Int { 2 }
    /// COBA with both synapses conductances (`b_e = b_i = 1`): `b·v` is `v`
    /// itself, exactly, so the loop skips the two products.
    @inlinable public static var bothConductances: Int { 4 }

    public static func float(_ buffers: UnsafePointer<UnsafeMutableRawPointer>, _ constants: UnsafeRawPointer,
                             count: Int, form: Int, refractorySteps: Int64) -> Int {
        step(Float.self, buffers, constants, count: count, form: form, refractorySteps: refractorySteps)
    }

    public static func double(_ buffers: UnsafePointer<UnsafeMutableRawPointer>, _ constants: UnsafeRawPointer,
                              count: Int, form: Int, refractorySteps: Int64) -> Int {
        step(Double.self, buffers, constants, count: count, form: form, refractorySteps: refractorySteps)
    }
}

/// Float and Double as this kernel needs them. The compare is a requirement,
/// not the generic `.>`: the standard library compares a generic SIMD type
/// lane by lane (seven times CUBA's run time, measured), the concrete types in
/// one instruction.
protocol KernelScalar: BinaryFloatingPoint, SIMDScalar, Codable where SIMDMaskScalar: FixedWidthInteger & SignedInteger {
    static func lanes(_ a: SIMD16<Self>, above b: SIMD16<Self>) -> SIMD16<SIMDMaskScalar>
}

extension Float: KernelScalar {
    @inline(__always)
    static func lanes(_ a: SIMD16<Float>, above b: SIMD16<Float>) -> SIMD16<Int32> {
        unsafeBitCast(a .> b, to: SIMD16<Int32>.self)
    }
}

extension Double: KernelScalar {
    @inline(__always)
    static func lanes(_ a: SIMD16<Double>, above b: SIMD16<Double>) -> SIMD16<Int64> {
        unsafeBitCast(a .> b, to: SIMD16<Int64>.self)
    }
}

/// Whether any lane of `mask` is set. The standard library's `any(_:)` reduces
/// through a generic `min()` that is not inlined here (a fifth of CUBA's and
/// COBA's run time, measured with perf); a few 64-bit ORs are not.
@inlinable @inline(__always)
public func anyLane<T: SIMD>(_ mask: T) -> Bool {
    withUnsafeBytes(of: mask) { bytes in
        var any: UInt64 = 0
        for k in 0..<bytes.count / 8 { any |= bytes.load(fromByteOffset: 8 * k, as: UInt64.self) }
        return any != 0
    }
}

/// Bit j set where lane j of `mask` (all ones or zero) is set, reduced in
/// registers. Read back through memory, the lanes wait for the vector store
/// to retire (about a hundred cycles per spiking vector under perf); `<<`
/// instead of `&<<` keeps LLVM from vectorising (it checks the shift).
@inline(__always)
func laneBits<T: SIMD>(_ mask: T) -> UInt32 where T.Scalar: FixedWidthInteger {
    var result: UInt32 = 0
    for j in 0..<T.scalarCount { result |= (UInt32(truncatingIfNeeded: mask[j]) & 1) &<< UInt32(j) }
    return result
}

/// One loop per form, each with its branches folded away. With a uniform
/// rest the last vector still reads the rest buffer: its padding lanes rest
/// far below threshold there, which keeps them from spiking.
@inline(__always)
private func step<S: KernelScalar>(_: S.Type, _ buffers: UnsafePointer<UnsafeMutableRawPointer>, _ constants: UnsafeRawPointer,
                                   count: Int, form: Int, refractorySteps: Int64) -> Int {
    let last = count - SIMD16<S>.scalarCount
    let uniform = form & LIFStep.uniformRest != 0 && last > 0
    @inline(__always) func run(_ update: Update) -> Int {
        guard uniform else {
            return loop(S.self, buffers, constants, lanes: 0..<count, update: update, uniformRest: false,
                        refractorySteps: refractorySteps, written: 0)
        }
        let n = loop(S.self, buffers, constants, lanes: 0..<last, update: update, uniformRest: true,
                     refractorySteps: refractorySteps, written: 0)
        return loop(S.self, buffers, constants, lanes: last..<count, update: update, uniformRest: false,
                    refractorySteps: refractorySteps, written: n)
    }
    if form & LIFStep.conductance == 0 { return run(.current) }
    return form & LIFStep.bothConductances != 0 ? run(.conductances) : run(.conductance)
}

/// The state update a loop is specialised for.
private enum Update {
    /// CUBA: the exact propagators.
    case current
    /// COBA: forward Euler, each synapse's drive `g·(a − b·v)`.
    case conductance
    /// COBA with `b = 1` for both synapses: `g·(a − v)`, the same values.
    case conductances
}

/// The lanes `range` (whole vectors); spike indices are written from
/// `written` on, and the count so far is returned.
@inline(__always)
private func loop<S: KernelScalar>(_: S.Type, _ buffers: UnsafePointer<UnsafeMutableRawPointer>, _ constants: UnsafeRawPointer,
                                   lanes range: Range<Int>, update: Update, uniformRest: Bool, refractorySteps: Int64,
                                   written: Int) -> Int {
    typealias L = SIMD16<S>
    typealias C = SIMD16<S.SIMDMaskScalar>
    let constant = constants.assumingMemoryBound(to: S.self)
    let pvv = L(repeating: constant[0]), pve = L(repeating: constant[1]), pvi = L(repeating: constant[2])
    let pee = L(repeating: constant[3]), pii = L(repeating: constant[4])
    let threshold = L(repeating: constant[5])
    let k = L(repeating: constant[6])
    let aE = L(repeating: constant[7]), bE = L(repeating: constant[8])
    let aI = L(repeating: constant[9]), bI = L(repeating: constant[10])
    let commonRest = L(repeating: constant[11])
    let vp = buffers[0], gep = buffers[1], gip = buffers[2], rp = buffers[3], dp = UnsafeRawPointer(buffers[4])
    let out = buffers[5].assumingMemoryBound(to: UInt32.self)
    let refractory = rp.assumingMemoryBound(to: S.self)
    // Int64.max rounds to a scalar that subtracting 1 leaves as it is.
    let refractoryAfterSpike = S(refractorySteps)
    let one = L(repeating: 1), oneAndAHalf = L(repeating: 1.5)
    @inline(__always) func bits(_ x: L) -> C { unsafeBitCast(x, to: C.self) }
    var n = written
    var offset = range.lowerBound * MemoryLayout<S>.stride
    var first = UInt32(range.lowerBound)
    let bytes = range.upperBound * MemoryLayout<S>.stride
    while offset < bytes {
        let v0 = vp.load(fromByteOffset: offset, as: L.self)
        let e0 = gep.load(fromByteOffset: offset, as: L.self)
        let i0 = gip.load(fromByteOffset: offset, as: L.self)
        let r0 = rp.load(fromByteOffset: offset, as: L.self)
        let c = uniformRest ? commonRest : dp.load(fromByteOffset: offset, as: L.self)
        // 1. State update; v is frozen while refractory ("unless refractory").
        //    The counters are whole numbers in the scalar so that this mask
        //    is one float compare, which LLVM keeps in a mask register and
        //    folds into the blend, the threshold and the decrement below
        //    (integer counters cost five more vector operations per vector).
        //    Blends are written with bit operations: SIMD's generic
        //    `replacing(with:where:)` runs lane by lane.
        let integrating = S.lanes(oneAndAHalf, above: r0)  // r1 = max(r0 − 1, 0) is 0
        let r1 = bits(r0 - one) & ~integrating
        let updated: L
        switch update {
        case .current:
            updated = c + (v0 - c) * pvv + pve * e0 + pvi * i0
        case .conductance:
            updated = v0 + k * ((c - v0) + e0 * (aE - bE * v0) + i0 * (aI - bI * v0))
        case .conductances:
            updated = v0 + k * ((c - v0) + e0 * (aE - v0) + i0 * (aI - v0))
        }
        let v1 = unsafeBitCast((bits(updated) & integrating) | (bits(v0) & ~integrating), to: L.self)
        // 2. Threshold, v > v_threshold. A refractory neuron holds v_reset,
        //    which the network checks is not above v_threshold, so it needs
        //    no mask here (with one, AVX2 code packs masks to bytes and back).
        //    A spiking neuron is refractory from now on, so input delivered
        //    later in this step is dropped.
        let spiking = S.lanes(v1, above: threshold)
        vp.storeBytes(of: v1, toByteOffset: offset, as: L.self)
        gep.storeBytes(of: pee * e0, toByteOffset: offset, as: L.self)
        gip.storeBytes(of: pii * i0, toByteOffset: offset, as: L.self)
        rp.storeBytes(of: r1, toByteOffset: offset, as: C.self)
        if anyLane(spiking) {
            // Rare: the spiking lanes as bits, written out lowest first
            // (a branch per spike rather than per lane).
            var lanes = laneBits(spiking)
            while lanes != 0 {
                let j = first + UInt32(lanes.trailingZeroBitCount)
                out[n] = j
                refractory[Int(j)] = refractoryAfterSpike
                n += 1
                lanes &= lanes &- 1
            }
        }
        offset += MemoryLayout<L>.size
        first &+= UInt32(L.scalarCount)
    }
    return n
}
