"""`simulator.disturbances`, `initial_state` and `randomize` in the MuJoCo bridge
(Bridges/mujoco/README.md, docs/simulators.md): each against an undisturbed run
of the same seed, the same draws as the built-in simulator's, and bad settings
refused by name."""

import math
import pathlib
import random
import re
import subprocess
import sys

import mujoco
import numpy as np
import pytest

from conftest import spikeloop_binary
from test_bridges import Daemon

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "Bridges" / "mujoco")]

from spikeloop_client.disturbances import (DisturbanceState, Disturbances, EpisodeConditions, Settings,  # noqa: E402
                                           SimRandom)
from spikeloop_mujoco import MappingError, MujocoRobot, load_setup, make_task  # noqa: E402

CARTPOLE = ROOT / "Robots" / "cartpole.yaml"
SENSORS = ["cart.x", "cart.v", "pole.angle", "pole.rate"]


def cartpole(*assignments):
    setup = load_setup(str(CARTPOLE))
    settings = Settings(str(CARTPOLE), dict(setup.robot.simulator)).setting(assignments)
    setup.robot.simulator = settings.mapping
    task = make_task(setup)
    return MujocoRobot(setup, task, 1000, settings)


def run(robot, seed, commands):
    """Frames and true readings per tick for an open-loop command sequence."""
    robot.conditions.begin(robot.data, seed)
    robot.time = 0.0
    frames, truth, states = [], [], []
    for u in commands:
        mujoco.mj_forward(robot.model, robot.data)
        truth.append([r.read(robot.data) for r in robot.setup.sensors])
        frames.append(robot.sensors())
        states.append(np.concatenate([robot.data.qpos, robot.data.qvel]))
        robot.apply([u])
    return np.array(frames), np.array(truth), np.array(states)


def test_sensor_delay_noise_bias_and_quantization():
    seed = random.randrange(1, 10**6)
    rng = np.random.default_rng(seed)
    commands = list(rng.uniform(-2, 2, 400))
    _, clean, states = run(cartpole(), seed, commands)
    delay = int(rng.integers(1, 6))
    frames, _, states_delayed = run(cartpole(f"disturbances={{sensor_delay: {delay}}}"), seed, commands)
    assert np.array_equal(states, states_delayed)                     # the plant is the same
    assert np.array_equal(frames[delay:], clean[:-delay])             # a frame carries the reading of n ticks before
    assert all(np.array_equal(f, clean[0]) for f in frames[:delay])   # the first reading until then
    noisy, _, _ = run(cartpole("disturbances={sensor_noise: {pole.angle: 0.01}, sensor_bias: {cart.x: 0.5}}"),
                      seed, commands)
    residual = noisy[:, 2] - clean[:, 2]
    assert abs(residual.mean()) < 4 * 0.01 / math.sqrt(len(residual)) and 0.0085 < residual.std() < 0.0115
    assert abs(np.corrcoef(residual[1:], residual[:-1])[0, 1]) < 0.2
    assert np.allclose(noisy[:, 0], clean[:, 0] + 0.5) and np.array_equal(noisy[:, 1], clean[:, 1])
    coarse, _, _ = run(cartpole("disturbances={quantization: {pole.rate: 0.05}}"), seed, commands)
    assert np.allclose(coarse[:, 3] / 0.05, np.round(coarse[:, 3] / 0.05), atol=1e-9)
    assert np.all(np.abs(coarse[:, 3] - clean[:, 3]) <= 0.025 + 1e-12)


def test_actuator_delay_and_pushes_act_on_the_plant():
    seed = random.randrange(1, 10**6)
    commands = list(np.random.default_rng(seed).uniform(-2, 2, 600))
    _, _, clean = run(cartpole(), seed, commands)
    _, _, late = run(cartpole("disturbances={actuator_delay: 3}"), seed, commands)
    _, _, shifted = run(cartpole(), seed, [0.0] * 3 + commands[:-3])   # safe value 0 until then
    assert np.array_equal(late, shifted)
    # A push of 4 N from 0.2 s for 0.1 s (alternate: +, −, +) acts as the same force commanded,
    # through qfrc_applied rather than the actuator (so also beyond its ±10 N).
    pushed = cartpole("disturbances={push: {motor: cart.force, value: 4, duration: 0.1, every: 0.2}}")
    _, _, with_push = run(pushed, seed, commands)
    added = [c + (4 if 200 <= t < 300 or 600 <= t < 700 else -4 if 400 <= t < 500 else 0)
             for t, c in enumerate(commands)]
    _, _, as_command = run(cartpole(), seed, added)
    assert pushed.conditions.state.pushes == 2
    assert np.allclose(with_push, as_command, rtol=0, atol=1e-9)
    assert not np.allclose(with_push, clean, atol=1e-3)


