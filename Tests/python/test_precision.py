"""`precision: float64`: every spike at Brian2's step on random LIF networks.

Tests/brian2/precision_check.py draws 50 networks from a fresh random seed
(printed; nothing is re-rolled) and runs each in Brian2 and in spikeloop in
both precisions. float64 must reproduce every spike of every network; float32's
agreement is reported (docs/network-file.md publishes it), not asserted.
"""

import json
import subprocess
import sys

from conftest import ROOT


def test_float64_reproduces_brian2_on_random_networks():
    proc = subprocess.run([sys.executable, str(ROOT / "Tests" / "brian2" / "precision_check.py"),
                           "--networks", "50", "--json",
                           "--spikeloop", str(ROOT / ".build" / "release" / "spikeloop")],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-3000:]
    print(proc.stdout)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    f64 = report["float64"]
    assert f64["identical"] == 50, (report["seed"], f64["first_difference"])
    assert f64["ours"] == report["brian2_spikes"]
    # The float32 figures are a measurement; they only have to be one.
    assert 0 < report["float32"]["same_fraction"] <= 1
