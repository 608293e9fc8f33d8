#!/usr/bin/env python3
"""Brian2 conformance fixtures for spikeloop's network engine.

Every network below is defined once, as plain Python data in spikeloop's
internal units (ms, mV, nA, MOhm).  For each one this script

1. builds and runs it in Brian2 2.9 (numpy target, ``method='exact'``,
   ``dt = 0.1 ms``) with the semantics of docs/network-file.md;
2. writes it as a spikeloop network file, ``NAME.yaml``;
3. writes Brian2's spikes (every population, spike sources included) to
   ``NAME.spikes.csv``: ``step,population,neuron`` with
   ``step = round(t / dt)``, sorted by step, population name, neuron;

and lists all networks with their durations in ``index.csv``
(``name,duration_ms``).  The output directory is
``Tests/NeuralTests/Fixtures/brian2/``.

Two guards make the fixtures safe for an engine with Float32 state:

* **margin**: Brian2's membrane potential is recorded after the state update,
  just before the threshold test, at every step where the neuron is not
  refractory; no value may lie closer to the threshold than the drift a
  Float32 state can accumulate there (see ``required_margin``; 0.3-1.2 uV
  for the parameters used here).
* **float32 replay**: the network is re-run by a small independent Float32
  implementation of the documented semantics (``float32_reference.py``); it
  must produce exactly Brian2's spikes.

A network that fails either guard is rebuilt with its next variant (a
different seed or a slightly shifted drive, see each builder) until it
passes; the variant used is printed.  Everything is deterministic: the only
random numbers come from ``random.Random(seed)``.

Run from the repository root:  ``.venv/bin/python Tests/brian2/make_fixtures.py``
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT_DIR = REPO / "Tests" / "NeuralTests" / "Fixtures" / "brian2"

DT_MS = 0.1
#: Never accept a margin below this, in mV.
MIN_MARGIN_MV = 1e-4
MAX_VARIANTS = 40

sys.path.insert(0, str(HERE))
import float32_reference  # noqa: E402


# ---------------------------------------------------------------------------
# Network description helpers (internal units: ms, mV, nA, MOhm)
# ---------------------------------------------------------------------------

def lif(name, size, *, tau_m, v_rest, v_threshold, v_reset, t_ref=0.0,
        tau_e=None, tau_i=None, r_m=1.0, i_ext=0.0, v_init=None, units=None):
    """A LIF population.  ``i_ext`` and ``v_init`` are a number or a list.

    ``units`` may override the unit a parameter is written in (the value is
    converted), e.g. ``{"i_ext": "pA", "r_m": "Mohm"}``.
    """
    params = {"tau_m": tau_m, "v_rest": v_rest, "v_threshold": v_threshold,
              "v_reset": v_reset, "t_ref": t_ref}
    if tau_e is not None:
        params["tau_e"] = tau_e
    if tau_i is not None:
        params["tau_i"] = tau_i
    params["r_m"] = r_m
    params["i_ext"] = i_ext
    for key in ("i_ext",):
        if isinstance(params[key], (list, tuple)):
            assert len(params[key]) == size, (name, key)
    if isinstance(v_init, (list, tuple)):
        assert len(v_init) == size, (name, "v_init")
    return {"name": name, "model": "lif", "size": size, "params": params,
            "v_init": v_init, "units": dict(units or {})}


def spike_times(name, times):
    """A spike source: one list of times (ms) per neuron, each non-empty."""
    for row in times:
        assert row, f"{name}: every neuron needs at least one spike time"
        steps = [round(t / DT_MS) for t in row]
        assert all(abs(s * DT_MS - t) < 1e-9 for s, t in zip(steps, row)), (name, row)
        assert len(set(steps)) == len(steps), (name, row)
    return {"name": name, "model": "spike_times", "size": len(times),
            "times": [list(map(float, row)) for row in times]}


def projection(frm, to, target, connect, weight, delay=0.0, name=None, plasticity=None):
    """``connect`` is ("one_to_one",), ("all_to_all", exclude_self) or
    ("list", pairs).  ``weight`` (mV) and ``delay`` (ms) are a number or a list
    in the order of the connection list.  ``plasticity``: see `stdp`."""
    assert target in ("v", "g_e", "g_i")
    return {"name": name or f"{frm}->{to}", "from": frm, "to": to,
            "target": target, "connect": connect, "weight": weight, "delay": delay,
            "plasticity": plasticity}


def stdp(a_pre, a_post, tau_pre, tau_post, w_min, w_max, pairing="all_to_all", update="additive"):
    """Pair-based STDP (docs/plasticity.md); mV and ms."""
    assert pairing in ("all_to_all", "nearest") and update in ("additive", "multiplicative")
    return dict(a_pre=a_pre, a_post=a_post, tau_pre=tau_pre, tau_post=tau_post,
                w_min=w_min, w_max=w_max, pairing=pairing, update=update)


def expand_pairs(proj, sizes):
    """The connection list, in the order the engine enumerates it."""
    n_pre, n_post = sizes[proj["from"]], sizes[proj["to"]]
    rule = proj["connect"][0]
    if rule == "one_to_one":
        assert n_pre == n_post
        return [(i, i) for i in range(n_pre)]
    if rule == "all_to_all":
        exclude_self = proj["connect"][1]
        return [(i, j) for i in range(n_pre) for j in range(n_post)
                if not (exclude_self and i == j)]
    if rule == "list":
        pairs = [tuple(p) for p in proj["connect"][1]]
        assert len(set(pairs)) == len(pairs), "duplicate pairs"
        assert all(0 <= i < n_pre and 0 <= j < n_post for i, j in pairs)
        return pairs
    raise ValueError(rule)


def expanded(pops, projs):
    """Each projection with its explicit synapse list, weights and delays."""
    sizes = {p["name"]: p["size"] for p in pops}
    out = []
    for pr in projs:
        pairs = expand_pairs(pr, sizes)
        out.append(dict(pr, pairs=pairs, weights=per_synapse(pr["weight"], len(pairs)),
                        delays=per_synapse(pr["delay"], len(pairs))))
    return out


def per_synapse(value, count):
    if isinstance(value, (list, tuple)):
        assert len(value) == count, (len(value), count)
        return [float(x) for x in value]
    return [float(value)] * count


def r2(x, digits):
    """Round to a short decimal so that YAML and Brian2 see the same number."""
    return round(float(x), digits)


# ---------------------------------------------------------------------------
# The networks.  Each builder takes a variant number (0 first) and returns
# (populations, projections, duration_ms).  Variants > 0 nudge a few values
# by a few tens of uV (see `nudge`) in case variant 0 fails a guard.
# ---------------------------------------------------------------------------

def nudge(variant, key, size=0.05, digits=3):
    """A small deterministic offset (0 for variant 0), different per key."""
    if variant == 0:
        return 0.0
    return round(random.Random(f"{variant}/{key}").uniform(-size, size), digits)


def constant_drive(variant):
    """Constant drives of different sizes and no synapses: sub- and
    supra-threshold neurons, refractory periods 0-10 ms, tau_m 10-40 ms, and
    one population with r_m 100 MOhm and its drive in pA."""
    def drive(pop, values, gap_mv, r_m=1.0, digits=3):
        # Only supra-threshold drives (R*I > gap) are nudged.
        return [r2(x + nudge(variant, f"{pop}{k}") / r_m if x * r_m > gap_mv + 0.5 else x,
                   digits) for k, x in enumerate(values)]

    pops = [
        lif("single", 1, tau_m=10, v_rest=-70, v_threshold=-50, v_reset=-65,
            t_ref=5, i_ext=drive("single", [25], 20)[0]),
        lif("ladder", 8, tau_m=10, v_rest=-60, v_threshold=-50, v_reset=-60, t_ref=2,
            i_ext=drive("ladder", [4, 9, 9.9, 12, 14.5, 18, 25, 40], 10),
            v_init=[-60, -58, -56, -54, -52, -51, -55, -59]),
        # 100 MOhm x pA: R*I = 15, 26, 33.3 mV.
        lif("pico", 3, tau_m=15, v_rest=-65, v_threshold=-52, v_reset=-70, t_ref=0,
            r_m=100, i_ext=drive("pico", [0.15, 0.26, 0.333], 13, r_m=100, digits=6),
            units={"i_ext": "pA"}),
        lif("slow", 1, tau_m=40, v_rest=-65, v_threshold=-45, v_reset=-75, t_ref=10,
            i_ext=drive("slow", [45], 20)[0]),
    ]
    return pops, [], 500.0


def direct_v_delays(variant):
    """Spike sources onto `v` through one-to-one synapses with delays 0, 1, 2
    and 3 ms, plus cross connections with half-millisecond delays; single
    inputs stay sub-threshold, coincident ones make the target fire."""
    stim = spike_times("stim", [
        [10, 40, 41, 100, 103, 250],
        [10, 60, 62, 150, 300, 301.5],
        [10, 80, 80.5, 200, 350, 352],
        [10, 20, 24, 120, 400, 400.1],
    ])
    post = lif("post", 4, tau_m=10, v_rest=-70, v_threshold=-55, v_reset=-70, t_ref=2)
    projs = [
        projection("stim", "post", "v", ("one_to_one",), r2(9 + nudge(variant, "w"), 3),
                   delay=[0, 1, 2, 3]),
        projection("stim", "post", "v", ("list", [(0, 1), (1, 2), (2, 3), (3, 0)]),
                   [r2(w + nudge(variant, k), 3) for k, w in enumerate([7, 7.5, 8, 8.5])],
                   delay=[0.5, 1.5, 2.5, 3], name="cross"),
    ]
    return [stim, post], projs, 500.0


def exp_synapses(variant):
    """Exponential synapses onto g_e and g_i (CUBA form), with and without
    constant drive, delays 0-3 ms."""
    pre = spike_times("pre", [
        [5 + 20 * k for k in range(25)],
        [50, 52, 54, 56, 250, 251, 252],
        [100, 300, 301, 302, 303],
    ])
    post = lif("post", 5, tau_m=20, v_rest=-60, v_threshold=-50, v_reset=-60, t_ref=3,
               tau_e=5, tau_i=10, i_ext=[0, 4, 8, 9.5, 0])
    projs = [
        projection("pre", "post", "g_e", ("all_to_all", False),
                   r2(6 + nudge(variant, "all"), 3), delay=1.5, name="pre->post:g_e"),
        projection("pre", "post", "g_e", ("list", [(1, 0), (1, 4), (2, 4)]),
                   [r2(w + nudge(variant, k), 3) for k, w in enumerate([8, 12, 15])],
                   delay=[0, 2, 3], name="burst"),
        projection("pre", "post", "g_i", ("list", [(2, 1), (2, 2), (2, 3)]),
                   [-10, -20, -5], delay=1, name="pre->post:g_i"),
    ]
    return [pre, post], projs, 500.0


def refractory_input(variant):
    """Inputs timed to land inside the refractory period.

    Each `kick` makes its `post` neuron fire one step later (spike at step
    n = 201, 1201, 2201, 3201, 4201; t_ref 5 ms, so refractory through
    n + 49).  `probe` inputs (25 mV onto v) land at chosen steps: inside the
    refractory period (n + 1, n + 24, n + 49) they must be ignored, from the
    first free step (n + 50) on they count and make the neuron fire.
    Neuron 2 gets its probes on g_e, which is never ignored: g_e decays
    during the refractory period and drives v once it is free again, enough
    to make it fire when the input landed late in the period (n + 40) and not
    when it landed early (n + 5).  Neuron 3 has a drive just below threshold."""
    kicks = [20, 120, 220, 320, 420]
    kick = spike_times("kick", [kicks] * 4)
    # landing steps relative to the kick's spike step n = 10 * kick + 1
    land0 = [(10 * k + 1 + off) * DT_MS for k, off in zip(kicks, [49, 50, 1, 24, 60])]
    land1 = [(10 * k + 1 + off) * DT_MS for k, off in zip(kicks, [50, 49, 24, 1, 60])]
    land3 = [(10 * k + 1 + off) * DT_MS for k, off in zip(kicks, [1, 49, 50, 30, 70])]
    delays = {0: 0.0, 1: 3.0, 3: 1.0}
    probe = spike_times("probe", [
        [r2(t - delays[0], 1) for t in land0],
        [r2(t - delays[1], 1) for t in land1],
        # onto g_e of neuron 2: n + 40 and n + 5 (refractory), free, n + 50, free
        [24.1, 120.6, 152, 225.1, 330],
        [r2(t - delays[3], 1) for t in land3],
    ])
    post = lif("post", 4, tau_m=10, v_rest=-70, v_threshold=-50, v_reset=-65, t_ref=5,
               tau_e=5, i_ext=[0, 0, 0, r2(18 + nudge(variant, "i"), 3)])
    projs = [
        projection("kick", "post", "v", ("one_to_one",), 30.0, delay=0, name="kick"),
        projection("probe", "post", "v", ("list", [(0, 0), (1, 1), (3, 3)]), 25.0,
                   delay=[delays[0], delays[1], delays[3]], name="probe:v"),
        projection("probe", "post", "g_e", ("list", [(2, 2)]),
                   r2(90 + nudge(variant, "ge"), 3), delay=0, name="probe:g_e"),
    ]
    return [kick, probe, post], projs, 500.0


def inhibition(variant):
    """Tonically firing neurons delayed and silenced by inhibition: negative
    g_i weights and negative direct-v weights, delays 0-3 ms."""
    inh = spike_times("inh", [
        [10 + 25 * k for k in range(20)],
        [100, 102, 104, 106, 108] + [300 + k for k in range(11)],
    ])
    post = lif("post", 4, tau_m=10, v_rest=-60, v_threshold=-50, v_reset=-60, t_ref=4,
               tau_i=8, i_ext=[r2(x + nudge(variant, k), 3)
                               for k, x in enumerate([18, 20, 24, 30])])
    projs = [
        projection("inh", "post", "g_i",
                   ("list", [(0, 0), (0, 2), (1, 1), (1, 2), (1, 3)]),
                   [-8, -12, -6, -6, -20], delay=[1, 0, 2, 1, 0.5], name="inh:g_i"),
        projection("inh", "post", "v", ("list", [(0, 1), (0, 3), (1, 0)]),
                   [-5, -10, -3], delay=[0, 1, 3], name="inh:v"),
    ]
    return [inh, post], projs, 500.0


def chain(variant):
    """A feed-forward chain (direct v, delays 0-3 ms) and a ring (g_e,
    2 ms delay) that keeps itself going for the whole run: each neuron's
    delayed spike makes the next one fire."""
    start = spike_times("start", [[5, 200]])
    chain_pop = lif("chain", 6, tau_m=10, v_rest=-70, v_threshold=-54, v_reset=-72, t_ref=4)
    ring = lif("ring", 4, tau_m=10, v_rest=-70, v_threshold=-54, v_reset=-72, t_ref=4,
               tau_e=5)
    projs = [
        projection("start", "chain", "v", ("list", [(0, 0)]), 20.0, name="start->chain"),
        projection("start", "ring", "v", ("list", [(0, 0)]), 20.0, name="start->ring"),
        projection("chain", "chain", "v",
                   ("list", [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]),
                   r2(20 + nudge(variant, "chain"), 3), delay=[1, 2, 3, 0, 2.5], name="chain"),
        projection("ring", "ring", "g_e", ("list", [(0, 1), (1, 2), (2, 3), (3, 0)]),
                   r2(80 + nudge(variant, "ring", size=0.5), 3), delay=2, name="ring"),
    ]
    return [start, chain_pop, ring], projs, 500.0


def recurrent(variant):
    """10 recurrently coupled, driven LIF neurons: every i != j pair with an
    explicit weight (-1.5..2 mV onto v) and delay (0-2 ms), in a list
    connection, plus a uniform all-to-all (exclude_self) inhibition onto g_i."""
    rng = random.Random(1000 + variant)
    n = 10
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    weights = [r2(rng.uniform(-1.5, 2.0), 3) for _ in pairs]
    delays = [rng.choice([0, 0.5, 1, 2]) for _ in pairs]
    pop = lif("rec", n, tau_m=10, v_rest=-60, v_threshold=-50, v_reset=-62, t_ref=4,
              tau_i=8, i_ext=[r2(rng.uniform(16, 24), 2) for _ in range(n)],
              v_init=[r2(rng.uniform(-62, -51), 2) for _ in range(n)])
    projs = [
        projection("rec", "rec", "v", ("list", pairs), weights, delay=delays, name="rec:v"),
        projection("rec", "rec", "g_i", ("all_to_all", True), -0.8, delay=1, name="rec:g_i"),
    ]
    return [pop], projs, 300.0


def ei_network(variant):
    """A small excitatory-inhibitory network in CUBA form: 16 excitatory and
    4 inhibitory driven neurons, random explicit connection lists onto g_e
    (1.5 mV, p 0.25) and g_i (-6 mV, p 0.5), delays 0-1 ms."""
    rng = random.Random(2000 + variant)
    n, n_exc = 20, 16
    exc = [(i, j) for i in range(n_exc) for j in range(n) if i != j and rng.random() < 0.25]
    inh = [(i, j) for i in range(n_exc, n) for j in range(n) if i != j and rng.random() < 0.5]
    pop = lif("ei", n, tau_m=10, v_rest=-60, v_threshold=-50, v_reset=-60, t_ref=5,
              tau_e=5, tau_i=8, i_ext=[r2(rng.uniform(14, 22), 2) for _ in range(n)],
              v_init=[r2(rng.uniform(-60, -51), 2) for _ in range(n)])
    projs = [
        projection("ei", "ei", "g_e", ("list", exc), 1.5,
                   delay=[rng.choice([0, 0.5, 1]) for _ in exc], name="exc"),
        projection("ei", "ei", "g_i", ("list", inh), -6.0, delay=0.5, name="inh"),
    ]
    return [pop], projs, 200.0


def stdp_delays(variant):
    """STDP, all-to-all pairing, additive: 8 spike sources (random times,
    ~40 Hz) onto 3 driven LIF neurons through g_e, every pair connected, with
    per-synapse delays 0-2 ms (the presynaptic trace is then per synapse) and
    initial weights 0.5-1.5 mV; a_pre 0.2 mV, a_post -0.21 mV, tau_pre 10 ms,
    tau_post 15 ms, weights in [0, 2.5] mV."""
    rng = random.Random(3000 + variant)
    n_in, n = 8, 3
    times = [sorted({round(rng.uniform(0, 390), 1) for _ in range(16)}) for _ in range(n_in)]
    src = spike_times("inputs", times)
    pop = lif("cells", n, tau_m=10, v_rest=-60, v_threshold=-50, v_reset=-60, t_ref=3,
              tau_e=5, i_ext=[r2(rng.uniform(8.5, 9.5), 2) for _ in range(n)],
              v_init=[r2(rng.uniform(-60, -52), 2) for _ in range(n)])
    pairs = [(i, j) for i in range(n_in) for j in range(n)]
    projs = [projection("inputs", "cells", "g_e", ("list", pairs),
                        [r2(rng.uniform(0.5, 1.5), 3) for _ in pairs],
                        delay=[rng.choice([0, 0.5, 1, 2]) for _ in pairs], name="plastic",
                        plasticity=stdp(0.2, -0.21, 10, 15, 0, 2.5))]
    return [src, pop], projs, 400.0


def stdp_nearest_soft(variant):
    """STDP, nearest-spike pairing, multiplicative (soft bounds), onto v with a
    1 ms delay: 6 spike sources onto 4 driven LIF neurons, plus a plastic
    recurrent chain between the LIF neurons themselves (additive, onto g_e);
    a_pre 0.5 mV, a_post -0.6 mV, tau 8 / 12 ms, weights in [0, 3] mV."""
    rng = random.Random(4000 + variant)
    n_in, n = 6, 4
    times = [sorted({round(rng.uniform(0, 390), 1) for _ in range(14)}) for _ in range(n_in)]
    src = spike_times("inputs", times)
    pop = lif("cells", n, tau_m=12, v_rest=-60, v_threshold=-50, v_reset=-61, t_ref=2,
              tau_e=4, i_ext=[r2(rng.uniform(8, 9.5), 2) for _ in range(n)],
              v_init=[r2(rng.uniform(-60, -52), 2) for _ in range(n)])
    pairs = [(i, j) for i in range(n_in) for j in range(n)]
    chain = [(0, 1), (1, 2), (2, 3), (3, 0)]
    projs = [
        projection("inputs", "cells", "v", ("list", pairs),
                   [r2(rng.uniform(0.5, 2.5), 3) for _ in pairs], delay=1, name="soft",
                   plasticity=stdp(0.5, -0.6, 8, 12, 0, 3, pairing="nearest", update="multiplicative")),
        projection("cells", "cells", "g_e", ("list", chain), 1.0, delay=0.5, name="chain",
                   plasticity=stdp(0.3, -0.3, 10, 10, 0, 4)),
    ]
    return [src, pop], projs, 400.0


def stdp_fanout(variant):
    """STDP, all-to-all pairing, additive, one delay for all synapses (the
    presynaptic trace is then per neuron, shared by its synapses): 10 spike
    sources onto 5 driven LIF neurons, every pair connected, delay 0, plus an
    E/I recurrent plastic projection (p 0.5) between the LIF neurons with
    delay 1 ms; a_pre 0.1 mV, a_post -0.105 mV, tau 20 ms."""
    rng = random.Random(5000 + variant)
    n_in, n = 10, 5
    times = [sorted({round(rng.uniform(0, 390), 1) for _ in range(12)}) for _ in range(n_in)]
    src = spike_times("inputs", times)
    pop = lif("cells", n, tau_m=10, v_rest=-60, v_threshold=-50, v_reset=-60, t_ref=3,
              tau_e=5, i_ext=[r2(rng.uniform(8, 9.5), 2) for _ in range(n)],
              v_init=[r2(rng.uniform(-60, -52), 2) for _ in range(n)])
    pairs = [(i, j) for i in range(n_in) for j in range(n)]
    recurrent_pairs = [(i, j) for i in range(n) for j in range(n) if i != j and rng.random() < 0.5]
    projs = [
        projection("inputs", "cells", "g_e", ("list", pairs),
                   [r2(rng.uniform(0.3, 1.0), 3) for _ in pairs], name="fanout",
                   plasticity=stdp(0.1, -0.105, 20, 20, 0, 2)),
        projection("cells", "cells", "g_e", ("list", recurrent_pairs), 0.5, delay=1, name="recurrent",
                   plasticity=stdp(0.1, -0.105, 20, 20, 0, 2)),
    ]
    return [src, pop], projs, 400.0


NETWORKS = [constant_drive, direct_v_delays, exp_synapses, refractory_input,
            inhibition, chain, recurrent, ei_network, stdp_delays, stdp_nearest_soft, stdp_fanout]


# ---------------------------------------------------------------------------
# YAML (docs/network-file.md)
# ---------------------------------------------------------------------------

UNIT_FACTOR = {  # value in internal unit = number x factor
    "ms": 1.0, "mV": 1.0, "nA": 1.0, "pA": 1e-3, "Mohm": 1.0,
}
PARAM_UNIT = {"tau_m": "ms", "v_rest": "mV", "v_threshold": "mV", "v_reset": "mV",
              "t_ref": "ms", "tau_e": "ms", "tau_i": "ms", "r_m": "Mohm", "i_ext": "nA"}


def num(x):
    s = f"{float(x):.10g}"
    assert "e" not in s and "n" not in s, s
    return s


def qty(x, unit):
    return f"{num(float(x) / UNIT_FACTOR[unit])} {unit}"


def qty_value(value, unit):
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(qty(x, unit) for x in value) + "]"
    return qty(value, unit)


def network_yaml(name, doc, pops, projs, duration_ms):
    lines = [
        "# Generated by Tests/brian2/make_fixtures.py -- do not edit; rerun the script.",
        f"# Brian2 reference: {name}.spikes.csv, {duration_ms:g} ms (index.csv).",
    ]
    lines += [f"# {line}".rstrip() for line in doc.splitlines()]
    lines += [f"name: {name}", f"dt: {qty(DT_MS, 'ms')}", "seed: 0", "", "populations:"]
    for p in pops:
        lines += [f"  - name: {p['name']}", f"    model: {p['model']}", f"    size: {p['size']}",
                  "    params:"]
        if p["model"] == "lif":
            for key, value in p["params"].items():
                unit = p["units"].get(key, PARAM_UNIT[key])
                lines.append(f"      {key}: {qty_value(value, unit)}")
            if p["v_init"] is not None:
                lines += ["    init:", f"      v: {qty_value(p['v_init'], 'mV')}"]
        elif p["model"] == "spike_times":
            rows = ", ".join(qty_value(row, "ms") for row in p["times"])
            lines.append(f"      times: [{rows}]")
        else:
            raise ValueError(p["model"])
    lines.append("")
    if not projs:
        lines.append("projections: []")
    else:
        lines.append("projections:")
    for pr in projs:
        lines += [f"  - name: {pr['name']}", f"    from: {pr['from']}", f"    to: {pr['to']}",
                  f"    target: {pr['target']}"]
        rule = pr["connect"][0]
        if rule == "one_to_one":
            lines.append("    connect: {rule: one_to_one}")
        elif rule == "all_to_all":
            excl = "true" if pr["connect"][1] else "false"
            lines.append(f"    connect: {{rule: all_to_all, exclude_self: {excl}}}")
        else:
            pairs = ", ".join(f"[{i}, {j}]" for i, j in pr["connect"][1])
            lines.append(f"    connect: {{rule: list, pairs: [{pairs}]}}")
        for key, unit in (("weight", "mV"), ("delay", "ms")):
            value = pr[key]
            if isinstance(value, (list, tuple)):
                lines.append(f"    {key}: {{list: {qty_value(value, unit)}}}")
            else:
                lines.append(f"    {key}: {qty(value, unit)}")
        if pr.get("plasticity"):
            q = pr["plasticity"]
            lines += ["    plasticity:", "      rule: stdp"]
            for key, unit in (("a_pre", "mV"), ("a_post", "mV"), ("tau_pre", "ms"), ("tau_post", "ms"),
                              ("w_min", "mV"), ("w_max", "mV")):
                lines.append(f"      {key}: {qty(q[key], unit)}")
            lines += [f"      pairing: {q['pairing']}", f"      update: {q['update']}"]
    return "\n".join(lines) + "\n"


def check_yaml_roundtrip(text, pops, projs):
    """Parse what we wrote (PyYAML) and compare it with the definition."""
    import yaml
    doc = yaml.safe_load(text)

    def parse(s):
        number, unit = str(s).split()
        return float(number) * UNIT_FACTOR[unit]

    def parse_value(v):
        return [parse(x) for x in v] if isinstance(v, list) else parse(v)

    def same(a, b):
        if isinstance(a, list) or isinstance(b, list):
            return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(
                math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12) for x, y in zip(a, b))
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)

    assert parse(doc["dt"]) == DT_MS
    assert [p["name"] for p in doc["populations"]] == [p["name"] for p in pops]
    for yp, p in zip(doc["populations"], pops):
        assert yp["size"] == p["size"] and yp["model"] == p["model"]
        if p["model"] == "lif":
            for key, value in p["params"].items():
                assert same(parse_value(yp["params"][key]), value), (p["name"], key)
            if p["v_init"] is not None:
                assert same(parse_value(yp["init"]["v"]), p["v_init"])
        else:
            assert len(yp["params"]["times"]) == p["size"]
            for row_y, row in zip(yp["params"]["times"], p["times"]):
                assert same([parse(x) for x in row_y], row)
    assert len(doc["projections"] or []) == len(projs)
    for ypr, pr in zip(doc["projections"] or [], projs):
        assert (ypr["name"], ypr["from"], ypr["to"], ypr["target"]) == (
            pr["name"], pr["from"], pr["to"], pr["target"])
        for key in ("weight", "delay"):
            yv = ypr[key]
            yv = parse_value(yv["list"]) if isinstance(yv, dict) else parse(yv)
            assert same(yv, pr[key] if not isinstance(pr[key], (list, tuple))
                        else [float(x) for x in pr[key]]), (pr["name"], key)
        q = pr.get("plasticity")
        assert ("plasticity" in ypr) == (q is not None), pr["name"]
        if q is not None:
            yq = ypr["plasticity"]
            assert yq["rule"] == "stdp" and yq["pairing"] == q["pairing"] and yq["update"] == q["update"]
            for key in ("a_pre", "a_post", "tau_pre", "tau_post", "w_min", "w_max"):
                assert same(parse(yq[key]), q[key]), (pr["name"], key)


# ---------------------------------------------------------------------------
# Brian2
# ---------------------------------------------------------------------------

def run_brian2(pops, projs, duration_ms):
    """Runs the network in Brian2; returns (spikes, traces).

    spikes: sorted list of (step, population, neuron).
    traces: {population: (v [steps x n] in mV, not_refractory [steps x n])},
    recorded after the state update and before the threshold test.
    """
    import brian2 as b2
    from brian2 import mV, ms

    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = DT_MS * ms
    targets = {p["name"]: set() for p in pops}
    for pr in projs:
        targets[pr["to"]].add(pr["target"])

    groups, objects, spike_mons, state_mons = {}, [], {}, {}
    for p in pops:
        if p["model"] == "lif":
            q = p["params"]
            terms = "v_rest - v"
            eqs = ["RI : volt (constant)"]
            namespace = {"tau_m": q["tau_m"] * ms, "v_rest": q["v_rest"] * mV,
                         "v_threshold": q["v_threshold"] * mV, "v_reset": q["v_reset"] * mV}
            if "g_e" in targets[p["name"]]:
                terms += " + ge"
                eqs.append("dge/dt = -ge / tau_e : volt")
                namespace["tau_e"] = q["tau_e"] * ms
            if "g_i" in targets[p["name"]]:
                terms += " + gi"
                eqs.append("dgi/dt = -gi / tau_i : volt")
                namespace["tau_i"] = q["tau_i"] * ms
            eqs.insert(0, f"dv/dt = ({terms} + RI) / tau_m : volt (unless refractory)")
            g = b2.NeuronGroup(p["size"], "\n".join(eqs), threshold="v > v_threshold",
                               reset="v = v_reset", refractory=q["t_ref"] * ms,
                               method="exact", namespace=namespace, name=f"pop_{p['name']}")
            g.RI = np.multiply(q["r_m"], q["i_ext"]) * np.ones(p["size"]) * mV
            g.v = (q["v_rest"] if p["v_init"] is None else np.asarray(p["v_init"], float)) * mV
            sm = b2.StateMonitor(g, ["v", "not_refractory"], record=True,
                                 when="thresholds", order=-1, name=f"trace_{p['name']}")
            state_mons[p["name"]] = sm
            objects.append(sm)
        else:
            idx = [i for i, row in enumerate(p["times"]) for _ in row]
            t = [x for row in p["times"] for x in row]
            g = b2.SpikeGeneratorGroup(p["size"], idx, np.asarray(t) * ms,
                                       name=f"pop_{p['name']}")
        groups[p["name"]] = g
        objects.append(g)
        spike_mons[p["name"]] = b2.SpikeMonitor(g, name=f"spikes_{p['name']}")
        objects.append(spike_mons[p["name"]])

    on_pre = {"v": "v_post += w * int(not_refractory_post)",
              "g_e": "ge_post += w", "g_i": "gi_post += w"}
    plastic = {}
    for k, pr in enumerate(expanded(pops, projs)):
        pairs, w, d = pr["pairs"], pr["weights"], pr["delays"]
        q = pr.get("plasticity")
        if q is None:
            s = b2.Synapses(groups[pr["from"]], groups[pr["to"]], "w : volt",
                            on_pre=on_pre[pr["target"]], name=f"proj_{k}")
        else:
            # docs/plasticity.md, written in Brian2's own STDP form.
            op = "=" if q["pairing"] == "nearest" else "+="
            if q["update"] == "additive":
                dep, pot = "Apost", "Apre"
            else:
                dep, pot = "Apost * (w - w_min) / (w_max - w_min)", "Apre * (w_max - w) / (w_max - w_min)"
            s = b2.Synapses(
                groups[pr["from"]], groups[pr["to"]],
                """w : volt
                dApre/dt = -Apre / tau_pre : volt (event-driven)
                dApost/dt = -Apost / tau_post : volt (event-driven)""",
                on_pre=f"""{on_pre[pr["target"]]}
                Apre {op} a_pre
                w = clip(w + {dep}, w_min, w_max)""",
                on_post=f"""Apost {op} a_post
                w = clip(w + {pot}, w_min, w_max)""",
                namespace={"a_pre": q["a_pre"] * mV, "a_post": q["a_post"] * mV,
                           "tau_pre": q["tau_pre"] * ms, "tau_post": q["tau_post"] * ms,
                           "w_min": q["w_min"] * mV, "w_max": q["w_max"] * mV},
                name=f"proj_{k}")
            plastic[pr["name"]] = s
        s.connect(i=np.array([i for i, _ in pairs]), j=np.array([j for _, j in pairs]))
        lookup = {pair: n for n, pair in enumerate(pairs)}
        order = [lookup[(int(i), int(j))] for i, j in zip(s.i[:], s.j[:])]
        s.w = np.asarray(w)[order] * mV
        s.delay = np.asarray(d)[order] * ms
        objects.append(s)

    net = b2.Network(objects)
    net.run(duration_ms * ms)

    spikes = []
    for name, mon in spike_mons.items():
        for i, t in zip(mon.i[:], mon.t[:]):
            spikes.append((int(round(float(t / ms) / DT_MS)), name, int(i)))
    spikes.sort()
    traces = {name: (np.asarray(sm.v / mV).T, np.asarray(sm.not_refractory).T.astype(bool))
              for name, sm in state_mons.items()}
    weights = sorted((name, int(i), int(j), float(w / mV))
                     for name, s in plastic.items() for i, j, w in zip(s.i[:], s.j[:], s.w[:]))
    return spikes, traces, weights


def required_margin(p):
    """How close (mV) v may come to the threshold in this population.

    A Float32 iteration ``v <- v_inf + (v - v_inf) * P`` (P = exp(-dt/tau_m))
    makes a rounding error of up to half an ulp of v per step, and the leak
    forgets it only at the rate 1 - P, so v can drift from the exact value by
    up to ``ulp(v) / 2 / (1 - P)`` (0.19 uV for tau_m 10 ms at -50 mV, 0.38 uV
    for 20 ms).  We demand 1.5 times that, and at least MIN_MARGIN_MV.
    """
    q = p["params"]
    half_ulp = float(np.spacing(np.float32(abs(q["v_threshold"]) * 1.05))) / 2
    drift = half_ulp / (1 - math.exp(-DT_MS / q["tau_m"]))
    return max(MIN_MARGIN_MV, 1.5 * drift)


def threshold_margin(pops, traces):
    """The worst (smallest) ratio |v - v_threshold| / required_margin over
    non-refractory steps, with the gap in mV and where it occurs."""
    best = (math.inf, math.inf, None)
    for p in pops:
        if p["model"] != "lif":
            continue
        v, free = traces[p["name"]]
        gap = np.where(free, np.abs(v - p["params"]["v_threshold"]), np.inf)
        k = np.unravel_index(np.argmin(gap), gap.shape)
        ratio = gap[k] / required_margin(p)
        if ratio < best[0]:
            best = (float(ratio), float(gap[k]), (p["name"], int(k[1]), int(k[0])))
    return best


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

FIXTURES_README = """\
# Brian2 fixtures (generated)

