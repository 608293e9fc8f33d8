#!/usr/bin/env python3
"""ANN -> SNN conversion measured on scikit-learn's digits: trains ReLU networks
(an MLP and a small CNN in PyTorch, an MLP in scikit-learn), exports each to
ONNX with its framework's exporter (torch.onnx.export, skl2onnx), converts it
with `spikeloop convert`, and prints the converted SNN's test accuracy at
several numbers of steps beside the ANN's and beside a peer converter's
(Sinabs' from_model, same ANN, same calibration and percentile), and how
many test images each SNN classifies as its ANN does.

    Tools/train/convert_digits.py [--seed 1] [--seeds 1] [--steps 10,20,50,100,200] [--plot docs/images/conversion-digits.png]
        [--models mlp,cnn,sklearn] [--epochs 40] [--input-rate HZ]

Each test image (8×8, pixel values / 16) is the analog input of the first layer,
held for the window; the network's state is restored between images
(`simulate --reset-every`); the class is the output integrator's largest v
after t steps (`--readout membrane`: v grows by the ANN's output each step, so
its argmax converges to the ANN's as the rates do). Calibration: 500 training
images. 80 % of the 1797 images train (stratified from --seed), 20 % test.
"""

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parents[2]
DT_MS = 0.1


def train_torch(net, x, y, epochs, seed):
    torch.manual_seed(seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        for batch in np.array_split(rng.permutation(len(x)), max(1, len(x) // 64)):
            loss = torch.nn.functional.cross_entropy(net(torch.tensor(x[batch])), torch.tensor(y[batch]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return net


def rueckauer_normalised(net, calibration, percentile):
    """A copy of `net` normalised as Rueckauer et al. 2017 write it and as `spikeloop
    convert` does: with λ_l the percentile of ReLU l's activations in the original
    network, W_l × λ_{l−1}/λ_l and b_l / λ_l (the output layer: λ = 1). It computes the
    same function up to the output's scale."""
    import copy
    ann = copy.deepcopy(net)
    layers = list(ann.children())
    scale, x = {}, calibration
    with torch.no_grad():
        for k, m in enumerate(layers):
            x = m(x)
            if isinstance(m, torch.nn.ReLU):
                scale[k] = float(np.percentile(x.numpy(), percentile))
        previous = 1.0
        for k, m in enumerate(layers):
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
                own = next((scale[j] for j in sorted(scale) if j > k), 1.0)
                m.weight.mul_(previous / own)
                m.bias.mul_(1 / own)
                previous = own
    return ann


def sinabs_predictions(net, shape, calibration, test_x, steps, normalisation, percentile=99.9):
    """The peer: Sinabs' conversion of the same PyTorch ANN (from_model: IAF neurons with
    reset by subtraction), the same analog input held for the window, the class the
    largest sum of the output layer's currents (the integrator readout's equivalent).
    `normalisation`: "sinabs" (its normalize_weights at the same percentile on the same
    samples) or "rueckauer" (rueckauer_normalised, the normalisation spikeloop applies)."""
    import copy
    from sinabs.from_torch import from_model
    from sinabs.utils import normalize_weights
    samples = torch.tensor(calibration.reshape(-1, *shape))
    if normalisation == "rueckauer":
        ann = rueckauer_normalised(net, samples, percentile)
    else:
        ann = copy.deepcopy(net)
        relus = [n for n, m in ann.named_modules() if isinstance(m, torch.nn.ReLU)]
        params = [n for n, m in ann.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
        normalize_weights(ann, samples, output_layers=relus, param_layers=params[:-1], percentile=percentile)
    window = max(steps)
    snn = from_model(ann, input_shape=shape, add_spiking_output=False, batch_size=len(test_x))
    with torch.no_grad():
        snn.reset_states()
        x = torch.tensor(test_x.reshape(-1, *shape)).unsqueeze(1).repeat(1, window, *([1] * len(shape)))
        out = snn(x.reshape(-1, *shape)).reshape(len(test_x), window, -1).cumsum(1).numpy()
    return {t: out[:, t - 1].argmax(1) for t in steps}


def models(kind, train_x, train_y, epochs, seed, folder):
    """Trains `kind`, writes its ONNX file, returns (path, ANN test predictor, input shape, torch module or None)."""
    torch.manual_seed(seed)
    path = folder / f"{kind}.onnx"
    if kind == "sklearn":
        from sklearn.neural_network import MLPClassifier
        from skl2onnx import to_onnx
        clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=300, random_state=seed).fit(train_x, train_y)
        model = to_onnx(clf, train_x[:1].astype(np.float32), options={id(clf): {"zipmap": False}})
        path.write_bytes(model.SerializeToString())
        return path, lambda x: clf.predict(x).astype(int), (64,), None
    if kind == "mlp":
        net = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64), torch.nn.ReLU(),
                                  torch.nn.Linear(64, 10))
        shape = (64,)
    else:
        net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
                                  torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
                                  torch.nn.Flatten(), torch.nn.Linear(64, 10))
        shape = (1, 8, 8)
    train_torch(net, train_x.reshape(-1, *shape), train_y, epochs, seed)
    net.eval()
    torch.onnx.export(net, torch.zeros(1, *shape), str(path), dynamo=False, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}})

    def predict(x):
        with torch.no_grad():
            return net(torch.tensor(x.reshape(-1, *shape))).argmax(1).numpy()
    return path, predict, shape, net


