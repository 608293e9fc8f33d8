"""The benchmark networks simulated by Brian2 as spikeloop drew them
(`bench cuba|coba --network-out`, Brian2's peer `--network`): what
Benchmarks/cuba and Benchmarks/coba compare. In float64 both integrate the
same equations from the same network, so over a second of a chaotic
network's activity they must give the same spike count; a seed drawn in
the test picks the network."""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import spikeloop_binary

pytest.importorskip("brian2")

REPO = Path(__file__).resolve().parents[2]
NEURONS = 4000  # the benchmarks' size: Brian2's compiled code is shared with them


def drawn(kind, seed, path):
    run = subprocess.run([spikeloop_binary(), "bench", kind, "--neurons", str(NEURONS), "--seed", str(seed),
                          "--precision", "float64", "--duration", "1s", "--network-out", str(path), "--json"],
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kind", ["cuba", "coba"])
def test_brian2_on_spikeloops_network_fires_as_spikeloop(kind, tmp_path):
    seed = random.randrange(1, 1 << 31)
    path = tmp_path / "network.json"
    ours = drawn(kind, seed, path)
    network = json.loads(path.read_text())
    assert [p["size"] for p in network["populations"]] == [NEURONS * 4 // 5, NEURONS // 5]
    assert len(network["v0"]) == NEURONS and all(-60 <= v <= -50 for v in network["v0"])
    assert sum(len(p["pre"]) for p in network["projections"]) == ours["synapses"]
    span = {"exc": range(0, NEURONS * 4 // 5), "inh": range(NEURONS * 4 // 5, NEURONS)}
    for p in network["projections"]:
        assert len(p["pre"]) == len(p["post"])
        assert all(i in span[p["source"]] for i in p["pre"]) and all(j in span[p["target"]] for j in p["post"])
    peer = subprocess.run([sys.executable, str(REPO / "Benchmarks" / "peers" / "brian2_cuba.py"),
                           *(["--coba"] if kind == "coba" else []), "--network", str(path), "--duration", "1"],
                          capture_output=True, text=True, check=True)
    theirs = json.loads(peer.stdout.strip().splitlines()[-1])
    assert theirs["synapses"] == ours["synapses"]
    assert ours["spikes"] > 1000
    assert theirs["spikes"] == ours["spikes"], f"seed {seed}: spikeloop {ours['spikes']}, Brian2 {theirs['spikes']}"
