import Control
import Wire
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The systemd notification protocol (`sd_notify(3)`) without libsystemd: one
/// datagram of `KEY=value` lines to the AF_UNIX socket named by `$NOTIFY_SOCKET`,
/// a filesystem path or, with a leading `@`, an abstract socket.
///
/// Sending never blocks and never fails loudly: a service manager that is gone
/// must not take the daemon with it.
public final class ServiceNotifier: Sendable {
    private let fd: Int32
    /// The encoded `sockaddr_un` and its length.
    private let address: [UInt8]
    public let socketName: String

    /// The notifier for `$NOTIFY_SOCKET`, or nil when the daemon was not started
    /// by a service manager (the variable is unset or not a usable socket name).
    public convenience init?() {
        guard let raw = getenv("NOTIFY_SOCKET") else { return nil }
        self.init(socket: String(cString: raw))
    }

    public init?(socket name: String) {
        var path = Array(name.utf8)
        guard path.count >= 2, path[0] == UInt8(ascii: "/") || path[0] == UInt8(ascii: "@") else { return nil }
        let abstract = path[0] == UInt8(ascii: "@")
        if abstract { path[0] = 0 }
        var addr = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        // A path needs room for its terminating NUL; an abstract name does not have one.
        guard path.count <= capacity - (abstract ? 0 : 1) else { return nil }
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: path)
        }
        let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count + (abstract ? 0 : 1)
        address = withUnsafeBytes(of: &addr) { Array($0.prefix(length)) }
        let s = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { return nil }
        fd = s
        socketName = name
    }

    deinit { close(fd) }

    /// Sends `KEY=value` lines in one datagram; false if it could not be sent.
    @discardableResult
    public func send(_ lines: String...) -> Bool { send(lines: lines) }

    @discardableResult
    public func send(lines: [String]) -> Bool {
        let message = Array(lines.joined(separator: "\n").utf8)
        let sent = message.withUnsafeBytes { m in
            address.withUnsafeBytes { a in
                sendto(fd, m.baseAddress, m.count, Int32(MSG_NOSIGNAL),
                       a.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(a.count))
            }
        }
        return sent == message.count
    }

    /// Configuration checked, network built, every socket bound.
    public func ready(status: String) { send("READY=1", "STATUS=\(Self.oneLine(status))") }

    public func status(_ line: String) { send("STATUS=\(Self.oneLine(line))") }

    public func watchdog() { send("WATCHDOG=1") }

    public func stopping(status: String) { send("STOPPING=1", "STATUS=\(Self.oneLine(status))") }

    /// For a configuration reload: systemd waits for the next `READY=1`.
    /// `MONOTONIC_USEC` (CLOCK_MONOTONIC) lets it match this message to the
    /// reload it asked for (`Type=notify-reload`, systemd ≥ 253).
    public func reloading(status: String = "reloading the configuration") {
        let usec = monotonicNanoseconds() / 1000
        send("RELOADING=1", "MONOTONIC_USEC=\(usec)", "STATUS=\(Self.oneLine(status))")
    }

    /// `STATUS=` is one line: newlines would start new assignments.
    static func oneLine(_ s: String) -> String {
        String(s.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }

    /// The watchdog interval systemd expects pings within (`$WATCHDOG_USEC`), in
    /// ns; nil when there is no watchdog or it is meant for another process
    /// (`$WATCHDOG_PID`).
    public static func watchdogInterval() -> Int64? {
        if let pid = getenv("WATCHDOG_PID"), let p = Int32(String(cString: pid)), p != getpid() { return nil }
        guard let raw = getenv("WATCHDOG_USEC"), let usec = Int64(String(cString: raw)), usec > 0 else { return nil }
        return usec * 1000
    }
}

/// Ties a running daemon to its service manager: `READY=1` once `Daemon.start()`
/// returned, `STATUS=` every second, `WATCHDOG=1` every half watchdog interval
/// while the loop is healthy, `STOPPING=1` when it stops.
///
/// Runs on its own thread at normal priority (never the loop thread). The loop
/// is healthy when its heartbeat (`LoopShared.heartbeat`) advanced within the
/// last `max(interval / 2, 100 ms)`: the loop beats on every tick, and in
/// lockstep, waiting for a simulator's frame, whenever this thread wakes it
/// (when no beat came since its last look), so an idle simulator does not get
/// the daemon restarted, but a loop that
/// stopped ticking (stuck in a tick, or stalled) stops the pings and systemd
/// restarts the service after `WatchdogSec=`.
public final class ServiceLink: @unchecked Sendable {
    public let notifier: ServiceNotifier
    private let daemon: Daemon
    private let watchdogInterval: Int64?
    private let finished = Atomic<Bool>(false)
    private var thread: WorkerThread?
    /// Pings sent (tests, logs).
    public let pings = Atomic<Int>(0)

