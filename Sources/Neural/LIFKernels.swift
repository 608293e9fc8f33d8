import CCPU
import LIFKernel
#if canImport(LIFKernelAVX2)
import LIFKernelAVX2
#endif
#if canImport(LIFKernelAVX512)
import LIFKernelAVX512
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The LIF state update (`LIFStep`), as built for one instruction set.
typealias LIFStepFunction = @convention(c) (UnsafePointer<UnsafeMutableRawPointer>, UnsafeRawPointer, Int, Int, Int64) -> Int

/// Which build of the LIF state update steps LIF populations: the widest the
/// CPU has, chosen once per process. `SPIKELOOP_LIF_KERNEL` (baseline, avx2,
/// avx512) asks for one, for benchmarks and tests; a build the CPU cannot
/// run is not taken. All compute the same values (no fused multiply-adds).
public enum LIFKernelBuild: String, CaseIterable, Sendable {
    /// This binary's own target CPU (SPIKELOOP_TARGET_CPU at build time).
    case baseline
    case avx2
    case avx512

    /// The build in use.
    public static let current: LIFKernelBuild = {
        let usable = available
        if let asked = getenv("SPIKELOOP_LIF_KERNEL").map({ String(cString: $0) }), !asked.isEmpty {
            if let build = LIFKernelBuild(rawValue: asked), usable.contains(build) { return build }
            let valid = usable.map(\.rawValue).joined(separator: ", ")
            let message = "spikeloop: SPIKELOOP_LIF_KERNEL=\(asked) is not available here; valid: \(valid). Using \(usable.last!.rawValue).\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
        }
        return usable.last!
    }()

    /// The builds this binary has and this CPU can run, narrowest first.
    public static var available: [LIFKernelBuild] {
        var builds: [LIFKernelBuild] = [.baseline]
        #if canImport(LIFKernelAVX2)
        if sl_cpu_has_avx2() != 0 { builds.append(.avx2) }
        #endif
        #if canImport(LIFKernelAVX512)
        if sl_cpu_has_avx512() != 0 { builds.append(.avx512) }
        #endif
        return builds
    }

    static let float: LIFStepFunction = {
        switch current {
        #if canImport(LIFKernelAVX512)
        case .avx512: return { LIFKernelAVX512.LIFStep.float($0, $1, count: $2, form: $3, refractorySteps: $4) }
        #endif
        #if canImport(LIFKernelAVX2)
        case .avx2: return { LIFKernelAVX2.LIFStep.float($0, $1, count: $2, form: $3, refractorySteps: $4) }
        #endif
        default: return { LIFKernel.LIFStep.float($0, $1, count: $2, form: $3, refractorySteps: $4) }
        }
    }()

    static let double: LIFStepFunction = {
        switch current {
        #if canImport(LIFKernelAVX512)
        case .avx512: return { LIFKernelAVX512.LIFStep.double($0, $1, count: $2, form: $3, refractorySteps: $4) }
        #endif
        #if canImport(LIFKernelAVX2)
        case .avx2: return { LIFKernelAVX2.LIFStep.double($0, $1, count: $2, form: $3, refractorySteps: $4) }
        #endif
        default: return { LIFKernel.LIFStep.double($0, $1, count: $2, form: $3, refractorySteps: $4) }
        }
    }()
}