def snn_predictions(binary, onnx, calibration, test_x, steps, folder, initial=0.5, rate=None):
    """The class of each test image after each of `steps` (a list) steps, from one
    simulate run; `initial`: convert's --initial-membrane; `rate` (Hz): the input
    rate-coded (convert --input-rate), each pixel Poisson spikes at value × rate."""
    net = folder / (onnx.stem + ".yaml")
    np.save(folder / "calibration.npy", calibration)
    convert = subprocess.run([binary, "convert", str(onnx), "--calibration", str(folder / "calibration.npy"),
                              "--out", str(net), "--readout", "membrane", "--initial-membrane", str(initial),
                              *(["--input-rate", f"{rate}Hz"] if rate else [])],
                             capture_output=True, text=True)
    if convert.returncode:
        sys.exit(convert.stderr)
    output = next(line.split("output population ")[1].split()[0] for line in convert.stdout.splitlines() if "output population" in line)
    window = max(steps)
    values = folder / "x.csv"
    with open(values, "w") as f:
        f.write(",".join(f"input:{i}" for i in range(test_x.shape[1])) + "\n")
        for image in test_x:
            f.write((",".join(repr(float(v) * (rate or 1)) for v in image) + "\n") * window)
    probes = folder / "v.csv"
    run = subprocess.run([binary, "simulate", str(net), "--input-values", str(values), "--reset-every", f"{window * DT_MS}ms",
                          "--duration", f"{window * DT_MS * len(test_x)}ms", "--probes", str(probes),
                          *[a for j in range(10) for a in ("--probe", f"{output}:v:{j}")]], capture_output=True, text=True)
    if run.returncode:
        sys.exit(run.stderr)
    v = np.loadtxt(probes, delimiter=",", skiprows=1)[:, 1:].reshape(len(test_x), window, 10)
    return {t: v[:, t - 1].argmax(1) for t in steps}


