#!/usr/bin/env python3
"""Brian2's CUBA benchmark network in NEST 3.10 (iaf_psc_exp, one thread), or
with --coba the COBA network (iaf_cond_exp).

The same network as brian2_cuba.py, translated exactly:

- iaf_psc_exp is the same current-based LIF with exponential synaptic
  currents, integrated exactly; C_m 250 pF, tau_m 20 ms, E_L -49 mV,
  V_th -50 mV, V_reset -60 mV, t_ref 5 ms, tau_syn_ex 5 ms, tau_syn_in 10 ms;
- Brian2's synaptic variables are voltages (ge/tau_m is dv/dt); NEST's are
  currents (I/C_m is dV/dt), so a jump of w mV is a current of
  w * C_m / tau_m pA: 1.62 mV -> 20.25 pA, -9 mV -> -112.5 pA;
- V_m uniform in [-60, -50] mV; 80 % excitatory; pairwise_bernoulli with
  p = 0.02 and autapses allowed (Brian2's p without condition);
- delay: one step (0.1 ms), NEST's minimum; Brian2's is 0.  This shifts every
  synaptic effect by one step, which does not change the rate noticeably.

--coba: iaf_cond_exp (conductance-based, exponential conductances, integrated
by GSL's adaptive RKF45), g_L 10 nS, C_m 200 pF (tau_m 20 ms), E_L -60 mV,
I_e 200 pA (Brian2's 20 mV drive: I·g_L), V_th -50 mV, V_reset -60 mV,
t_ref 5 ms, E_ex 0 mV, E_in -80 mV, tau_syn 5 / 10 ms; weights 0.6 g_L = 6 nS
and -6.7 g_L = -67 nS (NEST's sign marks the inhibitory port).

--network FILE: instead of drawing its own connections and initial V_m, the
network spikeloop drew (`spikeloop bench cuba|coba --network-out FILE`), so
that both simulate the same one (Benchmarks/cuba passes it).

Only nest.Simulate() is timed (wall clock).  Prints one JSON object:
{"system": "nest", "neurons", "synapses", "spikes", "sim_seconds", "wall_seconds"}
"""

import argparse
import json
import os
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--neurons", type=int, default=4000)
    parser.add_argument("--duration", type=float, default=10.0, help="simulated seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--coba", action="store_true", help="the COBA network (iaf_cond_exp)")
    parser.add_argument("--network", default=None,
                        help="simulate this network (connections, initial v) from `spikeloop bench ... --network-out`")
    args = parser.parse_args()

    os.environ.setdefault("PYNEST_QUIET", "1")
    import nest

    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.ERROR
    else:
        nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": 0.1, "local_num_threads": 1,
                          "rng_seed": args.seed, "print_time": False})

    n_exc = int(args.neurons * 0.8)
    if args.coba:
        g_l = 10.0
        params = {"C_m": 20.0 * g_l, "g_L": g_l, "E_L": -60.0, "I_e": 20.0 * g_l, "V_th": -50.0,
                  "V_reset": -60.0, "t_ref": 5.0, "E_ex": 0.0, "E_in": -80.0,
                  "tau_syn_ex": 5.0, "tau_syn_in": 10.0}
        pop = nest.Create("iaf_cond_exp", args.neurons, params=params)
        w_e, w_i = 0.6 * g_l, -6.7 * g_l
    else:
        c_m, tau_m = 250.0, 20.0
        params = {"C_m": c_m, "tau_m": tau_m, "tau_syn_ex": 5.0, "tau_syn_in": 10.0,
                  "E_L": -49.0, "V_th": -50.0, "V_reset": -60.0, "t_ref": 5.0, "I_e": 0.0}
        pop = nest.Create("iaf_psc_exp", args.neurons, params=params)
        w_e = 1.62 * c_m / tau_m    # 20.25 pA
        w_i = -9.0 * c_m / tau_m    # -112.5 pA
    delay = nest.resolution
    synapse = {"synapse_model": "static_synapse", "delay": delay}
    if args.network:
        import numpy as np
        import drawn_network
        drawn = drawn_network.read(args.network, args.neurons, "nest_cuba")
        pop.V_m = drawn["v0"]
        ids = np.array(pop.tolist())
        for projection in drawn["projections"]:
            count = len(projection["pre"])
            # Arrays of node IDs take their synapse parameters as arrays too.
            nest.Connect(ids[projection["pre"]], ids[projection["post"]], "one_to_one",
                         {"synapse_model": "static_synapse", "delay": np.full(count, delay),
                          "weight": np.full(count, w_e if projection["variable"] == "g_e" else w_i)})
    else:
        pop.V_m = nest.random.uniform(-60.0, -50.0)
        rule = {"rule": "pairwise_bernoulli", "p": 0.02, "allow_autapses": True}
        nest.Connect(pop[:n_exc], pop, rule, {**synapse, "weight": w_e})
        nest.Connect(pop[n_exc:], pop, rule, {**synapse, "weight": w_i})
    recorder = nest.Create("spike_recorder")
    nest.Connect(pop, recorder)
    synapses = nest.GetKernelStatus("num_connections") - args.neurons  # minus recorder links

    began = time.perf_counter()
    nest.Simulate(args.duration * 1000.0)
    wall = time.perf_counter() - began

    result = {
        "system": "nest",
        "neurons": args.neurons,
        "synapses": int(synapses),
        "spikes": int(recorder.n_events),
        "sim_seconds": args.duration,
        "wall_seconds": wall,
    }
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
