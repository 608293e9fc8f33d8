"""A small Float32 implementation of spikeloop's documented step semantics.

It exists only to vet the Brian2 fixtures: if a Float32 engine that follows
docs/network-file.md reproduces Brian2's spikes exactly, the fixture does not
depend on float64 rounding.  It is deliberately written from the documented
rules, not from Brian2:

1. state update (exact propagators; v frozen while refractory, g_e and g_i
   always decay);
2. threshold ``v > v_threshold`` on non-refractory neurons; spike sources
   emit at their (rounded) step;
3. propagation: each spike is delivered ``round(delay / dt)`` steps later,
   0 = this step; direct ``v`` increments are dropped while the target is
   refractory (a neuron that spikes in this step is refractory from now on);
4. reset; a neuron that spiked at step n is refractory through step
   ``n + round(t_ref / dt) - 1`` and integrates again from step
   ``n + round(t_ref / dt)``.

Plastic projections (docs/plasticity.md) deliver each spike when it arrives,
at the weight it has then, and update it from the postsynaptic trace; after
all arrivals of a step, each target spike updates the synapses onto it from
their presynaptic traces.  Traces are kept per synapse here and decayed with
``math.exp`` at each read (the engine tabulates the factors and keeps one
presynaptic trace per neuron when delays are equal).
"""

from __future__ import annotations

import math

import numpy as np

F32 = np.float32