    public init(notifier: ServiceNotifier, daemon: Daemon, watchdogInterval: Int64? = ServiceNotifier.watchdogInterval()) {
        self.notifier = notifier
        self.daemon = daemon
        self.watchdogInterval = watchdogInterval
    }

    /// Call once `Daemon.start()` returned: sends `READY=1` and starts the thread.
    public func daemonStarted() {
        notifier.ready(status: statusLine())
        thread = WorkerThread { [self] in
            RealtimeSetup.nameThread("spikeloop-notify")
            run()
        }
    }

    /// `STOPPING=1`; the pings end. Call before the daemon's threads are joined.
    public func daemonStopping() {
        finished.store(true, ordering: .releasing)
        notifier.stopping(status: "stopping: motors to their safe values; " + statusLine())
        thread?.join()
        thread = nil
    }

    /// Mode, tick rate, state, ticks, overruns, safe state.
    public func statusLine() -> String {
        let s = daemon.shared
        let l = daemon.config.loop
        let reasons = s.reasons.names
        return "\(l.mode.rawValue) \(Int(l.tickRate)) Hz, \(s.state.name), ticks \(s.ticks.load(ordering: .relaxed)), "
            + "overruns \(s.overruns.load(ordering: .relaxed)), "
            + (reasons.isEmpty ? "motors follow the controller" : "safe: \(reasons.joined(separator: ", "))")
    }

    private func run() {
        let clock = MonotonicClock()
        let half = watchdogInterval.map { max($0 / 2, 1_000_000) }
        let staleAfter = max(half ?? 0, 100_000_000)
        let poll = min(20_000_000, half.map { max($0 / 4, 1_000_000) } ?? 20_000_000)
        let shared = daemon.shared
        var lastBeat = shared.heartbeat.load(ordering: .relaxed)
        var lastBeatSeen = clock.now()
        var nextPing = half.map { lastBeatSeen + $0 } ?? .max
        var nextStatus = lastBeatSeen + 1_000_000_000
        while !finished.load(ordering: .acquiring) && !shared.stopRequested.load(ordering: .acquiring) {
            clock.sleep(until: min(clock.now() + poll, nextPing))
            let now = clock.now()
            let beat = shared.heartbeat.load(ordering: .relaxed)
            if beat != lastBeat {
                lastBeat = beat
                lastBeatSeen = now
            } else {
                shared.wakeup.signal()  // an idle lockstep loop beats when woken
            }
            if let half, now >= nextPing {
                if now - lastBeatSeen <= staleAfter {
                    notifier.watchdog()
                    pings.add(1, ordering: .relaxed)
                }
                // Keep the phase; after a long sleep, start over from now.
                nextPing = max(nextPing + half, now + half / 2)
            }
            if now >= nextStatus {
                notifier.status(statusLine())
                nextStatus += 1_000_000_000
            }
        }
    }
}

/// Test-only hooks, enabled with `SPIKELOOP_TEST_HOOKS=1` in the environment
/// (never in the unit): SIGUSR1 makes the loop stall (`LoopShared.Requests.stall`:
/// it stops ticking and answering), to exercise the systemd watchdog.
public enum ServiceTestHooks {
    public static let enabled: Bool = getenv("SPIKELOOP_TEST_HOOKS").map { String(cString: $0) == "1" } ?? false

    /// Blocks SIGUSR1 in the calling thread and the threads it starts later;
    /// call before any thread is started.
    public static func blockSignals() {
        guard enabled else { return }
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGUSR1)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Waits for SIGUSR1 on a thread of its own and stalls the loop when it comes.
    public static func start(_ daemon: Daemon, log: @escaping @Sendable (String) -> Void) {
        guard enabled else { return }
        _ = WorkerThread {
            RealtimeSetup.nameThread("spikeloop-hooks")
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGUSR1)
            while !daemon.shared.stopRequested.load(ordering: .acquiring) {
                var timeout = timespec(tv_sec: 0, tv_nsec: 100_000_000)
                if sigtimedwait(&set, nil, &timeout) == SIGUSR1 {
                    log("test hook: SIGUSR1, the loop stalls")
                    daemon.shared.request(.stall)
                }
            }
        }
    }
}
