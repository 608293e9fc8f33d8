#!/usr/bin/env python3
"""Trains a spiking classifier of scikit-learn's digits with surrogate gradients
(snnTorch), exports it to NIR, and measures its test accuracy twice: in
snnTorch, and in spikeloop (`spikeloop simulate digits.nir`, one window per
test image, the network's state restored between them).

    Tools/train/digits.py [--epochs 30] [--steps 20] [--seed 1] [--out build/digits.nir]

The 8×8 images (pixel values 0–16, scaled to [0, 1]) are the analog input of
Input(64) -> Linear -> Leaky (128) -> Linear -> Leaky (10), each image held
for --steps steps of 0.1 ms; the class is the output neuron with the most
spikes (the lowest index among equals, in both). 80 % of the 1797 images train
(stratified, from --seed), 20 % test. snnTorch's default reset (subtract)
runs in spikeloop as `--reset subtract`.
"""

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import snntorch as snn
from snntorch import surrogate, utils
from snntorch import functional as SF
from snntorch.export_nir import export_to_nir
import nir
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parents[2]
DT_MS = 0.1  # snnTorch's exporter writes its files for dt = 1e-4 s


def classifier(hidden, seed):
    torch.manual_seed(seed)
    grad = surrogate.atan()
    return torch.nn.Sequential(
        torch.nn.Linear(64, hidden),
        snn.Leaky(beta=torch.full((hidden,), 0.9), threshold=torch.ones(hidden), spike_grad=grad, init_hidden=True),
        torch.nn.Linear(hidden, 10),
        snn.Leaky(beta=torch.full((10,), 0.9), threshold=torch.ones(10), spike_grad=grad, init_hidden=True, output=True),
    )


def spike_counts(net, images, steps):
    """Output spikes per class, (steps, batch, 10) for the loss and summed for the class."""
    utils.reset(net)
    out = []
    for _ in range(steps):
        spk, _ = net(images)
        out.append(spk)
    return torch.stack(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "build" / "digits.nir"))
    ap.add_argument("--spikeloop", default=str(ROOT / ".build" / "release" / "spikeloop"))
    args = ap.parse_args()

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    train_x, test_x, train_y, test_y = train_test_split(x, digits.target, test_size=0.2, random_state=args.seed,
                                                        stratify=digits.target)
    net = classifier(args.hidden, args.seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    loss_fn = SF.ce_count_loss()
    rng = np.random.default_rng(args.seed)
    start = time.monotonic()
    for epoch in range(args.epochs):
        order = rng.permutation(len(train_x))
        for k in range(0, len(order), 64):
            batch = order[k:k + 64]
            spikes = spike_counts(net, torch.tensor(train_x[batch]), args.steps)
            loss = loss_fn(spikes, torch.tensor(train_y[batch]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        if epoch % 5 == 4 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1:3d}  loss {loss.item():.4f}  {time.monotonic() - start:.0f} s", flush=True)

    with torch.no_grad():
        theirs = spike_counts(net, torch.tensor(test_x), args.steps).sum(0).numpy()
    their_class = theirs.argmax(axis=1)
    their_accuracy = 100 * float((their_class == test_y).mean())

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    graph = export_to_nir(net, torch.zeros(1, 64), ignore_dims=[0])
    nir.write(out, graph)
    output = next(a for a, b in graph.edges if b == "output")

    # spikeloop: every test image held for its window, the state restored between windows.
    with tempfile.TemporaryDirectory() as folder:
        values, spikes_csv = Path(folder) / "x.csv", Path(folder) / "spikes.csv"
        with open(values, "w") as f:
            f.write(",".join(f"input:{i}" for i in range(64)) + "\n")
            for image in test_x:
                row = ",".join(repr(float(v)) for v in image) + "\n"
                f.write(row * args.steps)
        window = args.steps * DT_MS
        subprocess.run([args.spikeloop, "simulate", str(out), "--input-values", str(values), "--reset", "subtract",
                        "--reset-every", f"{window}ms", "--duration", f"{window * len(test_x)}ms",
                        "--spikes", str(spikes_csv)], check=True, capture_output=True, text=True)
        ours = np.zeros((len(test_x), 10))
        with open(spikes_csv) as f:
            for row in csv.DictReader(f):
                if row["population"] == output:
                    step = int(round(float(row["time_ms"]) / DT_MS))
                    ours[step // args.steps, int(row["neuron"])] += 1
    our_class = ours.argmax(axis=1)
    our_accuracy = 100 * float((our_class == test_y).mean())
    print(f"test images        {len(test_x)} ({args.steps} steps each)")
    print(f"snnTorch accuracy  {their_accuracy:.2f} %")
    print(f"spikeloop accuracy {our_accuracy:.2f} %")
    print(f"same class         {int((our_class == their_class).sum())} of {len(test_x)}")
    print(f"same spike counts  {int((ours == theirs).all(axis=1).sum())} of {len(test_x)}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