def test_initial_state_and_randomized_plant():
    robot = cartpole("initial_state={angle: 0.2, rate: -0.1}",
                     "randomize={pole_mass: {uniform: [0.05, 0.2]}, pole_half_length: {uniform: [0.4, 0.6]}, "
                     "body.cart.mass: {uniform: [0.5, 2]}, cart_friction: {uniform: [0, 0.1]}}")
    m, task = robot.model, robot.task
    pole, cart = int(m.jnt_bodyid[task.angle_joint]), int(m.jnt_bodyid[task.x_joint])
    loaded = {"mass": m.body_mass.copy(), "inertia": m.body_inertia.copy(), "ipos": m.body_ipos.copy()}
    seen = set()
    for seed in random.sample(range(1, 10**6), 5):
        drawn = dict(robot.conditions.begin(robot.data, seed))
        assert robot.data.qpos[task.angle_qpos] == 0.2 and robot.data.qvel[task.angle_dof] == -0.1
        assert 0.05 <= drawn["pole_mass"] <= 0.2 and 0.4 <= drawn["pole_half_length"] <= 0.6
        assert m.body_mass[pole] == drawn["pole_mass"] and m.body_mass[cart] == drawn["body.cart.mass"]
        ratio = drawn["pole_half_length"] / 0.5
        assert m.body_ipos[pole][2] == pytest.approx(0.5 * ratio)
        # A uniform rod: I = m (2l)² / 12 about its centre.
        assert m.body_inertia[pole][0] == pytest.approx(drawn["pole_mass"] * (2 * drawn["pole_half_length"]) ** 2 / 12)
        assert m.dof_frictionloss[task.x_dof] == drawn["cart_friction"]
        seen.add(round(drawn["pole_mass"], 9))
    assert len(seen) == 5
    plain = cartpole()   # a fresh robot: the model as loaded
    for key in ("mass", "inertia", "ipos"):
        assert np.array_equal(getattr(plain.model, f"body_{key}"), loaded[key])
    # Without randomize, the initial states are those of the same seeds with it (streams of their own).
    seed = random.randrange(1, 10**6)
    plain.conditions.begin(plain.data, seed)
    other = cartpole("randomize={pole_mass: {uniform: [0.05, 0.2]}}")
    other.conditions.begin(other.data, seed)
    assert np.array_equal(plain.data.qpos, other.data.qpos)


