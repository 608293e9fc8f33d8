"""Izhikevich populations spike for spike against Brian2 (Tests/brian2/izhikevich_check.py).

Every preset and two driven networks (dt 0.1 and 0.05 ms), drawn from a fresh
random seed (printed). The Euler step is evaluated in the order of Brian2's
generated code, so in float64 a population's trace is Brian2's bit for bit,
chaotic fast-spiking neurons included. In the networks, inputs arriving in the
same step are summed in another order than Brian2's; there our spikes must be
Brian2's wherever Brian2 keeps its own spikes when every v moves by one ulp ten
times during the run (a well-conditioned case), and are reported where not.
"""

import json
import subprocess
import sys

from conftest import ROOT


def test_izhikevich_matches_brian2():
    proc = subprocess.run([sys.executable, str(ROOT / "Tests" / "brian2" / "izhikevich_check.py"), "--json",
                           "--spikeloop", str(ROOT / ".build" / "release" / "spikeloop")],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-3000:]
    print(proc.stdout)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(report["cases"]) == 6
    for case in report["cases"]:
        assert case["brian2_spikes"] > 0, case
        if case["brian2_nudged"]["identical"]:
            assert case["float64"]["identical"], (report["seed"], case)
    # One population, no synapses: bit for bit, even where chaotic.
    for case in report["cases"][:4]:
        assert case["float64"]["identical"] and case["float64"]["max_dv_mv"] == 0, (report["seed"], case)
