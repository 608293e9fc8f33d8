"""Online learning in the daemon (docs/plasticity.md): a reward_stdp projection
in the cart-pole controller learns from the simulator's per-frame rewards and an
operator's reward and learning rate; the recorded session replays bit for bit."""

import random
import subprocess
import time

from mcap.reader import make_reader
from mcap_protobuf.decoder import DecoderFactory

import pytest

from conftest import ROOT, spikeloop_binary
from sessions import cartpole_config
from spikeloop_client import LockstepClient, Operator
from spikeloop_client.client import SpikeloopError
from spikeloop_client.robot import load_robot

PLASTICITY = """    plasticity:
      rule: reward_stdp
      a_pre: 0.01 mV
      a_post: -0.012 mV
      tau_pre: 20 ms
      tau_post: 20 ms
      w_min: 0 mV
      w_max: 5 mV
      tau_c: 200 ms
      tau_d: 50 ms
      baseline: 0.5 Hz
"""


def learning_config(folder):
    """Config/cartpole.yaml whose angle_fields->push projection learns from reward."""
    config = cartpole_config(folder, probes=False)
    network = (ROOT / "Config" / "networks" / "cartpole.yaml").read_text()
    head, rest = network.split("  - name: angle_fields->push", 1)
    block, tail = rest.split("\n  - name:", 1)
    network = head + "  - name: angle_fields->push" + block + "\n" + PLASTICITY.rstrip("\n") + "\n  - name:" + tail
    (folder / "learning.yaml").write_text(network)
    text = config.read_text().replace(f"network: {ROOT}/Config/networks/cartpole.yaml", f"network: {folder}/learning.yaml")
    config.write_text(text + "\nrecording:\n  weights_interval: 200 ms\n")
    return config


def test_a_learning_session_learns_and_replays_bit_for_bit(tmp_path):
    """Frames with rewards, then an operator's reward signal, a slower rate and a
    freeze, each between two known frames; the weights change while learning, stay
    while frozen, and the session replays identical."""
    binary = str(spikeloop_binary())
    config = learning_config(tmp_path)
    recording = tmp_path / "session.mcap"
    robot = load_robot(str(ROOT / "Robots" / "cartpole.yaml"))
    daemon = subprocess.Popen([binary, "run", "--config", str(config), "--record", str(recording)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rng = random.Random(7)
    weights = []
    try:
        lines, deadline = [], time.monotonic() + 30
        while time.monotonic() < deadline:
            lines.append(daemon.stderr.readline())
            if "ready:" in lines[-1] or not lines[-1]:
                break
        assert "ready:" in lines[-1], "daemon did not become ready:\n" + "".join(lines)
        with Operator(f"ipc://{tmp_path}/control") as operator, \
                LockstepClient(f"ipc://{tmp_path}/frames", robot.layout) as sim:
            tick = 0

            def run(ticks, reward=None):
                nonlocal tick
                for _ in range(ticks):
                    tick += 1
                    values = [rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-0.2, 0.2), rng.uniform(-1, 1)]
                    sim.step(values, sim_time_ns=tick * 1_000_000, reward=reward)

            def save(name):
                operator.save_weights(str(tmp_path / name))
                weights.append((tmp_path / name).read_bytes())

            save("w0.slw")
            run(1500, reward=1.0)                # the frames' rewards
            save("w1.slw")
            operator.set_reward(-0.5)             # the operator's signal, every tick
            run(1500)
            save("w2.slw")
            operator.set_learning_rate(0.25)
            run(1500, reward=0.5)
            save("w3.slw")
            operator.set_learning_rate(0)         # frozen
            run(1500, reward=1.0)
            save("w4.slw")
            with pytest.raises(SpikeloopError, match="learning rate -1.0 refused"):
                operator.set_learning_rate(-1)
            assert operator.status().stats.learning_rate == 0
        assert control(tmp_path, "shutdown").returncode == 0
        _, err = daemon.communicate(timeout=60)
        assert daemon.returncode == 0, err
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    assert "control: learning rate 0.0 (weights frozen)" in err, err
    assert weights[0] != weights[1] != weights[2] != weights[3], "the weights did not change while learning"
    assert weights[3] == weights[4], "the weights changed while frozen"
    # The operator's changes are recorded at the step they took effect (1500 ticks × 10 steps apart).
    with open(recording, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        events = [(m.kind, m.sim_step) for _, _, _, m in reader.iter_decoded_messages(topics=["/events"])
                  if m.kind in ("reward", "learning_rate")]
        snapshots = sorted((int(a.name[len("weights/step-"):-len(".slw")]), a.data) for a in reader.iter_attachments()
                           if a.name.startswith("weights/step-"))
    # Weights stored while the session ran (every 200 ms of the daemon's clock).
    assert len(snapshots) >= 2, [s for s, _ in snapshots]
    assert all(data.startswith(b"SLWEIGHT") for _, data in snapshots)
    steps_per_tick = 10
    assert events == [("reward", 1500 * steps_per_tick), ("learning_rate", 3000 * steps_per_tick),
                      ("learning_rate", 4500 * steps_per_tick)], events
    replay = subprocess.run([binary, "replay", str(recording), "--verify"], capture_output=True, text=True, timeout=600)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "identical" in replay.stdout, replay.stdout


def control(folder, *args):
    return subprocess.run([str(spikeloop_binary()), "control", "--endpoint", f"ipc://{folder}/control", *args],
                          capture_output=True, text=True, timeout=30)


def test_control_refuses_a_negative_learning_rate_and_names_the_range(tmp_path):
    """The command line: a negative value after --, refused by the daemon with the valid range."""
    binary = str(spikeloop_binary())
    config = learning_config(tmp_path)
    daemon = subprocess.Popen([binary, "run", "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while "ready:" not in daemon.stderr.readline():
            assert daemon.poll() is None
        bad = control(tmp_path, "learning-rate", "--", "-1")
        assert bad.returncode != 0 and "from 0 (weights frozen) to 100" in bad.stderr + bad.stdout, bad.stderr
        good = control(tmp_path, "learning-rate", "0.5")
        assert good.returncode == 0, good.stderr
        status = subprocess.run([binary, "status", "--endpoint", f"ipc://{tmp_path}/control"],
                                capture_output=True, text=True, timeout=30)
        assert "learning     rate 0.5" in status.stdout, status.stdout
        assert control(tmp_path, "shutdown").returncode == 0
        daemon.communicate(timeout=60)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
