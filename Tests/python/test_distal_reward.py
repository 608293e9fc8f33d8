"""Izhikevich (2007)'s distal reward experiment and its two parts: the noise
current of izhikevich populations (`i_noise`) and rewards earned by spike
pairings (`rewards:`), docs/network-file.md and docs/plasticity.md."""

import random
import re
import subprocess

import numpy as np

from conftest import ROOT, spikeloop_binary

DT = 0.5


def simulate(tmp_path, text, *args):
    path = tmp_path / "net.yaml"
    path.write_text(text)
    return subprocess.run([str(spikeloop_binary()), "simulate", str(path), *args], capture_output=True, text=True, timeout=300)


def noisy(seed, lo, hi, every, size=6):
    return f"""name: noise
dt: {DT} ms
seed: {seed}
precision: float64
populations:
  - name: rs
    model: izhikevich
    size: {size}
    params: {{preset: regular_spiking, i_ext: -3, i_noise: {{uniform: [{lo}, {hi}], every: {every} ms}}}}
"""


def drawn_currents(tmp_path, seed, lo, hi, every, steps=40000, size=6):
    """The noise each neuron received at each step, recovered from v and u:
    one Euler step (docs/network-file.md) solved for its current."""
    probes = [a for j in range(size) for var in ("v", "u") for a in ("--probe", f"rs:{var}:{j}")]
    result = simulate(tmp_path, noisy(seed, lo, hi, every, size), "--duration", f"{steps * DT}ms",
                      "--probes", str(tmp_path / "p.csv"), *probes)
    assert result.returncode == 0, result.stderr
    data = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1)[:, 1:]
    v, u = data[:, 0::2], data[:, 1::2]
    v0, u0 = np.vstack([np.full(size, -65.0), v[:-1]]), np.vstack([np.full(size, -65.0 * 0.2), u[:-1]])
    current = (v - v0) / DT + u0 - 140 - 0.04 * v0 ** 2 - 5 * v0 + 3   # minus i_ext
    spiked = np.vstack([np.zeros(size, bool), np.isclose(v[1:], -65.0) & (u[1:] - u[:-1] > 4)]) | (v >= 30)
    return current, spiked


def test_noise_currents_are_uniform_held_and_independent(tmp_path):
    """Drawn in [lo, hi] and uniform there (Kolmogorov–Smirnov), held for
    `every`, fresh for each neuron and each period, the same for a seed."""
    seed = random.randrange(2**32)
    lo = round(random.uniform(-8, 0), 3)
    hi = round(lo + random.uniform(1, 10), 3)
    current, spiked = drawn_currents(tmp_path, seed, lo, hi, every=1.0)
    assert spiked.sum() < 0.01 * spiked.size, "the neurons should mostly rest"
    held = current[0::2][:len(current[1::2])], current[1::2]
    fine = ~(spiked[0::2][:len(held[1])] | spiked[1::2])
    assert np.abs(held[0] - held[1])[fine].max() < 1e-6, f"seed {seed}: a draw is not held for 1 ms (two steps)"
    draws = held[0][fine[:, 0]][:, 0]
    assert lo - 1e-6 <= draws.min() and draws.max() <= hi + 1e-6, (seed, draws.min(), draws.max())
    x = np.sort((draws - lo) / (hi - lo))
    n = len(x)
    ks = max(np.max(np.arange(1, n + 1) / n - x), np.max(x - np.arange(n) / n))
    assert ks < 2.6 / np.sqrt(n), f"seed {seed}: not uniform (KS {ks:.4f}, n {n})"   # p ≈ 1e-6
    periods = held[0][np.all(fine, axis=1)]
    across = np.corrcoef(periods.T)[np.triu_indices(periods.shape[1], 1)]
    assert np.abs(across).max() < 0.1, f"seed {seed}: neurons share their noise ({across})"
    lag = np.corrcoef(periods[:-1, 0], periods[1:, 0])[0, 1]
    assert abs(lag) < 0.1, f"seed {seed}: successive periods correlate ({lag})"
    again, _ = drawn_currents(tmp_path, seed, lo, hi, every=1.0)
    assert np.array_equal(current, again), "the same seed must give the same noise"
    other, _ = drawn_currents(tmp_path, seed ^ 1, lo, hi, every=1.0)
    assert not np.allclose(current, other)


