"""Brian2's STDP example (Song, Miller & Abbott 2000) in spikeloop beside Brian2 in one
run (`Tools/song2000`, docs/plasticity.md): 100 s of STDP onto a conductance-based
neuron from a seed drawn here."""

import json
import random
import subprocess
import sys

import pytest

from conftest import ROOT, spikeloop_binary

pytest.importorskip("brian2")


def test_stdp_drives_the_weights_to_the_bounds_as_in_brian2(tmp_path):
    """The fraction of weights above gmax/2 within 5 points of Brian2's (the tool's own
    check, its exit status), and both distributions bimodal: each end (two of 20 bins)
    holds more than twice the middle ten bins' mean."""
    seed = random.randrange(1, 2**31)
    result = subprocess.run([sys.executable, str(ROOT / "Tools" / "song2000"), "--seed", str(seed),
                             "--spikeloop", str(spikeloop_binary()), "--json", str(tmp_path / "song.json")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"seed {seed}\n" + result.stdout + result.stderr[-3000:]
    figures = json.loads((tmp_path / "song.json").read_text())
    for system in ("spikeloop", "brian2"):
        h = figures[system]["histogram"]
        middle = sum(h[5:15]) / 10
        assert (h[0] + h[1]) / 2 > 2 * middle and (h[-1] + h[-2]) / 2 > 2 * middle, (seed, system, h)
