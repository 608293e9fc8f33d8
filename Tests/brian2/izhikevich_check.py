#!/usr/bin/env python3
"""Izhikevich populations, spike for spike against Brian2, in float64 and float32.

For every preset of docs/network-file.md (Izhikevich 2003, fig. 2) one
population of neurons with drives and initial potentials drawn from
``--seed``, and one driven network: spike sources onto regular-spiking and
fast-spiking populations through direct ``v`` synapses with delays, with
recurrent excitation and inhibition. Nothing is re-rolled.

Both sides integrate as docs/network-file.md documents: forward Euler at the
network's dt, ``v += dt·(0.04 v² + 5 v + 140 − u + I)``,
``u += dt·a·(b v − u)`` from the values at the start of the step; a spike
when ``v ≥ 30``, then ``v = c, u += d``. Brian2 2.9 runs ``method='euler'``
with the numpy target. Printed per case and precision: spikes identical or
not, the fraction of Brian2's spikes at the same step, and the largest
difference of ``v`` over the run; and how Brian2 agrees with itself when
every ``v`` moves one ulp up at ten times spread over the run, which tells a
well-conditioned case from a chaotic one. The last line is one JSON object.

Run from the repository root:
    .venv/bin/python Tests/brian2/izhikevich_check.py --seed 1
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from precision_check import agreement, seeded_arguments  # noqa: E402
#: Brian2's self-check: one-ulp nudges of v, evenly spread over the run.
NUDGES = 10

#: name -> (a, b, c, d), as Sources/Neural/NetworkSpec.swift lists them.
PRESETS = {
    "regular_spiking": (0.02, 0.2, -65.0, 8.0),
    "intrinsically_bursting": (0.02, 0.2, -55.0, 4.0),
    "chattering": (0.02, 0.2, -50.0, 2.0),
    "fast_spiking": (0.1, 0.2, -65.0, 2.0),
}


def preset_case(rng, preset, dt):
    size = 20
    pop = {"name": "cells", "preset": preset, "size": size,
           "i_ext": [round(rng.uniform(0, 15), 4) for _ in range(size)],
           "v_init": [round(rng.uniform(-70, -60), 4) for _ in range(size)]}
    return {"name": preset, "dt": dt, "duration": 500.0, "pops": [pop], "sources": [], "projs": []}


def network_case(rng, dt):
    duration = 500.0
    steps = int(duration / dt)
    sources = [{"name": "input", "size": 10,
                "times": [sorted({round(rng.randint(1, steps - 1) * dt, 10) for _ in range(rng.randint(5, 40))})
                          for _ in range(10)]}]
    pops = [{"name": "exc", "preset": "regular_spiking", "size": 40,
             "i_ext": [round(rng.uniform(0, 6), 4) for _ in range(40)],
             "v_init": [round(rng.uniform(-70, -60), 4) for _ in range(40)]},
            {"name": "inh", "preset": "fast_spiking", "size": 10,
             "i_ext": [round(rng.uniform(0, 6), 4) for _ in range(10)],
             "v_init": [round(rng.uniform(-70, -60), 4) for _ in range(10)]}]
    sizes = {"input": 10, "exc": 40, "inh": 10}
    projs = []
    for source, target, lo, hi in (("input", "exc", 5, 20), ("input", "inh", 5, 20), ("exc", "exc", 0, 6),
                                   ("exc", "inh", 0, 8), ("inh", "exc", -12, 0)):
        pairs = [(i, j) for i in range(sizes[source]) for j in range(sizes[target])
                 if rng.random() < 0.2 and not (source == target and i == j)]
        projs.append({"name": f"{source}->{target}", "from": source, "to": target, "pairs": pairs,
                      "weights": [round(rng.uniform(lo, hi), 4) for _ in pairs],
                      "delays": [round(rng.randint(0, round(2 / dt)) * dt, 10) for _ in pairs]})
    return {"name": "network", "dt": dt, "duration": duration, "pops": pops, "sources": sources, "projs": projs}


def yaml_text(case, precision):
    def nums(xs):
        return "[" + ", ".join(f"{x:.10g}" for x in xs) + "]"
    lines = [f"name: {case['name']}", f"dt: {case['dt']:g} ms", "seed: 0", f"precision: {precision}", "populations:"]
    for s in case["sources"]:
        rows = ", ".join("[" + ", ".join(f"{t:.10g} ms" for t in row) + "]" for row in s["times"])
        lines += [f"  - name: {s['name']}", "    model: spike_times", f"    size: {s['size']}",
                  f"    params: {{times: [{rows}]}}"]
    for p in case["pops"]:
        lines += [f"  - name: {p['name']}", "    model: izhikevich", f"    size: {p['size']}",
                  f"    params: {{preset: {p['preset']}, i_ext: {nums(p['i_ext'])}}}",
                  "    init: {v: [" + ", ".join(f"{v:.10g} mV" for v in p["v_init"]) + "]}"]
    lines.append("projections:" if case["projs"] else "projections: []")
    for q in case["projs"]:
        pairs = ", ".join(f"[{i}, {j}]" for i, j in q["pairs"])
        lines += [f"  - name: {q['name']}", f"    from: {q['from']}", f"    to: {q['to']}", "    target: v",
                  f"    connect: {{rule: list, pairs: [{pairs}]}}",
                  "    weight: {list: [" + ", ".join(f"{w:.10g} mV" for w in q["weights"]) + "]}",
                  "    delay: {list: [" + ", ".join(f"{d:.10g} ms" for d in q["delays"]) + "]}"]
    return "\n".join(lines) + "\n"


def run_brian2(case, nudges=0):
    """Brian2's spikes and v traces; with `nudges`, the run is cut into that
    many equal parts and every v moves up by one ulp before each."""
    import brian2 as b2
    from brian2 import ms

    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = case["dt"] * ms
    groups, objects, monitors, traces = {}, [], {}, {}
    for s in case["sources"]:
        idx = [i for i, row in enumerate(s["times"]) for _ in row]
        t = [x for row in s["times"] for x in row]
        g = b2.SpikeGeneratorGroup(s["size"], idx, np.asarray(t) * ms, name=f"src_{s['name']}")
        groups[s["name"]] = g
    for p in case["pops"]:
        a, b, c, d = PRESETS[p["preset"]]
        g = b2.NeuronGroup(p["size"], """dv/dt = (0.04*v**2 + 5*v + 140 - u + I) / ms : 1
                                         du/dt = a*(b*v - u) / ms : 1
                                         I : 1 (constant)""",
                           threshold="v >= 30", reset="v = c; u += d", method="euler",
                           namespace={"a": a, "b": b, "c": c, "d": d}, name=f"pop_{p['name']}")
        g.I = np.asarray(p["i_ext"])
        g.v = np.asarray(p["v_init"])
        g.u = b * np.asarray(p["v_init"])
        traces[p["name"]] = b2.StateMonitor(g, "v", record=True, when="end", name=f"trace_{p['name']}")
        objects.append(traces[p["name"]])
        groups[p["name"]] = g
    for name, g in groups.items():
        monitors[name] = b2.SpikeMonitor(g, name=f"spikes_{name}")
    objects += list(groups.values()) + list(monitors.values())
    for k, q in enumerate(case["projs"]):
        s = b2.Synapses(groups[q["from"]], groups[q["to"]], "w : 1", on_pre="v_post += w", name=f"proj_{k}")
        if q["pairs"]:
            s.connect(i=np.array([i for i, _ in q["pairs"]]), j=np.array([j for _, j in q["pairs"]]))
            lookup = {pair: n for n, pair in enumerate(q["pairs"])}
            order = [lookup[(int(i), int(j))] for i, j in zip(s.i[:], s.j[:])]
            s.w = np.asarray(q["weights"])[order]
            s.delay = np.asarray(q["delays"])[order] * ms
        objects.append(s)
    net = b2.Network(objects)
    if nudges:
        for _ in range(nudges):
            for p in case["pops"]:
                g = groups[p["name"]]
                g.v = np.nextafter(np.asarray(g.v[:]), np.inf)
            net.run(case["duration"] / nudges * ms)
    else:
        net.run(case["duration"] * ms)
    spikes = sorted((int(round(float(t / ms) / case["dt"])), name, int(i))
                    for name, mon in monitors.items() for i, t in zip(mon.i[:], mon.t[:]))
    return spikes, {name: np.asarray(m.v).T for name, m in traces.items()}


def run_spikeloop(binary, case, precision, folder):
    path = Path(folder) / f"{case['name']}-{precision}.yaml"
    path.write_text(yaml_text(case, precision))
    spikes_csv = Path(folder) / "spikes.csv"
    probes_csv = Path(folder) / "probes.csv"
    probes = [f"{p['name']}:v:{j}" for p in case["pops"] for j in range(p["size"])]
    command = [str(binary), "simulate", str(path), "--duration", f"{case['duration']:g}ms",
               "--spikes", str(spikes_csv), "--probes", str(probes_csv)]
    for probe in probes:
        command += ["--probe", probe]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"spikeloop simulate failed: {proc.stderr}")
    with open(spikes_csv) as f:
        spikes = sorted((round(float(r["time_ms"]) / case["dt"]), r["population"], int(r["neuron"]))
                        for r in csv.DictReader(f))
    table = np.loadtxt(probes_csv, delimiter=",", skiprows=1, ndmin=2)[:, 1:]
    traces, column = {}, 0
    for p in case["pops"]:
        traces[p["name"]] = table[:, column:column + p["size"]]
        column += p["size"]
    return spikes, traces


def main(argv=None):
    args, seed, rng = seeded_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]), argv)
    cases = [preset_case(rng, preset, 0.1) for preset in PRESETS] + [network_case(rng, 0.1), network_case(rng, 0.05)]
    cases[-1]["name"] = "network-dt0.05"

    report = {"seed": seed, "cases": []}
    print(f"{'case':<24} {'Brian2 spikes':>13}  {'Brian2, v + 1 ulp':>18}  "
          f"{'float64: same / max |dv| mV':>30}  {'float32: same step / max |dv| mV':>34}")
    for case in cases:
        reference, brian_v = run_brian2(case)
        # Brian2 against itself, every v one ulp higher at the start and at
        # nine more times during the run (a rounding difference, as another
        # order of operations makes one): whether the case is well-conditioned
        # at all. A chaotic one cannot be matched spike for spike by any other
        # order of float64 operations.
        itself, _ = run_brian2(case, nudges=NUDGES)
        self_same = agreement(reference, itself)[0] / max(1, len(reference))
        row = {"case": case["name"], "brian2_spikes": len(reference),
               "brian2_nudged": {"identical": itself == reference, "same_fraction": self_same}}
        cells = [f"{'identical' if itself == reference else f'{self_same:.2%}':>18}"]
        with tempfile.TemporaryDirectory() as folder:
            for precision in ("float64", "float32"):
                ours, our_v = run_spikeloop(args.spikeloop, case, precision, folder)
                same = agreement(reference, ours)[0]
                dv = max(float(np.max(np.abs(our_v[name] - brian_v[name]))) for name in brian_v)
                row[precision] = {"identical": ours == reference, "spikes": len(ours),
                                  "same_fraction": same / max(1, len(reference)), "max_dv_mv": dv}
                cells.append(f"{'identical' if ours == reference else f'{same / max(1, len(reference)):.2%}':>12} / {dv:9.2e}")
        print(f"{case['name']:<24} {len(reference):>13}  {cells[0]}  {cells[1]:>30}  {cells[2]:>34}")
        report["cases"].append(row)
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
