#!/usr/bin/env python3
"""Random LIF networks, spike for spike against Brian2, in float64 and float32.

Draws ``--networks`` networks from ``--seed`` (random when not given, and
printed): spike sources and one or two LIF populations with drives near
threshold, refractoriness, direct ``v`` synapses and exponential ``g_e`` /
``g_i`` synapses, delays of 0-1.5 ms, recurrent connections. Nothing is
re-rolled: every network drawn is run.

Each network runs in Brian2 2.9 (numpy target, ``method='exact'``, float64;
``make_fixtures.run_brian2``) and in ``spikeloop simulate`` with
``precision: float64`` and with ``precision: float32``. Printed per
precision: networks whose spikes are all identical to Brian2's, and the
fraction of Brian2's spikes that spikeloop has at the same step and within
one step. The last line is one JSON object (``--json``).

Run from the repository root:
    .venv/bin/python Tests/brian2/precision_check.py --networks 50
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
import make_fixtures as mf  # noqa: E402



def steps(rng, lo, hi):
    """A time that is a whole number of steps, ms (delays and t_ref round to steps)."""
    return round(rng.randint(lo, hi) * mf.DT_MS, 10)


def random_network(rng: random.Random):
    """One network: populations, projections, duration (ms)."""
    duration = float(rng.choice([200, 300, 400]))
    mf.DT_MS = rng.choice([0.05, 0.1, 0.2])
    pops = []
    n_sources = rng.randint(1, 2)
    for s in range(n_sources):
        size = rng.randint(2, 8)
        rows = []
        for _ in range(size):
            count = rng.randint(1, 25)
            rows.append(sorted(set(steps(rng, 1, int(duration / mf.DT_MS) - 1) for _ in range(count))))
        pops.append(mf.spike_times(f"src{s}", rows))
    lif_names = []
    for k in range(rng.randint(1, 2)):
        size = rng.randint(3, 60)
        v_rest = round(rng.uniform(-75, -60), 6)
        v_threshold = round(v_rest + rng.uniform(8, 20), 6)
        v_reset = round(rng.uniform(v_rest - 10, v_threshold - 2), 6)
        tau_m = round(rng.uniform(5, 40), 6)
        r_m = round(rng.choice([1.0, rng.uniform(0.5, 200)]), 6)
        gap = v_threshold - v_rest
        # Drives around threshold: some never reach it alone, some fire regularly.
        i_ext = [round(gap * rng.uniform(0.8, 1.4) / r_m, 8) for _ in range(size)]
        v_init = [round(rng.uniform(v_reset, v_threshold), 6) for _ in range(size)]
        name = f"lif{k}"
        lif_names.append(name)
        pops.append(mf.lif(name, size, tau_m=tau_m, v_rest=v_rest, v_threshold=v_threshold,
                           v_reset=v_reset, t_ref=steps(rng, 0, 50),
                           tau_e=round(rng.uniform(1, 10), 6), tau_i=round(rng.uniform(3, 20), 6),
                           r_m=r_m, i_ext=i_ext, v_init=v_init))
    sizes = {p["name"]: p["size"] for p in pops}
    projs = []
    for target_pop in lif_names:
        for source in [p["name"] for p in pops]:
            for variable in ("v", "g_e", "g_i"):
                if rng.random() < 0.45:
                    continue
                p = rng.uniform(0.1, 0.6)
                pairs = [(i, j) for i in range(sizes[source]) for j in range(sizes[target_pop])
                         if rng.random() < p and not (source == target_pop and i == j)]
                if not pairs:
                    continue
                lo, hi = {"v": (-3, 6), "g_e": (0, 8), "g_i": (-10, 0)}[variable]
                weights = [round(rng.uniform(lo, hi), 4) for _ in pairs]
                delays = [steps(rng, 0, round(1.5 / mf.DT_MS)) for _ in pairs]
                projs.append(mf.projection(source, target_pop, variable, ("list", pairs), weights,
                                           delay=delays, name=f"{source}->{target_pop}:{variable}"))
    return pops, projs, duration


def spikeloop_spikes(binary, yaml_text, precision, duration, folder):
    path = Path(folder) / f"net-{precision}.yaml"
    text = yaml_text.replace("seed: 0\n", f"seed: 0\nprecision: {precision}\n", 1)
    path.write_text(text)
    out = Path(folder) / f"spikes-{precision}.csv"
    proc = subprocess.run([str(binary), "simulate", str(path), "--duration", f"{duration:g}ms",
                           "--spikes", str(out)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"spikeloop simulate failed: {proc.stderr}")
    spikes = []
    with open(out) as f:
        for row in csv.DictReader(f):
            spikes.append((round(float(row["time_ms"]) / mf.DT_MS), row["population"], int(row["neuron"])))
    return sorted(spikes)


def agreement(reference, ours):
    """(same step, within one step) counts of the reference's spikes."""
    mine = collections.Counter(ours)
    same = sum(min(c, mine[s]) for s, c in collections.Counter(reference).items())
    near = 0
    left = collections.Counter(ours)
    for step, pop, neuron in reference:
        for d in (0, -1, 1):
            key = (step + d, pop, neuron)
            if left[key] > 0:
                left[key] -= 1
                near += 1
                break
    return same, near