def test_draws_are_the_built_in_simulators():
    """Drawn parameters, push signs and noise come from the built-in streams: `spikeloop sim`
    prints the same parameters for the same seeds, and the same summary lines."""
    seed = random.randrange(1, 10**6)
    sets = ["randomize={pole_mass: {uniform: [0.05, 0.2]}, gravity: {uniform: [9, 10.5]}}",
            "disturbances={sensor_noise: {pole.angle: 0.001}, push: {motor: cart.force, value: 3, duration: 0.1, every: 1, sign: random}}"]
    args = [a for s in sets for a in ("--set", s)]
    p = subprocess.run([str(spikeloop_binary()), "sim", "--robot", str(CARTPOLE), "--controller", "lqr", "--duration", "3s",
                        "--episodes", "3", "--seed", str(seed), *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    robot = cartpole(*sets)
    for k, line in enumerate(l for l in p.stdout.splitlines() if l.startswith("episode ")):
        drawn = robot.conditions.begin(robot.data, seed + k)
        printed = dict(re.findall(r"  (pole_mass|gravity) ([0-9.e+-]+)", line))
        assert {key: f"{value:.4g}" for key, value in drawn} == printed, (line, drawn)
    summary = [l for l in p.stdout.splitlines() if l.startswith(("disturbances", "episodes "))]
    assert robot.conditions.summary() == summary
    # The noise stream: SimRandom's Gaussian has the built-in's Box–Muller form.
    r = SimRandom(seed)
    values = [r.normal() for _ in range(20000)]
    assert abs(np.mean(values)) < 0.03 and abs(np.std(values) - 1) < 0.03


def test_mujoco_and_built_in_run_the_same_disturbed_episodes():
    """The cart-pole SNN through one daemon, in MuJoCo and in the built-in simulator, with the
    same disturbances, start and plant draws: the same pushes and parameters per episode,
    and mean |angle| alike (the same physics, integrated by two simulators)."""
    seed = random.randrange(1, 10**6)
    sets = ["disturbances={sensor_delay: 2, sensor_noise: {pole.angle: 0.002}, push: {motor: cart.force, value: 6, duration: 0.1, every: 1.5}}",
            "randomize={pole_mass: {uniform: [0.07, 0.15]}}", "initial_state={angle: 0.1}"]
    args = [a for s in sets for a in ("--set", s)]
    daemon = Daemon(ROOT / "Config" / "cartpole.yaml")
    try:
        common = ["--endpoint", daemon.frames, "--control", daemon.control, "--episodes", "2", "--duration", "5s",
                  "--seed", str(seed), *args]
        ours = subprocess.run([str(ROOT / "Bridges" / "mujoco" / "spikeloop-mujoco"), "--robot", str(CARTPOLE), *common],
                              capture_output=True, text=True, timeout=120)
        theirs = subprocess.run([str(spikeloop_binary()), "sim", "--robot", str(CARTPOLE), *common],
                                capture_output=True, text=True, timeout=120)
    finally:
        daemon.stop()
    assert ours.returncode == 0 and theirs.returncode == 0, ours.stderr + theirs.stderr
    lines = [[l for l in p.stdout.splitlines() if l.startswith("episode ")] for p in (ours, theirs)]
    for a, b in zip(*lines):
        assert "FAILED" not in a + b, (a, b)
        tail = lambda line: re.search(r"pushes .*$", line).group(0)
        assert tail(a) == tail(b)
        angle = lambda line: float(re.search(r"mean\|angle\| ([0-9.]+)", line).group(1))
        assert angle(a) == pytest.approx(angle(b), rel=0.15), (a, b)


@pytest.mark.parametrize("setting, message", [
    ("disturbances={sensor_noise: {pole.tilt: 0.1}}", "--set disturbances.sensor_noise.pole.tilt: no such sensor"),
    ("disturbances={sensor_delay: -1}", "--set disturbances.sensor_delay: '-1' must be a whole number of ticks"),
    ("disturbances={push: {motor: cart.force, value: 3, duration: 2, every: 1}}",
     "--set disturbances.push.duration: 2.0 s must be shorter than every (1.0 s)"),
    ("disturbances={jitter: 1}", "--set disturbances.jitter: unknown; valid: sensor_noise"),
    ("initial_state={theta: 0.1}", "--set initial_state.theta: unknown; a MuJoCo cartpole task starts from x, v, angle, rate"),
    ("randomize={pole_colour: {uniform: [0, 1]}}", "--set randomize.pole_colour: not a parameter that can vary"),
    ("randomize={body.lid.mass: {uniform: [1, 2]}}", "--set randomize.body.lid.mass: " + str(ROOT / "Robots" / "cartpole.xml") + " has no body named 'lid'"),
    ("randomize={pole_mass: {uniform: [0, 0.2]}}", "--set randomize.pole_mass: the bound 0.0 makes no valid model"),
    ("randomize={pole_mass: {uniform: [0.3, 0.2]}}", "--set randomize.pole_mass: expected {uniform: [lo, hi]} with lo ≤ hi"),
    ("randomize=3", "--set randomize: expected {parameter: {uniform: [lo, hi]}, …}"),
])
def test_bad_settings_are_refused_by_name(setting, message):
    with pytest.raises(MappingError) as e:
        cartpole(setting)
    assert message in str(e.value)
    p = subprocess.run([str(ROOT / "Bridges" / "mujoco" / "spikeloop-mujoco"), "--robot", str(CARTPOLE), "--set", setting],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and message in p.stderr, p.stderr
