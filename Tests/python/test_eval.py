"""Short versions of `Tools/eval`'s tables: the SNN controllers in Config/
against the real built-in simulators (daemon and `spikeloop sim` as separate
processes, lockstep), a few seeds and short episodes. The full tables are in
docs/controllers.md with the commands that made them; the bounds here are 1.5 times
the figures these short runs give (docs/controllers.md, "CI's short runs"), so that
a regression of half as much again fails."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

from conftest import spikeloop_binary

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The trained policy's short runs below: mean |angle| 0.49° and 0.40° (seeds 1, 2, 10 s).
TRAINED_CARTPOLE_ANGLE = 0.49
# The converted policy's: 0.35° and 0.39° (started at half the threshold; from 0: 0.35° and 0.38°).
CONVERTED_CARTPOLE_ANGLE = 0.39


@pytest.fixture
def tmp():
    # IPC paths must stay short: a folder in /tmp rather than pytest's tmp_path.
    folder = pathlib.Path(tempfile.mkdtemp(prefix="sle-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def evaluate(tmp: pathlib.Path, task: str, episodes: int, duration: str, *extra, config_name: str | None = None) -> dict:
    """Runs Tools/eval on a copy of Config/TASK.yaml (or Config/CONFIG_NAME.yaml) whose
    endpoints are private IPC paths (tests and a running eval must not share tcp ports);
    returns its JSON."""
    text = (ROOT / "Config" / f"{config_name or task}.yaml").read_text()
    config = ROOT / "Config"
    for key in ("robot", "network"):
        line = next(l for l in text.splitlines() if l.startswith(key + ":"))
        text = text.replace(line, f"{key}: {(config / line.split(':', 1)[1].strip()).resolve()}")
    for key in ("frames", "control"):
        line = next(l for l in text.splitlines() if l.strip().startswith(key + ":"))
        text = text.replace(line, f"  {key}: ipc://{tmp}/{key}")
    (tmp / "controller.yaml").write_text(text)
    out = tmp / "eval.json"
    run = subprocess.run([sys.executable, str(ROOT / "Tools" / "eval"), task, "--episodes", str(episodes),
                          "--duration", duration, "--no-build", "--config", str(tmp / "controller.yaml"),
                          "--json", str(out), *extra],
                         cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, SPIKELOOP=str(spikeloop_binary())))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "| snn controller.yaml |" in run.stdout, run.stdout   # the table is printed
    return json.loads(out.read_text())


def test_diffdrive_avoids_obstacles_covers_ground_and_finds_the_light(tmp):
    """2 seeded 40 s episodes: no collision, at least 8 m driven and 1.5 m² covered (10.1 and
    9.7 m, 2.6 and 2.3 m²), and it gets within 0.045 m of the light (0.029 and 0.016 m; 0.03 m
    over 120 s), which starts 1.7+ m away (it wanders first: light seeking is weak from afar)."""
    episodes = evaluate(tmp, "diffdrive", 2, "40s")["snn controller.yaml"]["episodes"]
    assert [e["seed"] for e in episodes] == [1, 2]
    # docs/controllers.md's "CI's short runs" (Tools/figures reads this line under pytest -s)
    print("\nshort run diffdrive: driven " + ", ".join(f"{e['distance']:.1f}" for e in episodes) + " m; covered "
          + ", ".join(f"{e['covered']:.1f}" for e in episodes) + " m²; closest "
          + ", ".join(f"{e['light_min']:.3f}" for e in episodes) + " m")
    for e in episodes:
        assert e["ticks"] == 40_000
        assert e["collisions"] == 0 and e["contact"] == 0, e
        assert e["distance"] > 8.0, e
        assert e["covered"] > 1.5, e
        assert e["light_start"] > 1.0 and e["light_min"] < 0.045, e


def test_pendulum_swings_up_and_stays_up(tmp):
    """2 seeded 10 s episodes from hanging: upright (|angle| < 10°) within 4 s (one swing; 2.68
    and 2.71 s) and from then on all the time, within 1.75° on average (1.17° and 0.54°)."""
    episodes = evaluate(tmp, "pendulum", 2, "10s")["snn controller.yaml"]["episodes"]
    print("\nshort run pendulum: upright after " + ", ".join(f"{e['first']:.2f}" for e in episodes) + " s; "
          + ", ".join(f"{e['angle_up']:.2f}" for e in episodes) + "° while upright")
    for e in episodes:
        assert 0 < e["first"] < 4.0, e
        assert e["upright"] >= 0.99 * (10.0 - e["first"]), e
        assert e["angle_up"] < 1.75, e


def test_cartpole_snn_beside_lqr(tmp):
    """2 seeded 5 s episodes: both controllers balance; the SNN's mean |angle| is at most 1.1°
    (0.68° and 0.74°) and within 1.6 times the LQR's (1.06 and 1.03 times; over 60 s, where
    the start's transient weighs less, 1.8 times)."""
    result = evaluate(tmp, "cartpole", 2, "5s", "--baseline", "lqr")
    snn, lqr = result["snn controller.yaml"]["episodes"], result["lqr (in sim process)"]["episodes"]
    print("\nshort run cartpole: SNN " + ", ".join(f"{s['angle']:.2f}" for s in snn) + "°; SNN / LQR "
          + ", ".join(f"{s['angle'] / l['angle']:.2f}" for s, l in zip(snn, lqr)))
    for s, l in zip(snn, lqr):
        assert not s["failed"] and s["ticks"] == 5000 and s["balanced"] == 5, s
        assert not l["failed"] and l["balanced"] == 5, l
        assert s["angle"] < 1.1 and s["angle"] < 1.6 * l["angle"], (s, l)