def test_bad_noise_and_reward_rules_name_their_field(tmp_path):
    base = """name: bad
dt: 0.5 ms
populations:
  - name: exc
    model: izhikevich
    size: 4
    params: {preset: regular_spiking, i_noise: {uniform: [-6.5, 6.5], every: 1 ms}}
projections:
  - from: exc
    to: exc
    target: v
    connect: {rule: all_to_all}
    weight: 1 mV
    plasticity: {rule: reward_stdp, a_pre: 0.1 mV, a_post: -0.15 mV, tau_pre: 20 ms, tau_post: 20 ms, w_min: 0 mV, w_max: 4 mV, tau_c: 1 s, tau_d: 200 ms}
rewards:
  - pre: exc[0]
    post: exc[1]
    within: 20 ms
    reward: 1
    delay: {uniform: [1 s, 3 s]}
"""
    assert simulate(tmp_path, base, "--duration", "10ms").returncode == 0
    cases = [
        (base.replace("i_noise: {uniform: [-6.5, 6.5], every: 1 ms}", "i_noise: 5"), "i_noise", "expected {uniform: [lo, hi]}"),
        (base.replace("[-6.5, 6.5]", "[6.5, -6.5]"), "i_noise.uniform", "lo must not exceed hi"),
        (base.replace("every: 1 ms", "every: 0 ms"), "i_noise.every", "greater than zero"),
        (base.replace("pre: exc[0]", "pre: exc0"), "rewards[0].pre", "expected POPULATION[INDEX]"),
        (base.replace("post: exc[1]", "post: inh[1]"), "rewards[0].post", "no population named 'inh'"),
        (base.replace("post: exc[1]", "post: exc[4]"), "rewards[0].post", "index 4 is outside 'exc' (0..<4)"),
        (base.replace("within: 20 ms", "within: -1 ms"), "rewards[0].within", "greater than zero"),
        (base.replace("[1 s, 3 s]", "[3 s, 1 s]"), "rewards[0].delay.uniform", "lo must not exceed hi"),
        (base.replace("delay: {uniform: [1 s, 3 s]}", "delay: 0.1 ms"), "", "delay must lie between one step"),
        (base.replace("    reward: 1\n", ""), "rewards[0]", "reward"),
        (base.replace("rule: reward_stdp", "rule: stdp").replace(", tau_c: 1 s, tau_d: 200 ms", ""), "",
         "no projection learns from rewards"),
    ]
    for k, (text, field, message) in enumerate(cases):
        result = simulate(tmp_path, text, "--duration", "10ms")
        assert result.returncode != 0 and field in result.stderr and message in result.stderr, (k, result.stderr)
        assert "nothing was run" in result.stderr, (k, result.stderr)


def test_synapse_probes_and_probe_every(tmp_path):
    """`PROJ:w:PRE-POST` follows one weight, `PROJ:c:…` its eligibility, and
    `--probe-every` samples them; the last sample equals the saved weight."""
    text = noisy(3, -6.5, 6.5, 1.0, size=50).replace("float64", "float32").replace("i_ext: -3", "i_ext: 10") + """projections:
  - name: rec
    from: rs
    to: rs
    target: v
    connect: {rule: fixed_probability, p: 0.3}
    weight: 2 mV
    delay: 1 ms
    plasticity: {rule: reward_stdp, a_pre: 0.1 mV, a_post: -0.15 mV, tau_pre: 20 ms, tau_post: 20 ms, w_min: 0 mV, w_max: 4 mV, tau_c: 1 s, tau_d: 200 ms, baseline: -0.2 Hz}
"""
    path = tmp_path / "net.yaml"
    path.write_text(text)
    binary = str(spikeloop_binary())
    # Which synapses exist depends on the seed: take the first from neuron 0 that does.
    probe = None
    for j in range(50):
        r = subprocess.run([binary, "simulate", str(path), "--duration", "1ms", "--probe", f"rec:w:0-{j}", "--probes", str(tmp_path / "x.csv")],
                           capture_output=True, text=True)
        if r.returncode == 0:
            probe = f"0-{j}"
            break
        assert "has no synapse from 0 to" in r.stderr, r.stderr
    assert probe
    result = subprocess.run([binary, "simulate", str(path), "--duration", "2s", "--probe", f"rec:w:{probe}", "--probe", f"rec:c:{probe}",
                             "--probe-every", "10ms", "--probes", str(tmp_path / "w.csv"), "--save-weights", str(tmp_path / "w.slw")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = np.loadtxt(tmp_path / "w.csv", delimiter=",", skiprows=1)
    assert rows.shape == (200, 3) and np.allclose(rows[:, 0], np.arange(1, 201) * 10)
    assert len(set(rows[:, 1])) > 5, "the weight should move under tonic dopamine"
    assert np.any(rows[:, 2] != 0)
    for bad, message in [("rec:x:0-1", "valid: w, c"), ("rec:w:0", "expected PRE-POST"), ("nope:w:0-1", "no population or projection 'nope'")]:
        r = subprocess.run([binary, "simulate", str(path), "--duration", "1ms", "--probe", bad, "--probes", str(tmp_path / "x.csv")],
                           capture_output=True, text=True)
        assert r.returncode != 0 and message in r.stderr, (bad, r.stderr)


def test_the_distal_reward_tool_runs_and_reports(tmp_path):
    """A short run of Tools/distal-reward with the paper's algorithm beside
    it (the full hour is a demo, about 2.5 + 6 min): its network builds,
    rewards are earned, the table and plot appear."""
    result = subprocess.run([str(ROOT / ".venv/bin/python"), str(ROOT / "Tools/distal-reward"), "--duration", "60", "--paper",
                             "--out", str(tmp_path), "--plot", str(tmp_path / "plot.png")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| | spikeloop | the paper's algorithm (NumPy) |" in result.stdout, result.stdout
    assert "| chosen synapse at the end |" in result.stdout and (tmp_path / "plot.png").stat().st_size > 10_000
    earned, delivered = map(int, re.search(r"rewards +(\d+) earned by spike pairings, (\d+) delivered", result.stdout).groups())
    assert re.search(rf"\| rewards earned \| {earned} \|", result.stdout), result.stdout
    assert 0 < delivered <= earned, result.stdout
