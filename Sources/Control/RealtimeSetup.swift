import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// Real-time options for the loop thread. Each degrades to a warning where
/// the system does not permit it (no CAP_SYS_NICE, no rtprio limit, …).
public enum RealtimeSetup {
    /// SCHED_FIFO at `priority` for the calling thread only.
    public static func setFIFO(priority: Int32) -> String? {
        var param = sched_param()
        param.sched_priority = priority
        let rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param)
        return rc == 0 ? nil : "SCHED_FIFO priority \(priority) not permitted (\(String(cString: strerror(rc)))); the loop runs at normal priority. Raise the rtprio limit (LimitRTPRIO= in the unit, or /etc/security/limits.conf)"
    }

    /// Pins the calling thread to `cpu`.
    public static func pin(cpu: Int) -> String? {
        let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_CONF)))
        guard cpu >= 0, cpu < cpus else {
            return "CPU \(cpu) does not exist here (\(cpus) CPUs); the loop thread is not pinned"
        }
        let rc = sl_pin_current_thread(Int32(cpu))
        return rc == 0 ? nil : "cannot pin the loop thread to CPU \(cpu) (\(String(cString: strerror(rc))))"
    }

    /// Moves the process's other threads (ZeroMQ's I/O threads, the control
    /// server, the recorder, …) off `cpu`, which the calling thread is pinned
    /// to: a thread woken on the loop's CPU delays the loop's wake-up even at
    /// lower priority (the switch, the caches). Threads started later by them
    /// inherit their CPU sets. Returns how many moved, or why none could.
    public static func moveOtherThreads(offCPU cpu: Int) -> Result<Int, RealtimeWarning> {
        let rc = sl_move_other_threads_off_cpu(Int32(cpu))
        if rc >= 0 { return .success(Int(rc)) }
        let reason = rc == -EINVAL ? "no other CPU is allowed to this process" : String(cString: strerror(-rc))
        return .failure(RealtimeWarning("the loop shares CPU \(cpu) with the daemon's other threads (\(reason))"))
    }

    /// Lets the kernel wake the calling thread at most 1 µs late (instead of
    /// the 50 µs timer slack of normal threads); SCHED_FIFO threads have none.
    public static func tightenTimerSlack() { _ = sl_set_timer_slack(1000) }

    /// Lets the calling thread run only on otherwise idle CPU time (SCHED_IDLE),
    /// so that it never delays the loop or its peer on a busy machine.
    public static func yieldToEveryone() -> String? {
        let rc = sl_set_current_thread_idle()
        return rc == 0 ? nil : "SCHED_IDLE not available (\(String(cString: strerror(rc))))"
    }

    /// Names the calling thread, as top and gdb show it.
    public static func nameThread(_ name: String) { _ = sl_name_current_thread(String(name.prefix(15))) }

    /// Locks all current and future pages in memory (no page faults in the loop).
    public static func lockMemory() -> String? {
        mlockall(Int32(MCL_CURRENT | MCL_FUTURE)) == 0 ? nil :
            "mlockall failed (\(String(cString: strerror(errno)))); memory stays pageable. Raise LimitMEMLOCK (infinity in the unit)"
    }
}

/// A PM QoS request that keeps every CPU out of idle states slower to leave
/// than `microseconds`, held while this object lives (the kernel drops it when
/// the file closes). Deep C-states are what make a sleeping thread wake tens
/// of microseconds late; cyclictest holds the same request while it measures.
public final class CPULatencyRequest: @unchecked Sendable {
    public static let device = "/dev/cpu_dma_latency"
    private let descriptor: Int32
    public let microseconds: Int32

    private init(descriptor: Int32, microseconds: Int32) {
        self.descriptor = descriptor
        self.microseconds = microseconds
    }

    /// Takes the request, or returns why it could not (and what would permit it).
    public static func hold(microseconds: Int32) -> Result<CPULatencyRequest, RealtimeWarning> {
        let fd = open(device, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            return .failure(RealtimeWarning("cannot hold a CPU wake-up latency of \(microseconds) µs: \(device): \(reason); the CPUs may sleep deeply and wake the loop late. Run with write access to \(device) (docs/service.md, \"Wake-up latency\")"))
        }
        var value = microseconds
        let written = withUnsafeBytes(of: &value) { write(fd, $0.baseAddress, 4) }
        guard written == 4 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            return .failure(RealtimeWarning("cannot hold a CPU wake-up latency of \(microseconds) µs: writing \(device): \(reason)"))
        }
        return .success(CPULatencyRequest(descriptor: fd, microseconds: microseconds))
    }

    deinit { close(descriptor) }
}

/// Why a real-time option could not be applied; the loop runs without it.
public struct RealtimeWarning: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A joinable thread running one closure (the loop, the control server, the statistics reporter).
public final class WorkerThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void

    public init(_ body: @escaping () -> Void) {
        self.body = body
        let box = Unmanaged.passRetained(self)
        let rc = pthread_create(&thread, nil, { arg in
            let me = Unmanaged<WorkerThread>.fromOpaque(arg!).takeRetainedValue()
            me.body()
            return nil
        }, box.toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    public func join() { pthread_join(thread, nil) }
}
