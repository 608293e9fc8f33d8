#!/usr/bin/env python3
"""CUBA, spike for spike: spikeloop against Brian2 on shared network instances.

A firing-rate comparison on independent seeds cannot see a 5 % parameter
error: the rate of one CUBA instance moves by 2-3 % between two runs that
differ only in rounding, and several single-parameter changes of 5 % move it
by about 1 % (the refractory period) to 6 %.  The early transient does see
them.  With one network instance shared by both simulators (the same synapse
lists and initial voltages, drawn here from a seed chosen at random unless
--seed is given), the spikes of the first WINDOW_MS are deterministic up to
rounding.

Per instance: the Jaccard index J of the (neuron, step) spike sets of
spikeloop and Brian2 (float64, numpy target, ``method='exact'``) over the
first WINDOW_MS.  The check: the median J over the instances (11 by default)
is at least MIN_JACCARD.

Why a median and not every instance: on some instances a membrane potential
passes within one Float32 step of the threshold early on (instance
1609219033: neuron 925 at -50.0000027 mV at step 15, while Float32 resolves
3.8e-6 mV at 50 mV), the two runs part there and CUBA's chaos spreads it.

Measured on 2026-12-01, on 33 random instances: spikeloop's J was 0.95-1.00 on
29 and 0.21, 0.59, 0.59 and 0.89 on the other four; Brian2's own float32 run
against its float64 one was below 0.9 once (0.59). With about one instance in
eight parting early, a median over 11 fails by chance about once in 300 runs.

This check found a fidelity defect, fixed on the same day: the LIF update was
written `pvv·v + rest·(1 − pvv)`, which puts Float32's rounding of `pvv` into
the fixed point (about 0.3 uV at -50 mV); half the instances then parted
within 50 ms (CI: median 0.79 over 11). Written about the fixed point, as
Brian2 writes it (`rest + (v − rest)·pvv`), spikeloop now stays with Brian2's
float64 run as long as Brian2's float32 run does.

What a 5 % change gives (``--mutations`` applies each to spikeloop's network
file only, on every instance; Tests/python/test_cuba_check.py asserts that
each one fails the check): tau_m, tau_e, tau_i, V_t, V_r, E_l, w_e, w_i and
the refractory period, each up and down, the excitatory delay moved by one
step, 5 % of the excitatory synapses dropped.  Over 11 instances the largest
median J of any change was 0.72 (refractory period; V_r 0.65: both act only
from the second spikes on), most were below 0.3.

Also printed, not checked: J at 20 and 100 ms (chaos spreads any difference
after ~100 ms) and the rate over the run.

Run from the repository root with the venv's Python (Tools/bootstrap) after
``swift build -c release --product spikeloop``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import num  # noqa: E402  (numbers written exactly as the fixtures write them)

REPO = Path(__file__).resolve().parents[2]
DT_MS = 0.1
N, N_EXC = 4000, 3200
P_CONNECT = 0.02
WINDOW_MS = 50.0
MIN_JACCARD = 0.9
#: Brian2's CUBA example, in ms and mV.
PARAMS = dict(tau_m=20.0, tau_e=5.0, tau_i=10.0, v_threshold=-50.0, v_reset=-60.0,
              v_rest=-49.0, w_e=1.62, w_i=-9.0, t_ref=5.0, delay_e=0.0)


class Instance:
    """One CUBA network: initial voltages and the two synapse lists."""

    def __init__(self, seed: int):
        rng = np.random.default_rng(seed)
        self.seed = seed
        self.v0 = np.round(-60.0 + 10.0 * rng.random(N), 6)  # written exactly in the YAML
        self.exc = self._pairs(rng, np.arange(N_EXC))
        self.inh = self._pairs(rng, np.arange(N_EXC, N))

    @staticmethod
    def _pairs(rng, sources):
        i, j = np.nonzero(rng.random((len(sources), N)) < P_CONNECT)
        return sources[i], j

    def dropping(self, fraction: float, seed: int) -> "Instance":
        """The same instance without a random `fraction` of its excitatory synapses."""
        other = object.__new__(Instance)
        other.seed, other.v0, other.inh = self.seed, self.v0, self.inh
        keep = np.random.default_rng(seed).random(len(self.exc[0])) >= fraction
        other.exc = (self.exc[0][keep], self.exc[1][keep])
        return other


def mutations():
    """(label, parameter overrides, instance transform) for every 5 % change."""
    out = []
    for key in ("tau_m", "tau_e", "tau_i", "v_threshold", "v_reset", "v_rest", "w_e", "w_i", "t_ref"):
        for sign in (+1, -1):
            out.append((f"{key} {'+' if sign > 0 else '-'}5%", {key: PARAMS[key] * (1 + 0.05 * sign)}, None))
    out.append(("delay_e +1 step", {"delay_e": DT_MS}, None))
    out.append(("5% of exc synapses dropped", {}, lambda inst: inst.dropping(0.05, seed=inst.seed + 1)))
    return out


def network_yaml(inst: Instance, params: dict, precision: str = "float32") -> str:
    p = params
    pairs = lambda ij: ", ".join(f"[{i}, {j}]" for i, j in zip(*ij))
    return "\n".join([
        f"# CUBA instance {inst.seed} (Tests/brian2/cuba_check.py)",
        "name: cuba_instance",
        f"dt: {num(DT_MS)} ms",
        "seed: 0",
        f"precision: {precision}",
        "populations:",
        "  - name: cuba",
        "    model: lif",
        f"    size: {N}",
        "    params:",
        f"      tau_m: {num(p['tau_m'])} ms",
        f"      v_rest: {num(p['v_rest'])} mV",
        f"      v_threshold: {num(p['v_threshold'])} mV",
        f"      v_reset: {num(p['v_reset'])} mV",
        f"      t_ref: {num(p['t_ref'])} ms",
        f"      tau_e: {num(p['tau_e'])} ms",
        f"      tau_i: {num(p['tau_i'])} ms",
        "    init:",
        "      v: [" + ", ".join(f"{num(v)} mV" for v in inst.v0) + "]",
        "projections:",
        "  - name: exc",
        "    from: cuba",
        "    to: cuba",
        "    target: g_e",
        f"    connect: {{rule: list, pairs: [{pairs(inst.exc)}]}}",
        f"    weight: {num(p['w_e'])} mV",
        f"    delay: {num(p['delay_e'])} ms",
        "  - name: inh",
        "    from: cuba",
        "    to: cuba",
        "    target: g_i",
        f"    connect: {{rule: list, pairs: [{pairs(inst.inh)}]}}",
        f"    weight: {num(p['w_i'])} mV",
        "",
    ])


def run_spikeloop(inst: Instance, params: dict, duration_ms: float, binary: Path, workdir: Path,
                  precision: str = "float32"):
    net, csv = workdir / "cuba.yaml", workdir / "spikes.csv"
    net.write_text(network_yaml(inst, params, precision))
    proc = subprocess.run([str(binary), "simulate", str(net), "--duration", f"{num(duration_ms)}ms",
                           "--spikes", str(csv)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"spikeloop simulate failed ({proc.returncode}): {proc.stderr.strip()}")
    data = np.loadtxt(csv, delimiter=",", skiprows=1, usecols=(0, 2), ndmin=2)
    if data.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    return data[:, 1].astype(int), np.round(data[:, 0] / DT_MS).astype(int)


def run_brian2(inst: Instance, params: dict, duration_ms: float, float32: bool = False):
    import brian2 as b
    b.BrianLogger.log_level_error()
    b.start_scope()
    b.prefs.codegen.target = "numpy"
    b.prefs.core.default_float_dtype = np.float32 if float32 else np.float64
    b.defaultclock.dt = DT_MS * b.ms
    ms, mV = b.ms, b.mV
    ns = {"El": params["v_rest"] * mV, "taum": params["tau_m"] * ms, "taue": params["tau_e"] * ms,
          "taui": params["tau_i"] * ms, "Vt": params["v_threshold"] * mV, "Vr": params["v_reset"] * mV,
          "we": params["w_e"] * mV, "wi": params["w_i"] * mV}
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    group = b.NeuronGroup(N, eqs, threshold="v>Vt", reset="v = Vr", refractory=params["t_ref"] * ms,
                          method="exact", namespace=ns)
    group.v = inst.v0 * mV
    ce = b.Synapses(group, group, on_pre="ge += we", delay=params["delay_e"] * ms, namespace=ns)
    ce.connect(i=inst.exc[0], j=inst.exc[1])
    ci = b.Synapses(group, group, on_pre="gi += wi", namespace=ns)
    ci.connect(i=inst.inh[0], j=inst.inh[1])
    monitor = b.SpikeMonitor(group)
    b.run(duration_ms * ms)
    return np.asarray(monitor.i, int), np.round(np.asarray(monitor.t / ms) / DT_MS).astype(int)


def jaccard(a, b, window_ms: float) -> float:
    limit = round(window_ms / DT_MS)
    sa = {(int(i), int(s)) for i, s in zip(*a) if s < limit}
    sb = {(int(i), int(s)) for i, s in zip(*b) if s < limit}
    return len(sa & sb) / max(1, len(sa | sb))


def compare(reference, other, duration_ms: float) -> dict:
    out = {f"jaccard_{w:g}ms": jaccard(reference, other, w) for w in (20.0, WINDOW_MS, 100.0)
           if w <= duration_ms}
    in_run = np.count_nonzero(reference[1] < round(duration_ms / DT_MS))
    out["rate_hz"] = len(other[0]) / N / (duration_ms / 1000)
    out["rate_vs_brian2"] = len(other[0]) / max(1, in_run) - 1
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--instances", type=int, default=11, help="network instances (default 11)")
    parser.add_argument("--seed", type=int, default=None, help="first instance's seed (default: random)")
    parser.add_argument("--duration", type=float, default=100.0, help="simulated ms (default 100)")
    parser.add_argument("--mutations", action="store_true",
                        help="also run spikeloop with each 5 %% parameter change, on every instance")
    parser.add_argument("--brian2-mutants", action="store_true",
                        help="also apply each change to Brian2 itself and compare with Brian2, on every instance")
    parser.add_argument("--spikeloop", type=Path, default=REPO / ".build" / "release" / "spikeloop")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.duration < WINDOW_MS:
        parser.error(f"--duration must be at least the {WINDOW_MS:g} ms window")
    if not args.spikeloop.exists():
        parser.error(f"{args.spikeloop} not found: run `swift build -c release --product spikeloop`")
    first = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)

    key = f"jaccard_{WINDOW_MS:g}ms"
    report = {"window_ms": WINDOW_MS, "min_jaccard": MIN_JACCARD, "first_seed": first, "instances": [],
              "mutations": [], "brian2_mutants": []}
    with tempfile.TemporaryDirectory(prefix="cuba-check-") as tmp:
        workdir = Path(tmp)
        cases = []
        for k in range(args.instances):
            inst = Instance(first + k)
            reference = run_brian2(inst, PARAMS, args.duration)
            cases.append((inst, reference))
            row = {"seed": inst.seed, "brian2_spikes": len(reference[0])}
            row["spikeloop"] = compare(reference, run_spikeloop(inst, PARAMS, args.duration, args.spikeloop, workdir),
                                       args.duration)
            row["spikeloop_float64"] = compare(
                reference, run_spikeloop(inst, PARAMS, args.duration, args.spikeloop, workdir, "float64"), args.duration)
            row["brian2_float32"] = compare(reference, run_brian2(inst, PARAMS, args.duration, float32=True),
                                            args.duration)
            report["instances"].append(row)
            print(f"instance {inst.seed}: spikeloop {fmt(row['spikeloop'])} | spikeloop float64 "
                  f"{fmt(row['spikeloop_float64'])} | brian2 float32 {fmt(row['brian2_float32'])}",
                  file=sys.stderr, flush=True)
        report["median_jaccard"] = median(r["spikeloop"][key] for r in report["instances"])
        report["median_jaccard_float64"] = median(r["spikeloop_float64"][key] for r in report["instances"])
        report["median_jaccard_brian2_float32"] = median(r["brian2_float32"][key] for r in report["instances"])
        runners = []
        if args.mutations:
            runners.append(("mutations", "spikeloop",
                            lambda inst, prm: run_spikeloop(inst, prm, WINDOW_MS, args.spikeloop, workdir)))
        if args.brian2_mutants:
            runners.append(("brian2_mutants", "brian2", lambda inst, prm: run_brian2(inst, prm, WINDOW_MS)))
        for slot, who, runner in runners:
            for label, overrides, transform in mutations():
                values = []
                for inst, reference in cases:
                    changed = transform(inst) if transform else inst
                    values.append(jaccard(reference, runner(changed, {**PARAMS, **overrides}), WINDOW_MS))
                m = median(values)
                report[slot].append({"change": label, "jaccard": values, "median_jaccard": m,
                                     "passes": m >= MIN_JACCARD})
                print(f"{who}, {label:28s} median J {m:.3f} ({' '.join(f'{v:.2f}' for v in values)})"
                      + ("" if m >= MIN_JACCARD else "  FAILS"), file=sys.stderr, flush=True)

    ok = report["median_jaccard"] >= MIN_JACCARD
    caught = all(not m["passes"] for m in report["mutations"] + report["brian2_mutants"])
    report["passes"], report["mutations_caught"] = ok, caught
    if args.json:
        print(json.dumps(report))
    print(f"cuba check: {'PASS' if ok else 'FAIL'}: median Jaccard over the first {WINDOW_MS:g} ms "
          f"{report['median_jaccard']:.4f} (at least {MIN_JACCARD}; spikeloop float64: "
          f"{report['median_jaccard_float64']:.4f}; Brian2 float32: "
          f"{report['median_jaccard_brian2_float32']:.4f}) on instances {first}..{first + args.instances - 1}"
          + ("" if not report["mutations"] + report["brian2_mutants"] else
             f"; {'every' if caught else 'NOT every'} 5 % change fails it"), file=sys.stderr)
    sys.exit(0 if ok and caught else 1)


def median(values) -> float:
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def fmt(result: dict) -> str:
    parts = [f"{k.removeprefix('jaccard_')} {v:.3f}" for k, v in result.items() if k.startswith("jaccard_")]
    parts.append(f"rate {result['rate_hz']:.2f} Hz ({result['rate_vs_brian2']:+.1%})")
    return ", ".join(parts)


if __name__ == "__main__":
    main()
