"""CUBA spike for spike against Brian2 (Tests/brian2/cuba_check.py).

Eleven network instances drawn from a random seed (in the report on
failure): over the first 50 ms the median Jaccard index of spikeloop's and
Brian2's spikes must be at least 0.9 (float32) and 1 (`precision: float64`),
and every single-parameter change of 5 % applied to spikeloop's network file
must make the float32 check fail.
"""

import json
import subprocess
import sys

from conftest import ROOT


def test_cuba_matches_brian2_and_catches_every_5_percent_change():
    spikeloop = ROOT / ".build" / "release" / "spikeloop"
    proc = subprocess.run([sys.executable, str(ROOT / "Tests" / "brian2" / "cuba_check.py"),
                           "--instances", "11", "--duration", "50", "--mutations", "--json",
                           "--spikeloop", str(spikeloop)],
                          capture_output=True, text=True, timeout=600)
    assert proc.stdout.strip(), proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["passes"], proc.stderr
    # float64 accumulates as Brian2 does: the median instance is spike for spike Brian2's.
    assert report["median_jaccard_float64"] == 1.0, proc.stderr
    assert len(report["mutations"]) == 20
    missed = [m["change"] for m in report["mutations"] if m["passes"]]
    assert not missed, (missed, proc.stderr)
    assert proc.returncode == 0, proc.stderr
