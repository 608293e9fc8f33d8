"""`simulator.disturbances` from the command line (docs/simulators.md): the
in-process LQR balances through pushes it can take and a sensor delay, falls
under pushes it cannot, and bad values are refused with their key."""

import random
import re
import subprocess

from conftest import ROOT, spikeloop_binary


def sim(*args):
    return subprocess.run([str(spikeloop_binary()), "sim", "--robot", str(ROOT / "Robots/cartpole.yaml"), "--controller", "lqr",
                           *args], capture_output=True, text=True, timeout=120)


def test_pushes_and_delays_reach_the_plant():
    seed = random.randrange(1, 10**6)
    gentle = "disturbances={push: {motor: cart.force, value: 3, duration: 0.1, every: 1}, sensor_delay: 2, sensor_noise: {pole.angle: 0.001}}"
    result = sim("--duration", "5s", "--seed", str(seed), "--set", gentle)
    assert result.returncode == 0, result.stderr
    assert "disturbances noise sd pole.angle 0.001; sensor delay 2 ticks; push cart.force 3.0 for 0.1 s every 1.0 s from 1.0 s (alternate)" in result.stdout
    assert re.search(r"episode 1 .*pushes 4", result.stdout) and "FAILED" not in result.stdout, result.stdout
    hard = "disturbances={push: {motor: cart.force, value: 200, duration: 0.2, every: 1}}"
    result = sim("--duration", "5s", "--seed", str(seed), "--set", hard)
    assert result.returncode == 0 and "FAILED" in result.stdout, result.stdout   # 200 N for 0.2 s topples any 10 N controller
    clean = sim("--duration", "5s", "--seed", str(seed))
    assert "disturbances" not in clean.stdout


def test_bad_disturbances_are_refused_with_their_key():
    for value, expected in [("{sensor_delay: -1}", "--set disturbances.sensor_delay: '-1' must be a whole number of ticks in 0…10000"),
                            ("{sensor_noise: {x: 1}}", "--set disturbances.sensor_noise.x: no such sensor"),
                            ("{push: {motor: cart.force}}", "--set disturbances.push.value: missing")]:
        result = sim("--set", f"disturbances={value}")
        assert result.returncode != 0 and expected in result.stderr, (value, result.stderr)
