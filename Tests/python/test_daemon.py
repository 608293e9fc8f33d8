"""The controller daemon end to end: `spikeloop run` against the Python client."""

import math
import os
import pathlib
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import ARM, spikeloop_binary
import zmq

from spikeloop_client import LockstepClient, Operator, RealtimeRobot
from spikeloop_client.client import SpikeloopError
from spikeloop_client.gen.spikeloop.v1 import spikeloop_pb2 as pb
from spikeloop_client.layout import Channel, Layout
from spikeloop_client.testing import float_bits

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"


def scripted(tick: int):
    """The scripted robot: two joints moving on incommensurate sines, float32-exact."""
    import struct
    def f32(x):
        return struct.unpack("<f", struct.pack("<f", x))[0]
    return [f32(0.9 * math.sin(2 * math.pi * 0.7 * tick / 1000)), f32(0.8 * math.cos(2 * math.pi * 0.31 * tick / 1000))]


def config_copy(tmp: pathlib.Path, name: str, **replacements) -> pathlib.Path:
    """The fixture configuration with endpoints moved into `tmp` (and any other text replaced)."""
    source = FIXTURES / "closed_loop"
    for f in source.iterdir():
        shutil.copy(f, tmp / f.name)
    text = (tmp / "controller.yaml").read_text()
    text = text.replace("ipc:///tmp/spikeloop-closed-loop-frames", f"ipc://{tmp}/frames")
    text = text.replace("ipc:///tmp/spikeloop-closed-loop-control", f"ipc://{tmp}/control")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp / name
    path.write_text(text)
    return path