def test_cartpole_policy_trained_in_snntorch_balances(tmp):
    """The NIR policy of Tools/train/cartpole.py (Config/cartpole-trained.yaml), run by the
    daemon: 2 seeded 10 s episodes balanced, mean |angle| at most 1.5 times what these short
    runs give (TRAINED_CARTPOLE_ANGLE); over 20 × 60 s it balanced 20 of 20 (docs/nir.md)."""
    result = evaluate(tmp, "cartpole", 2, "10s", "--baseline", "none", config_name="cartpole-trained")
    for e in result["snn controller.yaml"]["episodes"]:
        assert not e["failed"] and e["ticks"] == 10000 and e["balanced"] == 10, e
        assert e["angle"] < 1.5 * TRAINED_CARTPOLE_ANGLE, e


def test_cartpole_policy_converted_from_an_ann_balances(tmp):
    """The ReLU MLP of Tools/train/cartpole_ann.py converted by `spikeloop convert`
    (Config/cartpole-converted.yaml): 2 seeded 10 s episodes balanced, mean |angle| at most
    1.5 times what these short runs give; over 20 × 60 s it balanced 20 of 20 (docs/conversion.md)."""
    result = evaluate(tmp, "cartpole", 2, "10s", "--baseline", "none", config_name="cartpole-converted")
    for e in result["snn controller.yaml"]["episodes"]:
        assert not e["failed"] and e["ticks"] == 10000 and e["balanced"] == 10, e
        assert e["angle"] < 1.5 * CONVERTED_CARTPOLE_ANGLE, e


def test_robustness_table_bounds_are_the_last_that_hold(tmp):
    """Tools/robustness (delay and push rows, 2 episodes × 5 s) on the robust SNN and the
    LQR: both rows are printed for both, and each LQR bound is checked here with
    `spikeloop sim` itself: the reported value holds (every episode balanced) and the
    first failing value the tool found, one resolution step above, does not."""
    text = (ROOT / "Config" / "cartpole-robust.yaml").read_text()
    text = text.replace("robot: ../Robots/cartpole.yaml", f"robot: {ROOT}/Robots/cartpole.yaml")
    text = text.replace("network: networks/", f"network: {ROOT}/Config/networks/")
    for key in ("frames", "control"):
        line = next(l for l in text.splitlines() if l.strip().startswith(key + ":"))
        text = text.replace(line, f"  {key}: ipc://{tmp}/{key}")
    (tmp / "robust.yaml").write_text(text)
    out = tmp / "robustness.json"
    env = dict(os.environ, SPIKELOOP=str(spikeloop_binary()))
    run = subprocess.run([sys.executable, str(ROOT / "Tools" / "robustness"), "--rows", "delay,push", "--episodes", "2",
                          "--duration", "5s", "--no-build", "--config", str(tmp / "robust.yaml"), "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "| snn robust.yaml |" in run.stdout and "| lqr (in sim process) |" in run.stdout, run.stdout
    result = json.loads(out.read_text())
    print("\nrobustness (2 × 5 s): " + json.dumps(result))
    lqr = result["lqr (in sim process)"]

    def holds(setting):
        p = subprocess.run([str(spikeloop_binary()), "sim", "--robot", str(ROOT / "Robots" / "cartpole.yaml"), "--controller", "lqr",
                            "--duration", "5s", "--episodes", "2", "--seed", "1", "--set", setting],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return "FAILED" not in p.stdout
    assert lqr["delay_fails"] == lqr["delay"] + 1 and 0 < lqr["push_fails"] - lqr["push"] <= 0.25, lqr
    assert holds(f"disturbances={{sensor_delay: {int(lqr['delay'])}}}"), lqr
    assert not holds(f"disturbances={{sensor_delay: {int(lqr['delay_fails'])}}}"), lqr
    push = "disturbances={push: {motor: cart.force, value: %r, duration: 0.1, every: 2, sign: random}}"
    assert holds(push % lqr["push"]) and not holds(push % lqr["push_fails"]), lqr
    for name, measured in result.items():
        assert measured["delay"] == measured["delay"] and measured["push"] == measured["push"], (name, measured)  # not NaN