def seeded_arguments(parser, argv):
    """Adds --seed, --spikeloop and --json, parses; returns the arguments, the
    seed (drawn when not given, and printed) and a generator seeded with it."""
    parser.add_argument("--seed", type=int, default=None, help="default: random, printed")
    parser.add_argument("--spikeloop", default=str(REPO / ".build" / "release" / "spikeloop"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    print(f"seed {seed} (rerun: --seed {seed})", file=sys.stderr)
    return args, seed, random.Random(seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=50)
    args, seed, rng = seeded_arguments(parser, argv)

    totals = {p: {"identical": 0, "same": 0, "near": 0, "ours": 0} for p in ("float64", "float32")}
    reference_total = 0
    first_difference = {}
    started = time.monotonic()
    for n in range(args.networks):
        pops, projs, duration = random_network(rng)
        text = mf.network_yaml(f"random{n}", f"precision_check.py seed {seed}, network {n}, dt {mf.DT_MS} ms",
                               pops, projs, duration)
        reference, _, _ = mf.run_brian2(pops, projs, duration)
        reference_total += len(reference)
        with tempfile.TemporaryDirectory() as folder:
            for precision, t in totals.items():
                ours = spikeloop_spikes(args.spikeloop, text, precision, duration, folder)
                same, near = agreement(reference, ours)
                t["same"] += same
                t["near"] += near
                t["ours"] += len(ours)
                if ours == reference:
                    t["identical"] += 1
                elif precision not in first_difference:
                    diff = next((a, b) for a, b in zip(reference + [None] * len(ours), ours + [None] * len(reference)) if a != b)
                    first_difference[precision] = {"network": n, "brian2": diff[0], "spikeloop": diff[1],
                                                   "brian2_spikes": len(reference), "spikeloop_spikes": len(ours)}
        print(f"network {n:3d}: {len(reference):5d} Brian2 spikes, "
              f"{sum(p['size'] for p in pops if p['model'] == 'lif'):3d} LIF neurons, {len(projs)} projections, dt {mf.DT_MS} ms",
              file=sys.stderr)

    report = {"seed": seed, "networks": args.networks, "brian2_spikes": reference_total,
              "seconds": round(time.monotonic() - started, 1)}
    print(f"\n{args.networks} random networks (seed {seed}), {reference_total} Brian2 spikes")
    print(f"{'precision':<10} {'identical networks':>19} {'same step':>10} {'within 1 step':>14} {'spike count':>12}")
    for precision, t in totals.items():
        same = t["same"] / max(1, reference_total)
        near = t["near"] / max(1, reference_total)
        print(f"{precision:<10} {t['identical']:>12d} of {args.networks:<4d} {same:>10.4%} {near:>14.4%} {t['ours']:>12d}")
        report[precision] = dict(t, same_fraction=same, near_fraction=near,
                                 first_difference=first_difference.get(precision))
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
