"""The MuJoCo and Gymnasium bridges against the real simulators and the real
daemon (`spikeloop run` on Config/cartpole.yaml): models, mappings, and short
closed-loop runs of the SNN cart-pole controller (the full tables:
Tools/eval-bridges, Bridges/mujoco/README.md, Bridges/gymnasium/README.md)."""

import math
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import spikeloop_binary

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "Bridges" / "mujoco"), str(ROOT / "Bridges" / "gymnasium")]

import gymnasium  # noqa: E402  (Tools/requirements.txt; a missing install fails here, loudly)
import mujoco  # noqa: E402

from spikeloop_client.bridge import SimLink  # noqa: E402
from spikeloop_mujoco import MappingError, MujocoRobot, load_setup, make_task  # noqa: E402
from spikeloop_gym import GymMappingError, GymRobot, load_mapping, run_episodes  # noqa: E402


class Daemon:
    """`spikeloop run` on a copy of a controller configuration with its endpoints on private ipc sockets."""

    def __init__(self, config: pathlib.Path):
        self.folder = pathlib.Path(tempfile.mkdtemp(prefix="slbr-", dir="/tmp"))
        text = config.read_text()
        for key in ("robot", "network"):
            text = re.sub(rf"^({key}:\s*)(\S+)", lambda m: m.group(1) + str((config.parent / m.group(2)).resolve()),
                          text, flags=re.M)
        self.frames, self.control = f"ipc://{self.folder}/frames", f"ipc://{self.folder}/control"
        text = re.sub(r"^(\s+frames:\s*)\S+", lambda m: m.group(1) + self.frames, text, flags=re.M)
        text = re.sub(r"^(\s+control:\s*)\S+", lambda m: m.group(1) + self.control, text, flags=re.M)
        (self.folder / "controller.yaml").write_text(text)
        self.process = subprocess.Popen([str(spikeloop_binary()), "run", "--config", str(self.folder / "controller.yaml")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            lines.append(line)
            if "ready:" in line:
                return
            if not line:
                break
        self.stop()
        raise AssertionError("daemon did not become ready:\n" + "".join(lines))

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def cartpole_daemon():
    daemon = Daemon(ROOT / "Config" / "cartpole.yaml")
    yield daemon
    daemon.stop()


# ------------------------------------------------------------------- MuJoCo


def test_mujoco_cartpole_is_the_barto_sutton_anderson_cart_pole():
    """Robots/cartpole.xml against the built-in model's documented figures: the
    uncontrolled fall from 0.1 rad (346 ms) and the linearised accelerations."""
    setup = load_setup(str(ROOT / "Robots" / "cartpole.yaml"))
    task = make_task(setup)
    robot = MujocoRobot(setup, task, 1000)
    task.reset(robot.data, 1)
    robot.data.qpos[task.angle_qpos] = 0.1
    ticks = 0
    while not task.failed:
        robot.apply([0.0])
        ticks += 1
    assert ticks == 346
    d = robot.data
    mujoco.mj_resetData(setup.model, d)
    d.qpos[task.angle_qpos] = 0.01
    d.ctrl[setup.actuators[0]] = 1.0
    mujoco.mj_forward(setup.model, d)
    assert d.qacc[task.angle_dof] == pytest.approx(15.78 * 0.01 - 1.463, abs=2e-3)
    assert d.qacc[task.x_dof] == pytest.approx(-0.717 * 0.01 + 0.976, abs=2e-3)


def test_mujoco_initial_states_are_the_built_in_simulators():
    """Seeds draw the angles the built-in simulator draws (SimRandom): seed 1 starts at −4.1450°
    (`spikeloop sim` reports its max |angle| 4.146°, reached one tick later)."""
    setup = load_setup(str(ROOT / "Robots" / "cartpole.yaml"))
    task = make_task(setup)
    robot = MujocoRobot(setup, task, 1000)
    angles = []
    for seed in range(1, 201):
        task.reset(robot.data, seed)
        angles.append(robot.data.qpos[task.angle_qpos])
    assert math.degrees(angles[0]) == pytest.approx(-4.14495, abs=1e-5)
    assert max(abs(a) for a in angles) <= 0.1 and max(angles) > 0.09 and min(angles) < -0.09


def test_mujoco_cartpole_snn_balances_two_seeds(cartpole_daemon):
    setup = load_setup(str(ROOT / "Robots" / "cartpole.yaml"))
    robot = MujocoRobot(setup, make_task(setup), 1000)
    with SimLink(setup.robot, rate_hz=1000, endpoint=cartpole_daemon.frames, control=cartpole_daemon.control) as link:
        results = robot.run(link, episodes=2, duration=10, seed=1)
    for r in results:
        stats = {k: v for k, v, _ in r.statistics}
        assert not r.failed and r.steps == 10_000 and stats["balanced"] == pytest.approx(10)
        assert stats["mean|angle|"] < 1.0 and stats["mean|x|"] < 0.2  # degrees, metres
        c = r.counters
        assert (c.sequence_errors, c.bad_commands, c.safe_stop_ticks, c.saturated_values) == (0, 0, 0, 0)


def test_mujoco_diffdrive_sensors_read_the_arena_geometry():
    """At the origin heading +x: front 1.9 m to the east wall (rim at 0.1 m); left:
    the box's lower face y = 0.3 met by the +40° ray from the rim point at +30°;
    right: nothing within 2 m; light.left faces the light exactly (cos γ = 1).
    The MJCF writes site positions to 1 µm, hence the tolerance."""
    setup = load_setup(map_path=str(ROOT / "Robots" / "diffdrive.mujoco.yaml"))
    task = make_task(setup)
    robot = MujocoRobot(setup, task, 1000)
    mujoco.mj_resetData(setup.model, robot.data)
    left, front, right, light_left, light_right, wl, wr = robot.sensors()
    assert front == pytest.approx(1.9, abs=1e-9)
    rim = (0.1 * math.cos(math.radians(30)), 0.1 * math.sin(math.radians(30)))
    assert left == pytest.approx((0.3 - rim[1]) / math.sin(math.radians(40)), abs=2e-6)
    # The right fan (−20°…−40°) passes 0.4° outside the round obstacle at (0.7, −0.9) r 0.25
    # and meets the walls beyond 2 m: no hit, the range's maximum.
    px, py = 0.7 - rim[0], -0.9 + rim[1]
    assert math.degrees(math.atan2(py, px) + math.asin(0.25 / math.hypot(px, py))) < -40
    assert right == 2.0
    d = math.hypot(1.5 - 0.1 * math.cos(math.pi / 4), 1.5 - 0.1 * math.sin(math.pi / 4))
    assert light_left == pytest.approx(1 / (1 + d * d), abs=2e-6)
    assert light_right < light_left and (wl, wr) == (0, 0)


def test_mujoco_mapping_errors_name_file_key_and_choices(tmp_path):
    bad = tmp_path / "map.yaml"
    bad.write_text(f"robot: {ROOT}/Robots/cartpole.yaml\nmodel: {ROOT}/Robots/cartpole.xml\n"
                   "sensors:\n  pole.angle: {sensor: pole.tilt}\n")
    with pytest.raises(MappingError, match=r"map.yaml: sensors.pole.angle: .*cartpole.xml has no sensor named "
                                           r"'pole.tilt'; its sensors: cart.x, cart.v, pole.angle, pole.rate"):
        load_setup(map_path=str(bad))
    bad.write_text(f"robot: {ROOT}/Robots/cartpole.yaml\nmotors:\n  cart.push: {{actuator: cart.force}}\n")
    with pytest.raises(MappingError, match=r"motors.cart.push: .*has no such motor channel; its motors: cart.force"):
        load_setup(map_path=str(bad))
    with pytest.raises(MappingError, match=r"timestep 0.001 s does not divide the control period 0.0004 s"):
        MujocoRobot(load_setup(str(ROOT / "Robots" / "cartpole.yaml")), None, 2500)


# ---------------------------------------------------------------- Gymnasium


def test_gym_cartpole_v1_snn_reaches_the_500_step_limit(cartpole_daemon):
    mapping = load_mapping(str(ROOT / "Bridges" / "gymnasium" / "maps" / "cartpole-v1.yaml"))
    env = gymnasium.make(mapping.env_id)
    robot = GymRobot(mapping, env, 1000)
    assert robot.ticks_per_step == 20  # CartPole-v1's dt 0.02 s at 1 kHz
    with SimLink(mapping.robot, rate_hz=1000, endpoint=cartpole_daemon.frames, control=cartpole_daemon.control) as link:
        episodes = run_episodes(robot, link, episodes=2, seed=0)
    env.close()
    assert [(e.steps, e.truncated, e.terminated, e.env_return) for e in episodes] == [(500, True, False, 500.0)] * 2
    assert all(e.ticks == 10_000 for e in episodes)


def test_gym_action_mappings_discrete_and_box():
    cart = load_mapping(str(ROOT / "Bridges" / "gymnasium" / "maps" / "cartpole-v1.yaml"))
    robot = GymRobot(cart, gymnasium.make("CartPole-v1"), 1000)
    assert [robot.action([[f]]) for f in (-10, -0.1, 0.1, 10)] == [0, 0, 1, 1]
    assert robot.action([[5.0], [-0.5]]) == 0  # action_from: last
    assert robot.sensors([0.5, -1.0, 0.05, 2.0]) == [0.5, -1.0, 0.05, 2.0]
    pend = load_mapping(str(ROOT / "Bridges" / "gymnasium" / "maps" / "pendulum-v1.yaml"))
    env = gymnasium.make("Pendulum-v1")
    robot = GymRobot(pend, env, 1000)
    assert robot.ticks_per_step == 50
    obs, _ = env.reset(seed=3)
    angle, rate = robot.sensors(obs)
    assert angle == pytest.approx(env.unwrapped.state[0] - 2 * math.pi * round(env.unwrapped.state[0] / (2 * math.pi)), abs=1e-6)
    assert rate == pytest.approx(obs[2])
    assert robot.action([[3.0], [1.5]]).tolist() == pytest.approx([0.75])  # mean 2.25 N m / 3
    assert robot.action([[5.0], [5.0]]).tolist() == pytest.approx([1.6666666])
    assert env.action_space.contains(robot.action([[5.0]]))


@pytest.mark.parametrize("text, message", [
    ("env: CartPole-v1\nrobot: R\nobservation: {cart.x: 0, cart.v: 1, pole.angle: 2}\naction: {discrete: nearest, values: {0: [-10], 1: [10]}}",
     r"observation.pole.rate: missing; every sensor channel of .*cartpole.yaml needs a source"),
    ("env: CartPole-v1\nrobot: R\nobservation: {cart.x: 0, cart.v: 1, pole.angle: 2, pole.rate: 4}\naction: {discrete: nearest, values: {0: [-10], 1: [10]}}",
     r"observation.pole.rate: index 4 is outside CartPole-v1's observation of 4 values \(0..3\)"),
    ("env: CartPole-v1\nrobot: R\nobservation: {cart.x: 0, cart.v: 1, pole.angle: 2, pole.rate: 3, pole.tip: 1}\naction: {discrete: nearest, values: {0: [-10], 1: [10]}}",
     r"observation.pole.tip: .*has no sensor channel 'pole.tip'; its sensors: cart.x, cart.v, pole.angle, pole.rate"),
    ("env: CartPole-v1\nrobot: R\nobservation: {cart.x: 0, cart.v: 1, pole.angle: 2, pole.rate: 3}\naction: {discrete: nearest, values: {0: [-10], 1: [0], 2: [10]}}",
     r"action.values: 3 actions mapped, CartPole-v1 has Discrete\(2\)"),
    ("env: CartPole-v1\nrobot: R\nobservation: {cart.x: 0, cart.v: 1, pole.angle: 2, pole.rate: 3}\naction: {box: [{motor: cart.force}]}",
     r"action: CartPole-v1's actions are Discrete\(2\), not a flat Box|action: CartPole-v1's actions are Discrete\(2\); action.box"),
    ("env: CartPole-v1\nrobot: R\nobservation: {cart.x: 0, cart.v: 1, pole.angle: 2, pole.rate: 3}\naction: {discrete: nearest, values: {0: [-10, 1], 1: [10, 1]}}",
     r"action.values.0: expected 1 motor value\(s\) in the order of .*cartpole.yaml \(cart.force\)"),
    ("env: CartPole-v1\nrobot: R\nticks_per_step: 0.5\nobservation: {}\naction: {discrete: argmax, motors: [a, b]}",
     r"ticks_per_step: expected a whole number of ticks >= 1, or auto; got 0.5"),
    ("env: CartPole-v1\nrobot: R\nobservation: {cart.x: 0, cart.v: 1, pole.angle: 2, pole.rate: 3}\naction: {discrete: vote}",
     r"action.discrete: 'vote' is not one of nearest, argmax"),
    ("env: CartPole-v1\nrobot: R\nobservation: {}\naction: {discrete: nearest}\nreward_scale: 2",
     r"\(top level\): unknown key 'reward_scale'; valid: action, action_from, env, env_kwargs, observation, robot, ticks_per_step"),
])
def test_gym_mapping_errors_name_file_key_and_choices(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace("robot: R", f"robot: {ROOT}/Robots/cartpole.yaml"))
    with pytest.raises(GymMappingError, match=r"bad.yaml: " + message):
        mapping = load_mapping(str(path))
        GymRobot(mapping, gymnasium.make(mapping.env_id), 1000)


def test_bridge_commands_print_episodes_like_spikeloop_sim(cartpole_daemon):
    """The command lines end to end (what Tools/eval-bridges parses)."""
    env = dict(os.environ, PYTHONPATH="")
    out = subprocess.run([str(ROOT / "Bridges" / "mujoco" / "spikeloop-mujoco"), "--robot", str(ROOT / "Robots" / "cartpole.yaml"),
                          "--endpoint", cartpole_daemon.frames, "--control", cartpole_daemon.control,
                          "--duration", "2s", "--episodes", "2", "--seed", "7"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("episode ")]
    assert [line.split("  ")[:4] for line in lines] == [["episode 1", "seed 7", "2000 ticks", "2 s"],
                                                        ["episode 2", "seed 8", "2000 ticks", "2 s"]]
    assert re.search(r"total        4000 ticks, 4 s simulated in [0-9.]+ s wall: \d+ ticks/s, [0-9.]+× real time\n", out.stdout)
    out = subprocess.run([str(ROOT / "Bridges" / "gymnasium" / "spikeloop-gym"), str(ROOT / "Bridges" / "gymnasium" / "maps" / "cartpole-v1.yaml"),
                          "--endpoint", cartpole_daemon.frames, "--control", cartpole_daemon.control, "--max-steps", "50"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert "episode 1  seed 0  1000 ticks  1 s  steps 50  return 50" in out.stdout