Made by `Tests/brian2/make_fixtures.py` with Brian2 2.9 (`method='exact'`,
numpy target, dt 0.1 ms); do not edit, rerun the script.

- `NAME.yaml`: the network, in the format of `docs/network-file.md`.
- `NAME.spikes.csv`: Brian2's spikes, `step,population,neuron`, with
  `step = round(t / dt)`, sorted by step, population, neuron. Spike sources
  (`spike_times` populations) are included.
- `NAME.weights.csv` (networks with plastic projections): Brian2's final
  weights, `projection,pre,post,weight_mV`, sorted.
- `index.csv`: `name,duration_ms` of every network; run each one for
  `duration_ms` (`duration_ms / dt` steps).

No membrane potential of these runs comes closer to the threshold, on a
non-refractory step, than 1.5 times the worst drift of a Float32 state
(0.3-1.2 uV here, see `required_margin` in the script), and a Float32 re-implementation of the
documented semantics reproduces every spike, so a Float32 engine must match
them exactly. Final plastic weights agree with that re-implementation to
better than 1e-5 relative (printed by the script).
"""


def write_if_changed(path: Path, text: str):
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")
    parser.add_argument("--only", nargs="*", help="build only these networks (no index/cleanup)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="say why each rejected variant was rejected")
    args = parser.parse_args()

    import brian2  # noqa: F401  (import once, before timing)
    from brian2 import BrianLogger
    BrianLogger.log_level_warn()
    if not brian2.__version__.startswith("2.9"):
        print(f"warning: Brian2 {brian2.__version__}, fixtures are specified for 2.9",
              file=sys.stderr)

    args.out.mkdir(parents=True, exist_ok=True)
    written = {"index.csv", "README.md"}
    index = []
    began = time.perf_counter()
    for builder in NETWORKS:
        name = builder.__name__
        if args.only and name not in args.only:
            continue
        for variant in range(MAX_VARIANTS):
            pops, projs, duration_ms = builder(variant)
            steps = int(round(duration_ms / DT_MS))
            spikes, traces, weights = run_brian2(pops, projs, duration_ms)
            ratio, margin, where = threshold_margin(pops, traces)
            ref_weights = {}
            ref_spikes, ref_dev = float32_reference.run(pops, expanded(pops, projs), steps, DT_MS, traces,
                                                        ref_weights)
            dw = max((abs(ref_weights[(p, i, j)] - w) / max(abs(w), 1e-3) for p, i, j, w in weights), default=0)
            problems = []
            if ratio < 1:
                pop, neuron, step = where
                problems.append(f"v within {margin:.2e} mV of threshold ({pop}[{neuron}] "
                                f"at step {step})")
            if ref_spikes != spikes:
                diff = sorted(set(ref_spikes) ^ set(spikes))[:3]
                problems.append(f"float32 replay differs, first differences {diff}")
            if not problems:
                break
            if args.verbose:
                print(f"note: {name} variant {variant} rejected: " + "; ".join(problems),
                      file=sys.stderr)
        else:
            sys.exit(f"error: {name}: no variant passes the guards")

        doc = (builder.__doc__ or "").strip()
        doc = "\n".join(line.strip() for line in doc.splitlines())
        yaml_text = network_yaml(name, doc, pops, projs, duration_ms)
        check_yaml_roundtrip(yaml_text, pops, projs)
        csv_text = "step,population,neuron\n" + "".join(
            f"{s},{p},{i}\n" for s, p, i in spikes)
        write_if_changed(args.out / f"{name}.yaml", yaml_text)
        write_if_changed(args.out / f"{name}.spikes.csv", csv_text)
        written |= {f"{name}.yaml", f"{name}.spikes.csv"}
        if weights:
            write_if_changed(args.out / f"{name}.weights.csv", "projection,pre,post,weight_mV\n" + "".join(
                f"{p},{i},{j},{w:.10g}\n" for p, i, j, w in weights))
            written.add(f"{name}.weights.csv")
        index.append((name, duration_ms))
        per_pop = {}
        for _, p, _ in spikes:
            per_pop[p] = per_pop.get(p, 0) + 1
        detail = " ".join(f"{p['name']}={per_pop.get(p['name'], 0)}" for p in pops)
        print(f"{name:<17} spikes {len(spikes):5d}  ({detail})  margin {margin * 1000:.2f} uV"
              f"  float32 max|dv| {ref_dev:.1e} mV" + (f" max|dw|/|w| {dw:.1e}" if weights else "")
              + f"  variant {variant}", flush=True)

    if not args.only:
        write_if_changed(args.out / "index.csv", "name,duration_ms\n" + "".join(
            f"{n},{d:g}\n" for n, d in index))
        write_if_changed(args.out / "README.md", FIXTURES_README)
        for path in args.out.iterdir():
            if path.is_file() and path.name not in written:
                print(f"removing stale {path.relative_to(REPO)}")
                path.unlink()
    print(f"{len(index)} networks in {time.perf_counter() - began:.1f} s -> "
          f"{args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")


if __name__ == "__main__":
    main()
