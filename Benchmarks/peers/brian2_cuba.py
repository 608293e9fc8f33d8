#!/usr/bin/env python3
"""Brian2's CUBA benchmark (examples/CUBA.py), or with --coba the COBA benchmark, in cpp_standalone mode.

The network is Brian2's own example, unchanged except for the size and
duration options: N neurons (80 % excitatory), connection probability 0.02,
tau_m 20 ms, tau_e 5 ms, tau_i 10 ms, V_t -50 mV, V_r -60 mV, E_l -49 mV,
refractory 5 ms, w_e = 60*0.27/10 mV = 1.62 mV, w_i = -20*4.5/10 mV = -9 mV,
v0 uniform in [V_r, V_t], dt 0.1 ms, exact integration.

--coba: the COBA network of Brette et al. (2007) as Brian2's and ANNarchy's
benchmarks write it: conductance-based synapses, tau_m 20 ms, E_l -60 mV plus a
constant drive I = 20 mV, V_t -50 mV, V_r -60 mV, refractory 5 ms, E_e 0 mV,
E_i -80 mV, tau_e 5 ms, tau_i 10 ms, w_e 0.6, w_i 6.7 (units of the leak
conductance), v0 uniform in [V_r, V_t], method 'euler' (Brian2's choice for
these equations).

--network FILE: instead of drawing its own connections and initial v, the
network spikeloop drew (`spikeloop bench cuba|coba --network-out FILE`), so
that both simulate the same one (Benchmarks/cuba passes it).

The generated C++ is compiled into Benchmarks/peers/build/ and run once.
Only the simulation is timed: wall_seconds is Brian2's own measurement of the
network's run loop (``device._last_run_time``, written by the generated code
as ``results/last_run_info.txt``), which excludes code generation,
compilation, network construction and writing results.  Without OpenMP that
figure is the process CPU time (std::clock) of the run loop, i.e. one core.

Prints one JSON object:
{"system": "brian2", "neurons", "synapses", "spikes", "sim_seconds", "wall_seconds"}
"""

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--neurons", type=int, default=4000)
    parser.add_argument("--duration", type=float, default=10.0, help="simulated seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stdp", action="store_true",
                        help="STDP on every excitatory synapse, the rule of `spikeloop bench cuba --stdp` "
                             "(docs/plasticity.md: additive, all-to-all, a_pre 0.01 w_max, a_post -1.05 a_pre, "
                             "tau 20 ms, w in [0, 2 we])")
    parser.add_argument("--coba", action="store_true", help="the COBA network (conductance-based synapses)")
    parser.add_argument("--network", type=Path, default=None,
                        help="simulate this network (connections, initial v) from `spikeloop bench ... --network-out`")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="default: Benchmarks/peers/build/brian2_cuba_N")
    args = parser.parse_args()

    from brian2 import (NeuronGroup, SpikeMonitor, Synapses, defaultclock, device, ms,
                        mV, prefs, run, second, seed, set_device)
    from brian2 import BrianLogger

    BrianLogger.log_level_warn()
    kind = "coba" if args.coba else "cuba"
    given = load_network(args.network, args.neurons) if args.network else None
    build_dir = args.build_dir or HERE / "build" / (f"brian2_{kind}_{args.neurons}{'_stdp' if args.stdp else ''}"
                                                    f"{'_given' if given else ''}")
    set_device("cpp_standalone", directory=str(build_dir), build_on_run=True)
    prefs.devices.cpp_standalone.openmp_threads = 0  # one thread, as the other systems
    defaultclock.dt = 0.1 * ms
    seed(args.seed)

    taum, taue, taui = 20 * ms, 5 * ms, 10 * ms
    n_exc = int(args.neurons * 0.8)
    if args.coba:
        Vt, Vr, El, I = -50 * mV, -60 * mV, -60 * mV, 20 * mV
        Ee, Ei = 0 * mV, -80 * mV
        eqs = """
        dv/dt  = (ge*(Ee-v)+gi*(Ei-v)-(v-El) + I)/taum : volt (unless refractory)
        dge/dt = -ge/taue : 1
        dgi/dt = -gi/taui : 1
        """
        P = NeuronGroup(args.neurons, eqs, threshold="v>Vt", reset="v = Vr",
                        refractory=5 * ms, method="euler")
        P.v = "Vr + rand() * (Vt - Vr)"
        we, wi = 0.6, 6.7  # in units of the leak conductance
    else:
        Vt, Vr, El = -50 * mV, -60 * mV, -49 * mV
        eqs = """
        dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
        dge/dt = -ge/taue : volt
        dgi/dt = -gi/taui : volt
        """
        P = NeuronGroup(args.neurons, eqs, threshold="v>Vt", reset="v = Vr",
                        refractory=5 * ms, method="exact")
        P.v = "Vr + rand() * (Vt - Vr)"
        P.ge = 0 * mV
        P.gi = 0 * mV
        we = (60 * 0.27 / 10) * mV  # excitatory synaptic weight (voltage)
        wi = (-20 * 4.5 / 10) * mV  # inhibitory synaptic weight
    if args.stdp:
        w_max = 2 * we
        a_pre, a_post = 0.01 * w_max, -0.0105 * w_max
        taupre = taupost = 20 * ms
        Ce = Synapses(P, P, """w : volt
                      dApre/dt = -Apre / taupre : volt (event-driven)
                      dApost/dt = -Apost / taupost : volt (event-driven)""",
                      on_pre="""ge += w
                      Apre += a_pre
                      w = clip(w + Apost, 0*mV, w_max)""",
                      on_post="""Apost += a_post
                      w = clip(w + Apre, 0*mV, w_max)""")
    else:
        Ce = Synapses(P, P, on_pre="ge += we")
    Ci = Synapses(P, P, on_pre="gi += wi")
    if given:
        P.v = given["v0"] * mV
        Ce.connect(i=given["g_e"][0], j=given["g_e"][1])
        Ci.connect(i=given["g_i"][0], j=given["g_i"][1])
    else:
        Ce.connect(f"i<{n_exc}", p=0.02)
        Ci.connect(f"i>={n_exc}", p=0.02)
    if args.stdp:
        Ce.w = we
    spikes = SpikeMonitor(P, record=False)  # counts only

    run(args.duration * second)

    result = {
        "system": "brian2",
        "neurons": args.neurons,
        "synapses": int(len(Ce) + len(Ci)),
        "spikes": int(spikes.num_spikes),
        "sim_seconds": args.duration,
        "wall_seconds": float(device._last_run_time),
    }
    print(json.dumps(result))
    sys.stdout.flush()


def load_network(path, neurons):
    """spikeloop's drawn network: v0 (mV) and, per synaptic variable, the
    (pre, post) index arrays over the whole group (excitatory neurons first)."""
    import numpy as np
    import drawn_network
    drawn = drawn_network.read(path, neurons, "brian2_cuba")
    given = {"v0": np.array(drawn["v0"])}
    for variable in ("g_e", "g_i"):
        rows = [p for p in drawn["projections"] if p["variable"] == variable]
        given[variable] = (np.concatenate([p["pre"] for p in rows]).astype(np.int32),
                           np.concatenate([p["post"] for p in rows]).astype(np.int32))
    return given


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
