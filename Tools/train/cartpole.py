#!/usr/bin/env python3
"""Trains a spiking cart-pole policy with surrogate gradients (snnTorch) by
imitation of the LQR baseline, and exports it to NIR for the daemon.

    Tools/train/cartpole.py [--iterations 400] [--hidden 64] [--seed 1]
        [--out Config/networks/cartpole-trained.nir]

The policy is Input(4) -> Linear -> Leaky (64 neurons, spiking) -> Linear ->
Leaky readout (a threshold it never reaches: its membrane is the force). It
runs at the daemon's step, dt = 0.1 ms, 10 steps per 1 kHz tick, the
sensor values held for the tick as the `current` encoders hold them:
each value scaled to [-1, 1] over SCALE and clamped. The force is 10 N times
the readout membrane after the tick's last step (a `membrane` decoder with
v in [-1, 1] mV mapped to [-10, 10] N): Config/cartpole-trained.yaml.

Training data are closed-loop episodes of the Barto cart-pole (the built-in
simulator's equations and parameters, RK4 at 1 kHz) from random initial
states, driven by the LQR law plus an Ornstein-Uhlenbeck exploration force so
that states off the LQR's own path are seen too; the label of every tick is
the LQR force clamped to the motor range. Back-propagation through time over
each whole sequence (the network's state carries from tick to tick, as in
the daemon), atan surrogate gradient, Adam.
"""

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import snntorch as snn
from snntorch import surrogate, utils
from snntorch.export_nir import export_to_nir
import nir

ROOT = Path(__file__).resolve().parents[2]
GAINS = np.array([1.0, 2.0, 30.6, 7.8])  # Sources/Sim/Baseline.swift LinearFeedback.lqr
SCALE = np.array([2.4, 3.0, 0.25, 2.5])  # sensor value mapped to ±1 by the encoders
FORCE = 10.0  # N, the motor range
STEPS_PER_TICK = 10  # dt 0.1 ms at 1 kHz
TICK = 1e-3
# Robots/cartpole.yaml
CART, POLE, HALF, G = 1.0, 0.1, 0.5, 9.8


def dynamics(s, f):
    """Barto, Sutton & Anderson (1983), no friction: derivatives of (x, v, angle, rate)."""
    x, v, th, w = s.T
    total = CART + POLE
    sin, cos = np.sin(th), np.cos(th)
    temp = (f + POLE * HALF * w * w * sin) / total
    alpha = (G * sin - cos * temp) / (HALF * (4.0 / 3.0 - POLE * cos * cos / total))
    acc = temp - POLE * HALF * alpha * cos / total
    return np.stack([v, acc, w, alpha], axis=1)


def rk4(s, f):
    k1 = dynamics(s, f)
    k2 = dynamics(s + 0.5 * TICK * k1, f)
    k3 = dynamics(s + 0.5 * TICK * k2, f)
    k4 = dynamics(s + TICK * k3, f)
    return s + TICK / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def episodes(rng, count, ticks):
    """States (count, ticks, 4) of LQR + exploration episodes, and the LQR labels (count, ticks)."""
    s = np.stack([rng.uniform(-1.5, 1.5, count), rng.uniform(-1, 1, count),
                  rng.uniform(-0.15, 0.15, count), rng.uniform(-1, 1, count)], axis=1)
    noise = np.zeros(count)
    sigma = rng.uniform(0, 4, count)  # some episodes explore little, some a lot
    states, labels = [], []
    for _ in range(ticks):
        label = np.clip(s @ GAINS, -FORCE, FORCE)
        noise += -noise * TICK / 0.05 + sigma * math.sqrt(2 * TICK / 0.05) * rng.normal(size=count)
        states.append(s.copy())
        labels.append(label)
        s = rk4(s, np.clip(label + noise, -FORCE, FORCE))
        s[:, 2] = np.clip(s[:, 2], -0.6, 0.6)  # keep failed episodes in a sane range
        s[:, 0] = np.clip(s[:, 0], -3, 3)
    return np.stack(states, axis=1), np.stack(labels, axis=1)


def policy(hidden, seed):
    torch.manual_seed(seed)
    spike_grad = surrogate.atan()
    return torch.nn.Sequential(
        torch.nn.Linear(4, hidden),
        snn.Leaky(beta=torch.full((hidden,), 0.9), threshold=torch.ones(hidden), spike_grad=spike_grad,
                  init_hidden=True, reset_mechanism="subtract"),
        torch.nn.Linear(hidden, 1),
        # The readout never spikes: its membrane is the output (a leaky integrator).
        snn.Leaky(beta=torch.full((1,), 0.9), threshold=torch.full((1,), 1e6), spike_grad=spike_grad,
                  init_hidden=True, reset_mechanism="subtract", output=True),
    )


def run(net, inputs):
    """Readout membrane after each tick's last step; inputs (batch, ticks, 4), normalised."""
    utils.reset(net)
    outputs = []
    for t in range(inputs.shape[1]):
        x = inputs[:, t]
        for _ in range(STEPS_PER_TICK):
            _, mem = net(x)
        outputs.append(mem[:, 0])
    return torch.stack(outputs, dim=1)


def normalise(states):
    return torch.tensor(np.clip(states / SCALE, -1, 1), dtype=torch.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=400)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--ticks", type=int, default=60, help="ticks per training sequence")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "Config" / "networks" / "cartpole-trained.nir"))
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rng = np.random.default_rng(args.seed)
    net = policy(args.hidden, args.seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    test_states, test_labels = episodes(np.random.default_rng(args.seed + 10_000), 64, args.ticks)
    test_x, test_y = normalise(test_states), torch.tensor(test_labels / FORCE, dtype=torch.float32)
    start = time.monotonic()
    for it in range(args.iterations):
        states, labels = episodes(rng, args.batch, args.ticks)
        out = run(net, normalise(states))
        loss = torch.mean((out - torch.tensor(labels / FORCE, dtype=torch.float32)) ** 2)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if it % 50 == 0 or it == args.iterations - 1:
            with torch.no_grad():
                test = torch.sqrt(torch.mean((run(net, test_x) - test_y) ** 2)).item() * FORCE
            print(f"iteration {it:4d}  train loss {loss.item():.5f}  held-out force error (rms) {test:.3f} N  "
                  f"{time.monotonic() - start:.0f} s", flush=True)
    graph = export_to_nir(net, torch.zeros(1, 4), ignore_dims=[0])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    nir.write(args.out, graph)
    print(f"wrote {args.out} (NIR {nir.version}; nodes {sorted(graph.nodes)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
