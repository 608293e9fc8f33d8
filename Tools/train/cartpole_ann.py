#!/usr/bin/env python3
"""A conventional (ReLU) cart-pole policy, converted into a spiking controller:
trains an MLP in PyTorch by imitation of the LQR baseline, exports it to ONNX
(torch.onnx.export), and converts it with `spikeloop convert` into
Config/networks/cartpole-converted.yaml (+ .npy weights), which
Config/cartpole-converted.yaml runs.

    Tools/train/cartpole_ann.py [--epochs 60] [--seed 1] [--out Config/networks/cartpole-converted.yaml]

The MLP maps the four sensor values, each scaled to [-1, 1] over the ranges of
Tools/train/cartpole.py (as the `current` encoders scale them), to the LQR force
/ 10 N: 4 -> 32 -> 32 -> 1, ReLU. Its data are the states of closed-loop LQR
episodes with exploration (Tools/train/cartpole.py's generator). The conversion
uses 2000 of those states as calibration and a leaky readout (τ 1 ms) whose
membrane the `membrane` decoder reads after each tick.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cartpole import FORCE, SCALE, episodes  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "Config" / "networks" / "cartpole-converted.yaml"))
    ap.add_argument("--spikeloop", default=str(ROOT / ".build" / "release" / "spikeloop"))
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    states, labels = episodes(rng, 256, 400)
    x = np.clip(states.reshape(-1, 4) / SCALE, -1, 1).astype(np.float32)
    y = (labels.reshape(-1, 1) / FORCE).astype(np.float32)
    net = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(),
                              torch.nn.Linear(32, 1))
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    for epoch in range(args.epochs):
        for batch in np.array_split(rng.permutation(len(x)), len(x) // 256):
            loss = torch.mean((net(torch.tensor(x[batch])) - torch.tensor(y[batch])) ** 2)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if epoch % 20 == 19 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1:3d}  force error (rms) {np.sqrt(loss.item()) * FORCE:.3f} N", flush=True)
    net.eval()
    with tempfile.TemporaryDirectory() as tmp:
        onnx = Path(tmp) / "cartpole.onnx"
        torch.onnx.export(net, torch.zeros(1, 4), str(onnx), dynamo=False, input_names=["state"], output_names=["force"],
                          dynamic_axes={"state": {0: "batch"}})
        calibration = Path(tmp) / "calibration.npy"
        np.save(calibration, x[rng.permutation(len(x))[:2000]])
        result = subprocess.run([args.spikeloop, "convert", str(onnx), "--calibration", str(calibration),
                                 "--out", args.out, "--readout", "leaky", "--readout-tau", "1ms"],
                                capture_output=True, text=True)
        print(result.stdout + result.stderr, end="")
        return result.returncode


if __name__ == "__main__":
    sys.exit(main())