def run(pops, projs, steps, dt, brian_traces=None, weights_out=None):
    """``projs``: dicts with from, to, target, pairs, weights (mV), delays (ms),
    the connection list already expanded in the engine's order.

    Returns (sorted spikes [(step, population, neuron)], max |v32 - v_brian|)."""
    state = {}
    for p in pops:
        n = p["size"]
        if p["model"] == "lif":
            q = p["params"]
            tau_m = q["tau_m"]
            pm = math.exp(-dt / tau_m)

            def coupling(tau):
                # v's response after one step to a unit synaptic variable that
                # decays with tau (closed form of the CUBA system).
                if tau is None:
                    return 0.0, 0.0
                return math.exp(-dt / tau), tau / (tau - tau_m) * (math.exp(-dt / tau) - pm)

            pe, kve = coupling(q.get("tau_e"))
            pi, kvi = coupling(q.get("tau_i"))
            v0 = q["v_rest"] if p["v_init"] is None else p["v_init"]
            state[p["name"]] = dict(
                model="lif",
                v=np.full(n, v0, dtype=np.float64).astype(F32),
                ge=np.zeros(n, F32), gi=np.zeros(n, F32),
                v_inf=(q["v_rest"] + np.multiply(q["r_m"], q["i_ext"]) * np.ones(n)).astype(F32),
                pm=F32(pm), pe=F32(pe), pi=F32(pi), kve=F32(kve), kvi=F32(kvi),
                v_th=F32(q["v_threshold"]), v_reset=F32(q["v_reset"]),
                ref_steps=int(round(q["t_ref"] / dt)),
                free_from=np.zeros(n, np.int64),  # first step the neuron integrates again
                trace=np.zeros((steps, n), np.float64) if brian_traces is not None else None,
            )
        else:
            by_step = {}
            for i, row in enumerate(p["times"]):
                for t in row:
                    by_step.setdefault(int(round(t / dt)), []).append(i)
            state[p["name"]] = dict(model="source", by_step=by_step)

    # CSR-like per projection: for each pre neuron, arrays of (post, weight, delay steps)
    fanout = []
    max_delay = 0
    plastic = []
    for pr in projs:
        d = [int(round(x / dt)) for x in pr["delays"]]
        max_delay = max(max_delay, max(d))
        rows = {}
        if pr.get("plasticity"):
            q = pr["plasticity"]
            n_syn = len(pr["pairs"])
            st = dict(pr=pr, q=q, w=np.array(pr["weights"], F32), x_pre=np.zeros(n_syn), pre_at=np.zeros(n_syn),
                      x_post={}, onto={})
            for s_idx, ((i, j), dk) in enumerate(zip(pr["pairs"], d)):
                rows.setdefault(i, []).append((j, s_idx, dk))
                st["onto"].setdefault(j, []).append((s_idx, i))
            plastic.append(st)
            fanout.append((pr, rows, st))
            continue
        for (i, j), wk, dk in zip(pr["pairs"], pr["weights"], d):
            rows.setdefault(i, []).append((j, F32(wk), dk))
        fanout.append((pr, rows, None))
    ring = [[] for _ in range(max_delay + 1)]  # ring[slot] = [(pop, var, post, w or plastic state, synapse)]

    def decayed(value, since, now, tau):
        return value * math.exp(-(now - since) * dt / tau)

    def change(st, w, x, potentiate):
        q = st["q"]
        if q["update"] == "multiplicative":
            x *= (q["w_max"] - w if potentiate else w - q["w_min"]) / (q["w_max"] - q["w_min"])
        return F32(min(q["w_max"], max(q["w_min"], float(w) + x)))

    spikes = []
    for step in range(steps):
        fired = {}
        for name, s in state.items():
            if s["model"] == "lif":
                free = s["free_from"] <= step
                v_new = s["v_inf"] + (s["v"] - s["v_inf"]) * s["pm"] \
                    + s["ge"] * s["kve"] + s["gi"] * s["kvi"]
                s["v"] = np.where(free, v_new, s["v"]).astype(F32)
                s["ge"] = (s["ge"] * s["pe"]).astype(F32)
                s["gi"] = (s["gi"] * s["pi"]).astype(F32)
                if s["trace"] is not None:
                    s["trace"][step] = s["v"]
                idx = np.nonzero(free & (s["v"] > s["v_th"]))[0]
                s["free_from"][idx] = step + max(s["ref_steps"], 1)
                s["spiked"] = idx
            else:
                idx = np.array(sorted(s["by_step"].get(step, [])), dtype=np.int64)
            fired[name] = idx
            spikes += [(step, name, int(i)) for i in idx]
        for pr, rows, st in fanout:
            for i in fired[pr["from"]]:
                for j, w, d in rows.get(int(i), ()):
                    # plastic: w is the synapse's index; its weight is read on arrival
                    ring[(step + d) % len(ring)].append((pr["to"], pr["target"], j, w if st is None else (st, w)))
        slot = ring[step % len(ring)]
        for pop, var, j, w in slot:
            s = state[pop]
            if isinstance(w, tuple):  # a plastic synapse's arrival: deliver, then learn
                st, syn = w
                q = st["q"]
                w = st["w"][syn]
                x = decayed(st["x_pre"][syn], st["pre_at"][syn], step, q["tau_pre"])
                st["x_pre"][syn] = q["a_pre"] if q["pairing"] == "nearest" else x + q["a_pre"]
                st["pre_at"][syn] = step
                y, since = st["x_post"].get(j, (0.0, 0))
                st["w"][syn] = change(st, w, decayed(y, since, step, q["tau_post"]), potentiate=False)
            if var == "v":
                if s["free_from"][j] <= step:
                    s["v"][j] = F32(s["v"][j] + w)
            elif var == "g_e":
                s["ge"][j] = F32(s["ge"][j] + w)
            else:
                s["gi"][j] = F32(s["gi"][j] + w)
        slot.clear()
        for st in plastic:
            q = st["q"]
            for j in fired[st["pr"]["to"]]:
                j = int(j)
                y, since = st["x_post"].get(j, (0.0, 0))
                y = q["a_post"] if q["pairing"] == "nearest" else decayed(y, since, step, q["tau_post"]) + q["a_post"]
                st["x_post"][j] = (y, step)
                for syn, i in st["onto"].get(j, ()):
                    x = decayed(st["x_pre"][syn], st["pre_at"][syn], step, q["tau_pre"])
                    st["w"][syn] = change(st, st["w"][syn], x, potentiate=True)
        for s in state.values():
            if s["model"] == "lif":
                s["v"][s["spiked"]] = s["v_reset"]

    deviation = 0.0
    if brian_traces is not None:
        for name, s in state.items():
            if s["model"] == "lif":
                v_b, free_b = brian_traces[name]
                diff = np.abs(s["trace"] - v_b)[free_b]
                if diff.size:
                    deviation = max(deviation, float(diff.max()))
    if weights_out is not None:
        for st in plastic:
            for (i, j), w in zip(st["pr"]["pairs"], st["w"]):
                weights_out[(st["pr"]["name"], i, j)] = float(w)
    spikes.sort()
    return spikes, deviation