def run_seed(args, seed, steps):
    """{row label: (ANN accuracy, {t: accuracy}, {t: agreement with the ANN})} for one seed."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    train_x, test_x, train_y, test_y = train_test_split(x, digits.target, test_size=0.2, random_state=seed,
                                                        stratify=digits.target)
    calibration = train_x[np.random.default_rng(seed).permutation(len(train_x))[:500]]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for kind in args.models.split(","):
            onnx, predict, shape, net = models(kind, train_x, train_y, args.epochs, seed, folder)
            reference = predict(test_x)
            ann = 100 * float((reference == test_y).mean())
            runs = {kind: snn_predictions(args.spikeloop, onnx, calibration.reshape(-1, *shape), test_x, steps, folder)}
            if args.input_rate:
                runs[kind + f" (spikeloop, Poisson input at {args.input_rate:g} Hz)"] = snn_predictions(
                    args.spikeloop, onnx, calibration.reshape(-1, *shape), test_x, steps, folder, rate=args.input_rate)
            if net is not None and not args.no_peer:
                # Like for like with the peer's start (v = 0), beside our default (v = θ/2).
                runs[kind + " (spikeloop, v from 0)"] = snn_predictions(args.spikeloop, onnx, calibration.reshape(-1, *shape),
                                                                        test_x, steps, folder, initial=0)
                runs[kind + " (Sinabs)"] = sinabs_predictions(net, shape, calibration, test_x, steps, "rueckauer")
                runs[kind + " (Sinabs, its normalize_weights)"] = sinabs_predictions(net, shape, calibration, test_x, steps, "sinabs")
            for label, classes in runs.items():
                results[label] = (ann, {t: 100 * float((c == test_y).mean()) for t, c in classes.items()},
                                  {t: 100 * float((c == reference).mean()) for t, c in classes.items()})
    return results, len(test_x)


def table(title, results, steps, column):
    print(title)
    print("| model | ANN | " + " | ".join(f"t = {t}" for t in steps) + " |")
    print("|---|---|" + "---|" * len(steps))
    for kind, row in results.items():
        print(f"| {kind} | {row[0]:.2f} | " + " | ".join(f"{row[column][t]:.2f}" for t in steps) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=1, help="run seeds --seed … --seed + N − 1 and print their means too")
    ap.add_argument("--steps", default="10,20,50,100,200")
    ap.add_argument("--models", default="mlp,cnn,sklearn")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--plot", help="write the accuracy-vs-steps figure here (PNG)")
    ap.add_argument("--input-rate", type=float, help="also convert with the input rate-coded at this rate (Hz, convert --input-rate)")
    ap.add_argument("--no-peer", action="store_true", help="skip Sinabs' conversion of the PyTorch models")
    ap.add_argument("--spikeloop", default=str(ROOT / ".build" / "release" / "spikeloop"))
    args = ap.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    every = []
    for seed in range(args.seed, args.seed + args.seeds):
        results, count = run_seed(args, seed, steps)
        every.append(results)
        table(f"digits: {count} test images, seed {seed}; converted SNN accuracy (%) after t steps of {DT_MS} ms",
              results, steps, 1)
        table(f"seed {seed}: test images classified as the ANN classifies them (%)", results, steps, 2)
        for kind, (ann, snn, agree) in results.items():
            if "(" in kind:
                continue
            at = 100 if 100 in snn else max(t for t in steps if t <= 100)
            print(f"{kind}: ANN {ann:.2f} %, SNN {snn[at]:.2f} % at {at} steps (gap {ann - snn[at]:+.2f} points), "
                  f"as its ANN on {agree[at]:.2f} %")
            if kind + " (Sinabs)" in results:
                peer = results[kind + " (Sinabs)"][1]
                zero = results[kind + " (spikeloop, v from 0)"][1]
                print(f"{kind}: spikeloop minus Sinabs at equal steps: " + ", ".join(f"t={t} {snn[t] - peer[t]:+.2f}" for t in steps))
                print(f"{kind}: spikeloop from v = 0 minus Sinabs: " + ", ".join(f"t={t} {zero[t] - peer[t]:+.2f}" for t in steps))
    if args.seeds > 1:
        mean = {kind: (float(np.mean([r[kind][0] for r in every])),
                       {t: float(np.mean([r[kind][1][t] for r in every])) for t in steps},
                       {t: float(np.mean([r[kind][2][t] for r in every])) for t in steps}) for kind in every[0]}
        last = args.seed + args.seeds - 1
        table(f"mean of seeds {args.seed}-{last}: accuracy (%)", mean, steps, 1)
        table(f"mean of seeds {args.seed}-{last}: classified as the ANN (%)", mean, steps, 2)
        for kind in mean:
            if kind + " (Sinabs)" in mean:
                ours, peer = mean[kind][1], mean[kind + " (Sinabs)"][1]
                print(f"{kind}, mean of {args.seeds} seeds: spikeloop minus Sinabs: " + ", ".join(f"t={t} {ours[t] - peer[t]:+.2f}" for t in steps))
                ours, peer = mean[kind][2], mean[kind + " (Sinabs)"][2]
                print(f"{kind}, mean of {args.seeds} seeds: classified as the ANN, spikeloop minus Sinabs: "
                      + ", ".join(f"t={t} {ours[t] - peer[t]:+.2f}" for t in steps))
    results = every[0]
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(8, 4))
        colours = {}
        for kind, (ann, snn, _) in results.items():
            base = kind.split(" (")[0]
            if base in colours:  # the same ANN's other conversions: same colour, dotted (Sinabs) or dashed-dotted
                if kind == base + " (Sinabs)":
                    ax.plot(steps, [snn[t] for t in steps], marker="s", linestyle=":", color=colours[base], label=f"{base}: Sinabs' SNN (same normalisation)")
                continue
            line, = ax.plot(steps, [snn[t] for t in steps], marker="o", label=f"{kind}: spikeloop's SNN")
            colours[base] = line.get_color()
            ax.axhline(ann, color=line.get_color(), linestyle="--", linewidth=1, label=f"{kind}: ANN")
        ax.set_xscale("log")
        ax.set_xlabel("steps (0.1 ms each)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"digits: converted SNNs (spikeloop convert), seed {args.seed}")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
