"""The LIF update built per instruction set (Sources/LIFKernel) gives the same spikes from every build.

`SPIKELOOP_LIF_KERNEL` picks the build; the run names the one it used, and
builds this CPU cannot run fall back (and are left out here, by name). CUBA
(Config/examples/cuba.yaml, 4000 neurons) and a COBA network run 300 ms in
both precisions; every spike must be at the same step with every build.
"""

import os
import re
import subprocess

from conftest import ROOT

COBA = """name: coba
dt: 0.1 ms
seed: 3
populations:
  - name: exc
    model: lif
    size: 800
    params: &cell {tau_m: 20 ms, v_rest: -60 mV, v_threshold: -50 mV, v_reset: -60 mV, t_ref: 5 ms,
                   tau_e: 5 ms, tau_i: 10 ms, e_e: 0 mV, e_i: -80 mV, i_ext: 20 nA}
    init: &start {v: {uniform: [-60 mV, -50 mV]}}
  - {name: inh, model: lif, size: 200, params: *cell, init: *start}
projections:
  - {from: exc, to: exc, target: g_e, connect: {rule: fixed_probability, p: 0.08}, weight: 0.6}
  - {from: exc, to: inh, target: g_e, connect: {rule: fixed_probability, p: 0.08}, weight: 0.6}
  - {from: inh, to: exc, target: g_i, connect: {rule: fixed_probability, p: 0.08}, weight: 6.7}
  - {from: inh, to: inh, target: g_i, connect: {rule: fixed_probability, p: 0.08}, weight: 6.7}
"""


def run(network, precision, kernel, folder):
    text = network.read_text().replace("seed:", f"precision: {precision}\nseed:", 1)
    path = folder / f"net-{precision}.yaml"
    path.write_text(text)
    spikes = folder / f"spikes-{precision}-{kernel}.csv"
    proc = subprocess.run([str(ROOT / ".build" / "release" / "spikeloop"), "simulate", str(path), "--duration", "300ms",
                           "--spikes", str(spikes)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, SPIKELOOP_LIF_KERNEL=kernel))
    assert proc.returncode == 0, proc.stderr
    used = re.search(r"LIF kernel (\w+)", proc.stdout).group(1)
    return used, spikes.read_text()


def test_every_lif_kernel_build_gives_the_same_spikes(tmp_path):
    coba = tmp_path / "coba.yaml"
    coba.write_text(COBA)
    ran = set()
    for network in (ROOT / "Config" / "examples" / "cuba.yaml", coba):
        for precision in ("float32", "float64"):
            reference_kernel, reference = run(network, precision, "baseline", tmp_path)
            assert reference_kernel == "baseline"
            assert reference.count("\n") > 1000, network
            for kernel in ("avx2", "avx512"):
                used, spikes = run(network, precision, kernel, tmp_path)
                if used != kernel:
                    print(f"{kernel}: not available on this CPU (ran {used})")
                    continue
                ran.add(kernel)
                assert spikes == reference, f"{network.name} {precision}: {kernel} differs from baseline"
    print("builds compared with the baseline:", sorted(ran) or "none (this CPU has neither AVX2 nor AVX-512)")