@pytest.fixture
def tmp():
    # IPC paths must stay short: a folder in /tmp rather than pytest's tmp_path.
    folder = pathlib.Path(tempfile.mkdtemp(prefix="sld-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


class Daemon:
    def __init__(self, config: pathlib.Path, *args):
        self.process = subprocess.Popen([str(spikeloop_binary()), "run", "--config", str(config), *map(str, args)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            if "ready:" in line:
                return
        self.process.kill()
        raise AssertionError("daemon did not become ready:\n" + "".join(self.lines) + self.process.stderr.read())

    def finish(self, timeout=30):
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, "".join(self.lines) + err


def test_closed_loop_matches_offline_computation_bit_for_bit(tmp):
    """10 s at 1 kHz in lockstep: every command equals the offline encoder → network → decoder result."""
    config = config_copy(tmp, "controller.yaml")
    ticks = 10_000
    daemon = Daemon(config, "--duration", "10s")
    commands = []
    with LockstepClient(f"ipc://{tmp}/frames", ARM) as sim:
        for tick in range(1, ticks + 1):
            command = sim.step(scripted(tick), sim_time_ns=tick * 1_000_000)
            assert command.sensor_sequence == tick
            assert not command.safe_stop
            commands.append([float_bits(v) for v in command.values])
    status, log = daemon.finish()
    assert status == 0, log

    sensors = tmp / "sensors.csv"
    sensors.write_text("joint1.angle,joint2.angle\n" + "".join(
        ",".join(f"{float_bits(v):08x}" for v in scripted(t)) + "\n" for t in range(1, ticks + 1)))
    offline = subprocess.run([str(spikeloop_binary()), "offline", "--config", str(config), "--sensors", str(sensors), "--bits"],
                             capture_output=True, text=True, check=True)
    expected = [[int(x, 16) for x in line.split(",")] for line in offline.stdout.splitlines()[1:]]
    assert len(expected) == ticks
    first = next((i for i in range(ticks) if commands[i] != expected[i]), None)
    assert first is None, f"tick {first + 1}: daemon {commands[first]}, offline {expected[first]}"
    # The controller did something: the commands vary.
    assert len({tuple(c) for c in commands}) > 100


def test_control_channel_pause_reset_status(tmp):
    config = config_copy(tmp, "controller.yaml")
    daemon = Daemon(config)
    operator = Operator(f"ipc://{tmp}/control", timeout_ms=3000)
    try:
        with LockstepClient(f"ipc://{tmp}/frames", ARM) as sim:
            first = [sim.step(scripted(t)).values for t in range(1, 201)]
            status = operator.status()
            assert status.state == pb.LOOP_STATE_RUNNING
            assert status.stats.ticks == 200
            assert status.stats.mode == "lockstep"
            operator.pause()
            paused = sim.step(scripted(201))
            assert paused.safe_stop and list(paused.values) == [0.0, 0.0]
            assert operator.status().state == pb.LOOP_STATE_PAUSED
            operator.reset()
            operator.resume()
            # After a reset the network starts over: the same inputs give the same commands.
            again = [sim.step(scripted(t)).values for t in range(1, 201)]
            assert [[float_bits(v) for v in c] for c in again] == [[float_bits(v) for v in c] for c in first]
            operator.safe_stop()
            assert sim.step(scripted(1)).safe_stop
            operator.resume()
            assert not sim.step(scripted(2)).safe_stop
        operator.shutdown()
    finally:
        operator.close()
    status, log = daemon.finish()
    assert status == 0, log


def realtime_config(tmp, watchdog="100 ms", auto_resume="true"):
    return config_copy(tmp, "realtime.yaml", **{
        "mode: lockstep": "mode: realtime",
        "watchdog_timeout: 100 ms": f"watchdog_timeout: {watchdog}",
        "auto_resume: true": f"auto_resume: {auto_resume}",
        f"frames: ipc://{tmp}/frames": f"frames: ipc://{tmp}/frames\n  commands: ipc://{tmp}/commands",
    })


def realtime_daemon_with(tmp, realtime):
    """The realtime arm daemon with `loop.realtime` set to `realtime` (YAML flow mapping)."""
    config = realtime_config(tmp)
    config.write_text(config.read_text().replace("  auto_resume: true", f"  auto_resume: true\n  realtime: {realtime}"))
    return Daemon(config)


def wait_until_commanding(robot, values=(0.5, 0.5)):
    """Publishes `values` until the daemon answers with a command that is not a safe stop."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        robot.publish(list(values))
        c = robot.latest_command(timeout_ms=1)
        if c is not None and not c.safe_stop:
            return
    pytest.fail("the daemon never ran")


def test_watchdog_holds_motors_safe_within_timeout_plus_one_tick(tmp):
    """Frames stop mid-run: every motor is at its safe value within watchdog_timeout + one tick; resume needs an operator."""
    config = realtime_config(tmp, watchdog="50 ms", auto_resume="false")
    daemon = Daemon(config)
    operator = Operator(f"ipc://{tmp}/control", timeout_ms=3000)
    try:
        with RealtimeRobot(f"ipc://{tmp}/frames", f"ipc://{tmp}/commands", ARM) as robot:
            # Run with frames at 1 kHz until the controller commands non-safe values.
            deadline = time.monotonic() + 5
            running = None
            while time.monotonic() < deadline:
                robot.publish([0.5, 0.5])
                c = robot.latest_command(timeout_ms=1)
                if c is not None and not c.safe_stop:
                    running = c
                time.sleep(0.001)
            assert running is not None, "the daemon never left its start-up safe state"
            last_frame = time.monotonic()
            # Frames stop. Watch the commands until they are safe.
            safe_at = None
            while time.monotonic() - last_frame < 1.0:
                c = robot.latest_command(timeout_ms=5)
                if c is not None and c.safe_stop and list(c.values) == [0.0, 0.0]:
                    safe_at = time.monotonic()
                    break
            assert safe_at is not None, "motors never went safe after frames stopped"
            # 50 ms timeout + 1 ms tick, plus the delivery of that command to this process.
            assert safe_at - last_frame < 0.050 + 0.001 + 0.020, f"safe after {1000 * (safe_at - last_frame):.1f} ms"
            # Frames return: still safe until an operator resumes.
            for _ in range(50):
                robot.publish([0.5, 0.5])
                time.sleep(0.001)
            assert "awaiting resume" in list(operator.status().stats.safe_reasons)
            c = robot.latest_command(timeout_ms=20)
            assert c is not None and c.safe_stop
            operator.resume()
            resumed = False
            for _ in range(200):
                robot.publish([0.5, 0.5])
                c = robot.latest_command(timeout_ms=2)
                if c is not None and not c.safe_stop:
                    resumed = True
                    break
            assert resumed
        operator.shutdown()
    finally:
        operator.close()
    status, log = daemon.finish()
    assert status == 0, log


def test_sigterm_sends_the_safe_command_last_and_exits_zero_within_a_second(tmp):
    config = realtime_config(tmp)
    daemon = Daemon(config)
    with RealtimeRobot(f"ipc://{tmp}/frames", f"ipc://{tmp}/commands", ARM) as robot:
        wait_until_commanding(robot, [0.9, -0.9])
        # Read while the daemon stops: once it has exited, libzmq may discard
        # what its closed pipe still held.
        received = []
        reading = threading.Event()
        reading.set()

        def read():
            while reading.is_set():
                c = robot.latest_command(timeout_ms=10)
                if c is not None:
                    received.append(c)

        reader = threading.Thread(target=read)
        reader.start()
        sent = time.monotonic()
        daemon.process.send_signal(signal.SIGTERM)
        status, log = daemon.finish(timeout=5)
        elapsed = time.monotonic() - sent
        time.sleep(0.3)
        reading.clear()
        reader.join()
        last = received[-1] if received else None
    assert status == 0, log
    assert elapsed < 1.0, f"exit took {elapsed:.3f} s"
    assert last is not None and last.safe_stop and list(last.values) == [0.0, 0.0]
    assert "SIGTERM" in log


def test_bad_configuration_refuses_to_start(tmp):
    config = config_copy(tmp, "bad.yaml", **{"tick_rate: 1 kHz": "tick_rate: 3 kHz"})
    result = subprocess.run([str(spikeloop_binary()), "run", "--config", str(config)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "loop.tick_rate" in result.stderr and "not a whole number of steps" in result.stderr


def test_telemetry_publishes_loop_stats_every_second(tmp):
    config = config_copy(tmp, "telemetry.yaml", **{
        f"control: ipc://{tmp}/control": f"control: ipc://{tmp}/control\n  telemetry: ipc://{tmp}/telemetry",
    })
    daemon = Daemon(config)
    context = zmq.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"/loop_stats")
    sub.connect(f"ipc://{tmp}/telemetry")
    try:
        with LockstepClient(f"ipc://{tmp}/frames", ARM) as sim:
            for t in range(1, 501):
                sim.step(scripted(t))
        stats = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and len(stats) < 2:
            if sub.poll(100):
                topic, _, data = sub.recv_multipart()
                assert topic == b"/loop_stats"
                stats.append(pb.LoopStats.FromString(data))
        assert len(stats) == 2
        assert stats[-1].ticks == 500 and stats[-1].mode == "lockstep" and stats[-1].tick_hz == 1000
        assert stats[-1].tick_ns_p50 > 0 and stats[-1].frames_accepted == 500
        assert 0.5e9 < stats[1].time_ns - stats[0].time_ns < 1.5e9
        Operator(f"ipc://{tmp}/control").shutdown()
    finally:
        sub.close(0)
        context.term()
    status, log = daemon.finish()
    assert status == 0, log


def read_cpu_dma_latency():
    with open("/dev/cpu_dma_latency", "rb") as f:
        return struct.unpack("<i", f.read(4))[0]


@pytest.mark.skipif(not os.access("/dev/cpu_dma_latency", os.W_OK),
                    reason="needs write access to /dev/cpu_dma_latency (CI runs as root)")
def test_realtime_loop_holds_the_cpu_wakeup_latency_only_while_it_runs(tmp):
    """loop.realtime.cpu_latency: the kernel's PM QoS target is 0 µs while the loop runs, and back after."""
    before = read_cpu_dma_latency()
    assert before > 0, "another process already holds a 0 µs request; the check would prove nothing"
    daemon = realtime_daemon_with(tmp, "{cpu_latency: 0 us}")
    with RealtimeRobot(f"ipc://{tmp}/frames", f"ipc://{tmp}/commands", ARM) as robot:
        wait_until_commanding(robot)
        held = read_cpu_dma_latency()
        daemon.process.send_signal(signal.SIGTERM)
        status, log = daemon.finish(timeout=5)
    assert status == 0, log
    assert held == 0, f"PM QoS target {held} µs while the loop ran"
    assert "holding a CPU wake-up latency of 0 µs" in log
    assert read_cpu_dma_latency() == before


def allowed_cpus(text):
    """The CPU set of a Cpus_allowed_list line ("0-1,3") as a set of ints."""
    cpus = set()
    for part in text.strip().split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs this process may use")
def test_a_pinned_loop_has_its_cpu_to_itself(tmp):
    """loop.realtime.cpu: the loop thread runs only there, and every other thread of the daemon
    (ZeroMQ's I/O threads, started from the loop thread, included) only elsewhere."""
    cpu = max(os.sched_getaffinity(0))
    daemon = realtime_daemon_with(tmp, f"{{cpu: {cpu}}}")
    with RealtimeRobot(f"ipc://{tmp}/frames", f"ipc://{tmp}/commands", ARM) as robot:
        wait_until_commanding(robot)
        threads = {}
        for task in pathlib.Path(f"/proc/{daemon.process.pid}/task").iterdir():
            status = dict(line.split(":", 1) for line in (task / "status").read_text().splitlines() if ":" in line)
            threads[task.name] = (status["Name"].strip(), allowed_cpus(status["Cpus_allowed_list"]))
        daemon.process.send_signal(signal.SIGTERM)
        status, log = daemon.finish(timeout=5)
    assert status == 0, log
    loops = [cpus for name, cpus in threads.values() if name == "spikeloop-loop"]
    assert loops == [{cpu}], threads
    others = {tid: (name, cpus) for tid, (name, cpus) in threads.items() if name != "spikeloop-loop"}
    assert len(others) >= 3 and all(cpu not in cpus for _, cpus in others.values()), others
    assert f"the loop has CPU {cpu} to itself" in log
