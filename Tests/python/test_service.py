"""`spikeloop run` under a service manager: this test plays systemd's side of
the notify protocol (sd_notify(3)): it binds NOTIFY_SOCKET (a filesystem path
and an abstract socket), sets WATCHDOG_USEC, and checks READY=1, STATUS=,
WATCHDOG=1 (rate, and that it stops when the loop stalls) and STOPPING=1."""

import math
import os
import pathlib
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import ARM, spikeloop_binary

from spikeloop_client import LockstepClient, Operator
from spikeloop_client.client import SpikeloopError
from spikeloop_client.layout import Channel, Layout

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures" / "closed_loop"

WATCHDOG_USEC = 200_000          # systemd pings expected every 100 ms (half)
PING_PERIOD = WATCHDOG_USEC / 2 / 1e6

@pytest.fixture
def tmp():
    # IPC and notify socket paths must stay short: a folder in /tmp.
    folder = pathlib.Path(tempfile.mkdtemp(prefix="sls-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def lockstep_config(tmp: pathlib.Path) -> pathlib.Path:
    for f in FIXTURES.iterdir():
        shutil.copy(f, tmp / f.name)
    text = (tmp / "controller.yaml").read_text()
    text = text.replace("ipc:///tmp/spikeloop-closed-loop-frames", f"ipc://{tmp}/frames")
    text = text.replace("ipc:///tmp/spikeloop-closed-loop-control", f"ipc://{tmp}/control")
    path = tmp / "controller.yaml"
    path.write_text(text)
    return path


class SystemdStandIn:
    """The manager's end of NOTIFY_SOCKET: collects (monotonic time, {key: value}) per datagram."""

    def __init__(self, tmp: pathlib.Path, kind: str):
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if kind == "path":
            path = str(tmp / "notify")
            self.socket.bind(path)
            self.address = path
        else:
            name = f"spikeloop-test-{os.getpid()}-{tmp.name}"
            self.socket.bind("\0" + name)
            self.address = "@" + name
        self.socket.settimeout(0.05)
        self.messages = []
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self):
        while not self.done:
            try:
                data = self.socket.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.monotonic()
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
            with self.lock:
                self.messages.append((now, fields))

    def wait_for(self, key: str, value: str = None, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for t, m in self.messages:
                    if key in m and (value is None or m[key] == value):
                        return t, m
            time.sleep(0.002)
        raise AssertionError(f"no {key}={value or ''} within {timeout} s; got {self.snapshot()}")

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def pings(self, start: float, end: float) -> list:
        return [t for t, m in self.snapshot() if m.get("WATCHDOG") == "1" and start <= t < end]

    def close(self):
        self.done = True
        self.thread.join()
        self.socket.close()


def start_daemon(config: pathlib.Path, notify: SystemdStandIn, **extra) -> subprocess.Popen:
    env = dict(os.environ, NOTIFY_SOCKET=notify.address, WATCHDOG_USEC=str(WATCHDOG_USEC),
               SPIKELOOP_TEST_HOOKS="1", **extra)
    return subprocess.Popen([str(spikeloop_binary()), "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


class Stepper:
    """A simulator in a thread: steps frames back to back until stopped or the daemon stops answering."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.steps = 0
        self.timed_out = False
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        with LockstepClient(self.endpoint, ARM, timeout_ms=1000) as sim:
            while not self.stop:
                t = self.steps + 1
                try:
                    sim.step([0.5 * math.sin(t / 100), 0.3], sim_time_ns=t * 1_000_000)
                except SpikeloopError:
                    self.timed_out = True
                    return
                self.steps = t
                time.sleep(0.0005)

    def finish(self):
        self.stop = True
        self.thread.join(timeout=5)


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_notify_ready_watchdog_stall_stopping(tmp, kind):
    config = lockstep_config(tmp)
    notify = SystemdStandIn(tmp, kind)
    daemon = start_daemon(config, notify)
    stepper = None
    try:
        # READY=1 only once the configuration is checked, the network built and
        # every socket bound: at that moment the control socket answers.
        t_ready, ready = notify.wait_for("READY", "1")
        assert (tmp / "control").exists() and (tmp / "frames").exists()
        operator = Operator(f"ipc://{tmp}/control", timeout_ms=1000)
        try:
            status = operator.status()
        finally:
            operator.close()
        t_answer = time.monotonic()
        assert status.stats.mode == "lockstep"
        assert t_answer - t_ready < 1.0
        # Nothing but READY's STATUS came before READY.
        first = notify.snapshot()[0][1]
        assert first.get("READY") == "1", first
        assert ready["STATUS"].startswith("lockstep 1000 Hz, waiting for frames, ticks 0, overruns 0"), ready

        # Idle in lockstep (no simulator yet): the loop is healthy, systemd gets
        # its ping every WATCHDOG_USEC / 2 = 100 ms.
        time.sleep(0.3)
        t0 = time.monotonic()
        time.sleep(1.0)
        idle = notify.pings(t0, t0 + 1.0)
        assert 8 <= len(idle) <= 12, f"idle: {len(idle)} pings in 1 s"

        # Ticking: the same rate.
        stepper = Stepper(f"ipc://{tmp}/frames")
        time.sleep(0.3)
        t0 = time.monotonic()
        steps0 = stepper.steps
        time.sleep(1.0)
        ticking = notify.pings(t0, t0 + 1.0)
        assert stepper.steps - steps0 > 100, "the simulator did not get ticks"
        assert 8 <= len(ticking) <= 12, f"ticking: {len(ticking)} pings in 1 s"
        intervals = [b - a for a, b in zip(ticking, ticking[1:])]
        assert all(0.05 < d < 0.15 for d in intervals), intervals
        _, status_message = notify.wait_for("STATUS")
        statuses = [m["STATUS"] for _, m in notify.snapshot() if "STATUS" in m]
        assert any("running" in s and "overruns 0" in s for s in statuses), statuses

        # The loop stalls (test hook): the pings stop within one ping period
        # plus the 100 ms the watchdog allows a beat to be late.
        t_stall = time.monotonic()
        daemon.send_signal(signal.SIGUSR1)
        stepper.thread.join(timeout=5)
        assert stepper.timed_out, "the stalled loop still answered"
        time.sleep(1.2)
        late = notify.pings(t_stall + 0.25, time.monotonic())
        assert late == [], f"{len(late)} pings after the stall"
        assert notify.pings(t_stall - 0.5, t_stall), "no pings just before the stall"

        # SIGTERM: STOPPING=1, exit 0.
        daemon.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING", "1", timeout=5)
        _, err = daemon.communicate(timeout=10)
        assert daemon.returncode == 0, err
        assert "test hook: SIGUSR1" in err
    finally:
        if stepper:
            stepper.finish()
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
        notify.close()


def test_no_watchdog_no_test_hook_by_default(tmp):
    """Without WATCHDOG_USEC no pings; without SPIKELOOP_TEST_HOOKS=1 SIGUSR1 is not
    caught (its default action ends the process): the stall hook is test-only."""
    config = lockstep_config(tmp)
    notify = SystemdStandIn(tmp, "path")
    env = {k: v for k, v in os.environ.items() if k not in ("SPIKELOOP_TEST_HOOKS", "WATCHDOG_USEC", "WATCHDOG_PID")}
    env["NOTIFY_SOCKET"] = notify.address
    daemon = subprocess.Popen([str(spikeloop_binary()), "run", "--config", str(config)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        notify.wait_for("READY", "1")
        time.sleep(0.5)
        assert notify.pings(0, time.monotonic()) == []
        daemon.send_signal(signal.SIGUSR1)
        daemon.communicate(timeout=10)
        assert daemon.returncode == -signal.SIGUSR1
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
        notify.close()
