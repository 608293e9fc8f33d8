"""Your own plant in three commands (docs/controllers.md, "Your own plant"):
Tools/linearize (linear model, LQR, the robot file and the bridge's mapping),
Tools/snn-controller (the SNN for the law) and Tools/eval-bridges (episodes
in the real simulator through the real daemon)."""

import math
import pathlib
import random
import re
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
import yaml

from conftest import spikeloop_binary
from test_bridges import Daemon

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLANTS = ROOT / "Config" / "plants"
PYTHON = sys.executable

from spikeloop_client.bridge import SimLink  # noqa: E402
from spikeloop_client.robot import load_robot  # noqa: E402


def tool(*args, ok=True):
    p = subprocess.run([PYTHON, str(ROOT / "Tools" / args[0]), *map(str, args[1:])], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    if ok and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return p


def test_linear_model_of_the_mujoco_cartpole_is_the_analytic_one(tmp_path):
    """Robots/cartpole.xml linearised by finite differences of MuJoCo's own RK4 steps against
    the Barto–Sutton–Anderson equations linearised by hand and discretised exactly; the
    LQR of docs/controllers.md (Q = diag(1, 0.1, 10, 0.1), R = 1) from both."""
    tool("linearize", "mujoco", "--robot", ROOT / "Robots" / "cartpole.yaml", "--q", "1,0.1,10,0.1", "--r", "1",
         "--episodes", "2", "--duration", "2", "--out", tmp_path)
    design = yaml.safe_load((tmp_path / "design.yaml").read_text())
    # x, θ, v, ω (MuJoCo's qpos, qvel): θ̈ = (g θ − F/M) / (l (4/3 − m/M)), ẍ = (F − m l θ̈) / M.
    mc, m, l, g = 1.0, 0.1, 0.5, 9.8
    total = mc + m
    d = l * (4 / 3 - m / total)
    a_theta, b_theta = g / d, -1 / (total * d)
    a_x, b_x = -m * l * a_theta / total, (1 - m * l * b_theta) / total
    ac = np.array([[0, 0, 1, 0], [0, 0, 0, 1], [0, a_x, 0, 0], [0, a_theta, 0, 0]], float)
    bc = np.array([[0], [0], [b_x], [b_theta]], float)
    block = scipy.linalg.expm(np.block([[ac, bc], [np.zeros((1, 5))]]) * 0.001)
    ad, bd = block[:4, :4], block[:4, 4:]
    assert np.allclose(design["lqr"]["A"], ad, rtol=1e-5, atol=2e-8), (design["lqr"]["A"], ad)
    assert np.allclose(design["lqr"]["B"], bd, rtol=1e-5, atol=2e-9), (design["lqr"]["B"], bd)
    q = np.diag([1, 10, 0.1, 0.1])   # in x, θ, v, ω order
    p = scipy.linalg.solve_discrete_are(ad, bd, q, np.eye(1))
    k = -np.linalg.solve(np.eye(1) + bd.T @ p @ bd, bd.T @ p @ ad)[0]
    law = design["law"]["cart.force"]
    ours = [law["cart.x"], law["pole.angle"], law["cart.v"], law["pole.rate"]]
    assert np.allclose(ours, k, rtol=1e-3), (ours, k)
    # The documented law, F = 1.0 x + 2.0 v + 30.6 θ + 7.8 ω, to its printed digits.
    assert [round(law[c], 1) for c in ("cart.x", "cart.v", "pole.angle", "pole.rate")] == [1.0, 2.0, 30.6, 7.8]


@pytest.mark.parametrize("env, layout", [
    # Gymnasium's documented observations: InvertedPendulum-v5 [x, θ, ẋ, θ̇];
    # InvertedDoublePendulum-v5 [x, sin θ1, sin θ2, cos θ1, cos θ2, ẋ, θ̇1, θ̇2, constraint force].
    ("InvertedPendulum-v5", {"slider.position": 0, "hinge.position": 1, "slider.velocity": 2, "hinge.velocity": 3}),
    ("InvertedDoublePendulum-v5", {"slider.position": 0, "hinge.position": {"atan2": [1, 3]},
                                   "hinge2.position": {"atan2": [2, 4]}, "slider.velocity": 5,
                                   "hinge.velocity": 6, "hinge2.velocity": 7}),
])
def test_observation_layout_is_found_by_probing(tmp_path, env, layout):
    tool("linearize", "gym", env, "--episodes", "1", "--out", tmp_path)
    mapping = yaml.safe_load((tmp_path / "gym.yaml").read_text())
    assert mapping["observation"] == layout
    assert mapping["env"] == env
    robot = load_robot(str(tmp_path / "robot.yaml"))
    assert [c.name for c in robot.sensors] == list(layout)
    assert [(m.name, m.min, m.max) for m in robot.motors] == [
        ("slide", -3.0, 3.0) if env == "InvertedPendulum-v5" else ("slide", -1.0, 1.0)]


@pytest.mark.parametrize("env, name", [("InvertedPendulum-v5", "inverted-pendulum"),
                                       ("InvertedDoublePendulum-v5", "inverted-double-pendulum")])
def test_three_commands_give_a_balancing_snn(tmp_path, env, name):
    """The documented commands reproduce the committed folder (Config/plants/NAME), and
    its SNN keeps the pendulum up for the whole 1000 steps in episodes drawn here (the
    full table, 10 and 20 episodes: docs/controllers.md)."""
    out = tmp_path / name
    tool("linearize", "gym", env, "--out", out)
    tool("snn-controller", out / "design.yaml")
    committed = PLANTS / name
    for file in ("robot.yaml", "gym.yaml", "network.yaml", "controller.yaml", "design.yaml"):
        ours = (out / file).read_text().splitlines()[1:]   # the first line names the command's paths
        assert ours == (committed / file).read_text().splitlines()[1:], f"{committed / file} is not what the commands write"
    seed = random.randrange(1000, 100000)
    p = tool("eval-bridges", out, "--episodes", "2", "--seed", seed)
    row = next(line for line in p.stdout.splitlines() if line.startswith("| SNN in Gymnasium"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "2/2" and cells[2] == "1000", f"seed {seed}: {row}"


def law_and_snn(folder, states, hold):
    """The law and the SNN's command (the last of `hold` ticks of each held state)."""
    robot = load_robot(str(folder / "robot.yaml"))
    design = yaml.safe_load((folder / "design.yaml").read_text())
    gains = design["law"][robot.motors[0].name]
    names = [c.name for c in robot.sensors]
    daemon = Daemon(folder / "controller.yaml")
    out = []
    try:
        with SimLink(robot, rate_hz=1000, endpoint=daemon.frames, control=daemon.control, timeout_ms=5000) as link:
            link.begin_episode()
            for x in states:
                for _ in range(hold):
                    command = link.exchange(x)
                out.append((sum(gains[n] * v for n, v in zip(names, x)), command[0]))
    finally:
        daemon.stop()
    return np.array(out)


@pytest.mark.parametrize("name, bound", [("inverted-pendulum", 0.01), ("inverted-double-pendulum", 0.08)])
def test_snn_follows_the_law(name, bound):
    """Random states within half of each encoder range where the law does not saturate the
    motor: the SNN's command after one environment step of held observation against the law.
    Bounds (fraction of the motor range, rms): 1.6× the documented 0.6 % and 5.0 %."""
    folder = PLANTS / name
    design = yaml.safe_load((folder / "design.yaml").read_text())
    robot = load_robot(str(folder / "robot.yaml"))
    motor = robot.motors[0]
    gains, ranges = design["law"][motor.name], design["ranges"]
    names = [c.name for c in robot.sensors]
    # 200 states: the fitted slope's spread is then 0.008, so the 0.05 bound on a
    # slope documented at 0.99 is five spreads away (with 40 it was 1 run in 200).
    seed = random.randrange(2**32)
    rng = np.random.default_rng(seed)
    states = []
    while len(states) < 200:
        x = [rng.uniform(-0.5, 0.5) * ranges[n] for n in names]
        if abs(sum(gains[n] * v for n, v in zip(names, x))) <= 0.8 * motor.max:
            states.append(x)
    hold = round(design["sample_time"] * 1000)
    pairs = law_and_snn(folder, states, hold)
    error = math.sqrt(np.mean((pairs[:, 1] - pairs[:, 0]) ** 2)) / motor.max
    slope = np.polyfit(pairs[:, 0], pairs[:, 1], 1)[0]
    assert error <= bound, f"seed {seed}: rms {error:.4f} of the motor range (bound {bound}); slope {slope:.3f}"
    assert abs(slope - 1) < 0.05, f"seed {seed}: slope {slope:.3f}"


def test_refusals_name_what_is_wrong(tmp_path):
    p = tool("linearize", "gym", "CartPole-v1", "--out", tmp_path / "x", ok=False)
    assert p.returncode != 0 and "CartPole-v1 is not a Gymnasium MuJoCo environment" in p.stderr, p.stderr
    p = tool("linearize", "gym", "NoSuchEnv-v0", "--out", tmp_path / "x", ok=False)
    assert p.returncode != 0 and "gymnasium cannot make 'NoSuchEnv-v0'" in p.stderr, p.stderr

    robot = ROOT / "Robots" / "cartpole.yaml"
    cases = [
        (["--robot", robot, "--out", tmp_path / "a", "--gain", "cart.force:pole.tilt=3"],
         "--gain: law.cart.force.pole.tilt: " + str(robot) + " has no sensor channel 'pole.tilt'"),
        (["--robot", robot, "--out", tmp_path / "a", "--gain", "cart.push:pole.angle=3"],
         "has no motor channel 'cart.push'"),
        (["--robot", robot, "--out", tmp_path / "a", "--gain", "cart.force:pole.angle"],
         "--gain pole.angle: expected CHANNEL=number"),
        (["--robot", robot, "--out", tmp_path / "a", "--gain", "cart.force:pole.angle=0"], "every gain is zero"),
        (["--robot", robot, "--out", tmp_path / "a", "--gain", "cart.force:pole.angle=3", "--range", "pole.angle=-1"],
         "ranges.pole.angle: expected a positive half-range in rad"),
    ]
    for args, message in cases:
        p = tool("snn-controller", *args, ok=False)
        assert p.returncode != 0 and message in p.stderr, (args, p.stderr)
    design = tmp_path / "design.yaml"
    design.write_text(f"robot: {robot}\nlaw: {{cart.force: 3}}\n")
    p = tool("snn-controller", design, ok=False)
    assert p.returncode != 0 and f"{design}: law: expected {{motor: {{channel: gain" in p.stderr, p.stderr
    design.write_text(f"robot: {robot}\n")
    p = tool("snn-controller", design, ok=False)
    assert p.returncode != 0 and f"{design}: law: missing" in p.stderr, p.stderr


def test_a_pd_law_from_the_command_line_balances_the_built_in_cart_pole(tmp_path):
    """--robot and --gain without a design: the cart-pole's PD law (docs/controllers.md),
    in the built-in simulator."""
    tool("snn-controller", "--robot", ROOT / "Robots" / "cartpole.yaml", "--out", tmp_path,
         "--gain", "cart.force:pole.angle=30.6,pole.rate=7.8", "--range", "pole.angle=0.3,pole.rate=2.5")
    config = (tmp_path / "controller.yaml").read_text()
    assert "{sensor: cart.x, kind: ignore}" in config
    daemon = Daemon(tmp_path / "controller.yaml")
    try:
        p = subprocess.run([str(spikeloop_binary()), "sim", "--robot", str(ROOT / "Robots" / "cartpole.yaml"),
                            "--endpoint", daemon.frames, "--control", daemon.control, "--duration", "5s",
                            "--episodes", "2", "--seed", str(random.randrange(1, 100000))],
                           capture_output=True, text=True, timeout=120)
    finally:
        daemon.stop()
    episodes = [line for line in p.stdout.splitlines() if line.startswith("episode")]
    assert len(episodes) == 2 and not any("FAILED" in line for line in episodes), p.stdout + p.stderr


@pytest.mark.parametrize("generator, args, name", [
    ("cartpole.py", [], "cartpole"), ("cartpole.py", ["--variant", "robust"], "cartpole-robust"),
    ("diffdrive.py", [], "diffdrive"), ("pendulum.py", [], "pendulum"),
    ("diffdrive_learning.py", [], "diffdrive-learning")])
def test_generators_write_the_committed_controllers_anywhere(tmp_path, generator, args, name):
    """Each generator, run with --out elsewhere, writes the committed network byte for byte
    and the committed configuration with only its robot: path (now from the other folder)
    and its --name and --control changed."""
    p = subprocess.run([PYTHON, str(ROOT / "Config" / "networks" / generator), *args, "--out", str(tmp_path),
                        "--name", "mine", "--control", "ipc:///tmp/mine-control"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    committed = ROOT / "Config"
    network = (tmp_path / "networks" / "mine.yaml").read_text()
    assert network == re.sub(r"^name: .*$", "name: mine", (committed / "networks" / f"{name}.yaml").read_text(),
                             count=1, flags=re.M)
    ours = (tmp_path / "mine.yaml").read_text().splitlines()
    theirs = (committed / f"{name}.yaml").read_text().splitlines()
    differ = [(a, b) for a, b in zip(ours, theirs) if a != b]
    assert len(ours) == len(theirs)
    for a, b in differ:
        key = a.split(":")[0].strip()
        assert key in ("robot", "network", "control", "#") or a.startswith("#"), (a, b)
    robot = next(line for line in ours if line.startswith("robot:")).split()[1]
    assert (tmp_path / robot).resolve() == (committed / next(line for line in theirs if line.startswith("robot:")).split()[1]).resolve()
    assert "network: networks/mine.yaml" in ours and "  control: ipc:///tmp/mine-control" in ours
    check = subprocess.run([str(spikeloop_binary()), "check", "--config", str(tmp_path / "mine.yaml")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_check_and_bench_count_the_weights_of_layers():
    """`spikeloop check` and `bench tick` count a layer network's connections (its input
    weights), not 0: 2 motor populations × 64 neurons × 4 channels × 21 fields."""
    config = str(PLANTS / "inverted-pendulum" / "controller.yaml")
    for args in (["check", "--config", config], ["bench", "tick", "--config", config, "--ticks", "200"]):
        p = subprocess.run([str(spikeloop_binary()), *args], capture_output=True, text=True)
        assert p.returncode == 0 and "212 neurons, 0 synapses and 10752 layer weights" in p.stdout, p.stdout + p.stderr
