"""SIGHUP and the control channel's `reload`: safe changes take effect at a tick
boundary without a missed tick; changes that need a restart are refused and the
running configuration stays."""

import signal
import subprocess
import time

import pytest

from conftest import ARM, spikeloop_binary
from spikeloop_client import LockstepClient, Operator
from spikeloop_client.client import SpikeloopError
from spikeloop_client.testing import float_bits
from test_daemon import Daemon, config_copy, scripted, tmp  # noqa: F401 (fixture)


def offline_bits(config, tmp, ticks):
    sensors = tmp / "sensors.csv"
    sensors.write_text("joint1.angle,joint2.angle\n" + "".join(
        ",".join(f"{float_bits(v):08x}" for v in scripted(t)) + "\n" for t in range(1, ticks + 1)))
    out = subprocess.run([str(spikeloop_binary()), "offline", "--config", str(config), "--sensors", str(sensors), "--bits"],
                         capture_output=True, text=True, check=True).stdout
    return [[int(x, 16) for x in line.split(",")] for line in out.splitlines()[1:]]


def bits_to_float(b):
    import struct
    return struct.unpack("<f", struct.pack("<I", b))[0]


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met within %.1f s" % timeout)


def test_sighup_applies_safe_changes_at_a_tick_boundary_without_a_missed_tick(tmp):
    config = config_copy(tmp, "controller.yaml")
    ticks = 3000
    daemon = Daemon(config)
    operator = Operator(f"ipc://{tmp}/control", timeout_ms=3000)
    commands = []
    try:
        with LockstepClient(f"ipc://{tmp}/frames", ARM, timeout_ms=2000) as sim:
            before = operator.status().stats
            assert before.config_generation == 1 and before.watchdog_timeout_ns == 100_000_000
            for tick in range(1, ticks + 1):
                if tick == 1000:
                    text = config.read_text()
                    text = text.replace("watchdog_timeout: 100 ms", "watchdog_timeout: 250 ms")
                    text = text.replace("gain: 0.02,", "gain: 0.04,")
                    config.write_text(text)
                    daemon.process.send_signal(signal.SIGHUP)
                # Every frame is answered, in order: no tick is missed while reloading.
                command = sim.step(scripted(tick), sim_time_ns=tick * 1_000_000)
                assert command.sensor_sequence == tick
                commands.append([float_bits(v) for v in command.values])
            after = wait_for(lambda: (s := operator.status().stats).config_generation == 2 and s)
            assert after.watchdog_timeout_ns == 250_000_000
            assert after.reloads_refused == 0
    finally:
        operator.close()
        daemon.process.send_signal(signal.SIGTERM)
    status, log = daemon.finish()
    assert status == 0, log
    applied = [line for line in log.splitlines() if "reload: applied before tick" in line]
    assert len(applied) == 1, log
    assert "loop.watchdog_timeout: 100.0 ms → 250.0 ms" in applied[0]
    assert "decoder joint1.torque: mapping parameters changed" in applied[0]
    first_new = int(applied[0].split("applied before tick ")[1].split(":")[0])
    assert 1000 <= first_new <= ticks, applied[0]

    # Before the reload: exactly the offline result with gain 0.02. From the
    # tick it was applied: joint1's push-pull output is doubled (2× is exact
    # in binary floating point), clamped to ±5; joint2 is untouched.
    expected = offline_bits(config_copy(tmp, "original.yaml"), tmp, ticks)
    for t in range(ticks):
        if t + 1 < first_new:
            assert commands[t] == expected[t], f"tick {t + 1}"
        else:
            doubled = max(-5.0, min(5.0, 2 * bits_to_float(expected[t][0])))
            assert commands[t][0] == float_bits(doubled), f"tick {t + 1}"
            assert commands[t][1] == expected[t][1], f"tick {t + 1}"
    assert sum(1 for t in range(first_new - 1, ticks) if expected[t][0] != commands[t][0]) > 100


def test_sighup_refuses_a_tick_rate_change_and_keeps_running(tmp):
    config = config_copy(tmp, "controller.yaml")
    daemon = Daemon(config)
    operator = Operator(f"ipc://{tmp}/control", timeout_ms=3000)
    try:
        with LockstepClient(f"ipc://{tmp}/frames", ARM, timeout_ms=2000) as sim:
            for tick in range(1, 501):
                sim.step(scripted(tick))
            config.write_text(config.read_text().replace("tick_rate: 1 kHz", "tick_rate: 500 Hz")
                              .replace("watchdog_timeout: 100 ms", "watchdog_timeout: 300 ms"))
            daemon.process.send_signal(signal.SIGHUP)
            wait_for(lambda: operator.status().stats.reloads_refused == 1)
            for tick in range(501, 1001):
                assert sim.step(scripted(tick)).sensor_sequence == tick
            stats = operator.status().stats
            assert stats.ticks == 1000 and stats.tick_hz == 1000
            # Nothing of the refused file was taken, not even its safe part.
            assert stats.config_generation == 1 and stats.watchdog_timeout_ns == 100_000_000

            # A file that does not parse is refused the same way, through the control channel too.
            config.write_text(config.read_text().replace("tick_rate: 500 Hz", "tick_rate: fast"))
            with pytest.raises(SpikeloopError, match="tick_rate"):
                operator.reload()
            assert sim.step(scripted(1001)).sensor_sequence == 1001
    finally:
        operator.close()
        daemon.process.send_signal(signal.SIGTERM)
    status, log = daemon.finish()
    assert status == 0, log
    refused = [line for line in log.splitlines() if "reload refused" in line]
    assert len(refused) == 2, log
    assert "loop.tick_rate: 1000.0 Hz → 500.0 Hz" in refused[0]
    assert "needs a restart" in refused[0] or "need a restart" in refused[0]
