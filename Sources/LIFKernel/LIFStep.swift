// This file is compiled three times, into LIFKernel (the build's own target
// CPU), LIFKernelAVX2 and LIFKernelAVX512 (symbolic links to it), and Neural
// calls the widest one the CPU running it has: a binary built for a baseline
// x86-64 still steps its neurons with AVX-512 where there is AVX-512.

/// The state update and threshold of one LIF population for one step
/// (docs/network-file.md; `LIFPopulation` owns the state and documents it).
///
/// The arguments are raw and positional so that every build of this file
/// exports the same signature:
/// - `buffers`: `v`, `g_e`, `g_i`, the refractory counters (integers as wide
///   as the scalar), `rest`, and the spike indices written (`UInt32`);
/// - `constants`: `pvv, pve, pvi, pee, pii, v_threshold, k, a_e, b_e, a_i, b_i`
///   in the scalar;
/// - `count`: neurons, padded to whole vectors of 16.
///
/// Returns the number of spikes written.
public enum LIFStep {
    public static func float(_ buffers: UnsafePointer<UnsafeMutableRawPointer>, _ constants: UnsafeRawPointer,
                             count: Int, conductance: Bool, refractorySteps: Int64) -> Int {
        step(Float.self, buffers, constants, count: count, conductance: conductance, refractorySteps: refractorySteps)
    }

    public static func double(_ buffers: UnsafePointer<UnsafeMutableRawPointer>, _ constants: UnsafeRawPointer,
                              count: Int, conductance: Bool, refractorySteps: Int64) -> Int {
        step(Double.self, buffers, constants, count: count, conductance: conductance, refractorySteps: refractorySteps)
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

@inline(__always)
private func step<S: KernelScalar>(_: S.Type, _ buffers: UnsafePointer<UnsafeMutableRawPointer>, _ constants: UnsafeRawPointer,
                                   count: Int, conductance: Bool, refractorySteps: Int64) -> Int {
    typealias L = SIMD16<S>
    typealias Counter = S.SIMDMaskScalar
    typealias C = SIMD16<Counter>
    let constant = constants.assumingMemoryBound(to: S.self)
    let pvv = L(repeating: constant[0]), pve = L(repeating: constant[1]), pvi = L(repeating: constant[2])
    let pee = L(repeating: constant[3]), pii = L(repeating: constant[4])
    let vThreshold = constant[5], threshold = L(repeating: vThreshold)
    let k = L(repeating: constant[6])
    let aE = L(repeating: constant[7]), bE = L(repeating: constant[8])
    let aI = L(repeating: constant[9]), bI = L(repeating: constant[10])
    let signShift = C(repeating: Counter(Counter.bitWidth - 1))
    let vp = buffers[0], gep = buffers[1], gip = buffers[2], rp = buffers[3], dp = UnsafeRawPointer(buffers[4])
    let out = buffers[5].assumingMemoryBound(to: UInt32.self)
    let voltage = vp.assumingMemoryBound(to: S.self), refractory = rp.assumingMemoryBound(to: Counter.self)
    let steps = Counter(truncatingIfNeeded: refractorySteps)
    @inline(__always) func bits(_ x: L) -> C { unsafeBitCast(x, to: C.self) }
    var n = 0
    var offset = 0
    let bytes = count * MemoryLayout<S>.stride
    while offset < bytes {
        let v0 = vp.load(fromByteOffset: offset, as: L.self)
        let e0 = gep.load(fromByteOffset: offset, as: L.self)
        let i0 = gip.load(fromByteOffset: offset, as: L.self)
        let r0 = rp.load(fromByteOffset: offset, as: C.self)
        let c = dp.load(fromByteOffset: offset, as: L.self)
        // 1. State update; v is frozen while refractory ("unless refractory").
        //    Masks are built with integer arithmetic: SIMD's generic
        //    `replacing(with:where:)` runs lane by lane.
        let counted = r0 &- 1
        let r1 = counted & ~(counted &>> signShift)  // max(r0 − 1, 0)
        let integrating = (r1 &- 1) &>> signShift  // all ones where r1 == 0
        let updated: L
        if conductance {
            let drive = (c - v0) + e0 * (aE - bE * v0) + i0 * (aI - bI * v0)
            updated = v0 + k * drive
        } else {
            updated = c + (v0 - c) * pvv + pve * e0 + pvi * i0
        }
        let v1 = unsafeBitCast((bits(updated) & integrating) | (bits(v0) & ~integrating), to: L.self)
        vp.storeBytes(of: v1, toByteOffset: offset, as: L.self)
        gep.storeBytes(of: pee * e0, toByteOffset: offset, as: L.self)
        gip.storeBytes(of: pii * i0, toByteOffset: offset, as: L.self)
        rp.storeBytes(of: r1, toByteOffset: offset, as: C.self)
        // 2. Threshold, v > v_threshold. A spiking neuron is refractory from
        //    now on, so input delivered later in this step is dropped.
        if anyLane(S.lanes(v1, above: threshold) & integrating) {
            // Rare: re-test lane by lane from memory, which keeps the mask
            // above a pure vector compare.
            let first = offset / MemoryLayout<S>.stride
            for j in first..<first + L.scalarCount where voltage[j] > vThreshold && refractory[j] == 0 {
                out[n] = UInt32(j)
                refractory[j] = steps
                n += 1
            }
        }
        offset += MemoryLayout<L>.size
    }
    return n
}
