"""Shared by the controller generators (diffdrive.py, pendulum.py): writes
network-file YAML for "functions of sensor channels in spikes".

The construction (docs/controllers.md): a sensor channel is population coded
by N Gaussian receptive fields (regular trains, preferred values mu_j evenly
over [lo, hi], width one spacing, MAX_RATE at the preferred value), so
sum_j r_j(x) ~ S = sqrt(2 pi) MAX_RATE for any x inside the range, and
sum_j F(mu_j) r_j(x) ~ S F(x) for any smooth F (a Gaussian-smoothed F). A
projection from the fields with weights beta F(mu_j) onto near-perfect
integrate-and-fire neurons (1 s leak, no refractory period) makes them fire
at beta S F(x) / DV Hz. Negative parts of F go to an opposing population
(push-pull), so every weight is excitatory.

Also the generators' shared command line (`command_line`, `write`): where the
files go, under which name, with which endpoints.

Standard library only.
"""
import argparse
import math
import os
import re

CONFIG = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

MAX_RATE = 1000.0                       # Hz at a field's preferred value
S = math.sqrt(2 * math.pi) * MAX_RATE   # sum_j r_j(x), fields one spacing wide
V_REST, V_RESET, V_THRESHOLD = -70.0, -70.0, -50.0   # mV
DV = V_THRESHOLD - V_RESET


def fmt(x):
    s = f"{x:.4f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def preferred(lo, hi, n):
    return [lo + j * (hi - lo) / (n - 1) for j in range(n)]


def input_population(name, size, comment):
    return [f"  - {{name: {name}, model: input, size: {size}}}   # {comment}"]


def integrator_population(name, size, tau_m="1000 ms", comment=""):
    """Integrate-and-fire neurons (rate = drive / DV), initial potentials
    staggered over DV so that they fire out of phase and the population rate is smooth."""
    stagger = ", ".join(fmt(V_RESET + DV * (i + 0.5) / size) + " mV" for i in range(size))
    return [f"  - name: {name}" + (f"   # {comment}" if comment else ""),
            "    model: lif",
            f"    size: {size}",
            f"    params: {{tau_m: {tau_m}, v_rest: {fmt(V_REST)} mV, v_threshold: {fmt(V_THRESHOLD)} mV, "
            f"v_reset: {fmt(V_RESET)} mV, t_ref: 0 ms}}",
            f"    init: {{v: [{stagger}]}}   # staggered phases"]


def num(x):
    """Weights and gains with 6 significant digits (fmt keeps 4 decimals: too few for 0.00025)."""
    t = f"{x:.6g}"
    return "0" if t in ("-0", "0.0") else t


def if_layer_population(name, size, inputs, dt_ms=0.1, comment=""):
    """Integrate-and-fire neurons as an `if` layer with reset by subtraction: v += input each
    step, rate = drive / threshold exactly (a reset to v_reset, as `lif` does, drops the
    overshoot above threshold: a few percent of the gain, more with large weights).
    inputs: [(source population, weight per source neuron, in thresholds)], the same for
    every neuron; initial potentials staggered over the threshold."""
    stagger = ", ".join(num((i + 0.5) / size) for i in range(size))
    out = [f"  - name: {name}" + (f"   # {comment}" if comment else ""),
           "    model: layer",
           f"    size: {size}",
           f"    params: {{kind: if, reset: subtract, r: {num(1 / (dt_ms * 1e-3))}, v_threshold: 1, v_reset: 0, "
           f"v_initial: [{stagger}]}}   # v += input each step; staggered phases",
           "    inputs:"]
    for source, weights in inputs:
        row = "[" + ", ".join(num(w) for w in weights) + "]"
        out += [f"      - from: {source}", f"        weights: [{', '.join([row] * size)}]"]
    return out


def projection(name, source, target, weights, target_size, comment=""):
    """source neuron j -> every neuron of target with weights[j] mV (zeros left out)."""
    pairs, values = [], []
    for j, w in enumerate(weights):
        if abs(w) <= 1e-9:
            continue
        for i in range(target_size):
            pairs.append(f"[{j}, {i}]")
            values.append(fmt(w) + " mV")
    if not pairs:
        return []
    return [f"  - name: {name}" + (f"   # {comment}" if comment else ""),
            f"    from: {source}",
            f"    to: {target}",
            "    target: v",
            f"    connect: {{rule: list, pairs: [{', '.join(pairs)}]}}",
            f"    weight: {{list: [{', '.join(values)}]}}"]


def rates(x, mus):
    sigma = mus[1] - mus[0]
    return [MAX_RATE * math.exp(-(x - mu) ** 2 / (2 * sigma * sigma)) for mu in mus]


def solve(a, b):
    """Gaussian elimination with partial pivoting (a is small and well conditioned)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(c + 1, n):
            f = m[r][c] / m[c][c]
            for k in range(c, n + 1):
                m[r][k] -= f * m[c][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][k] * x[k] for k in range(r + 1, n))) / m[r][r]
    return x


def fit(mus, function, ridge=1e-3, points=400, ends=0.2):
    """Coefficients c_j with sum_j c_j r_j(x) ~ S F(x) over [mu_0, mu_N-1] (least squares,
    pulled towards c_j = F(mu_j)). Plain c_j = F(mu_j) would halve F at the ends of the
    range, where half of the fields' Gaussian mass is missing; the ends matter here
    because readings beyond the range saturate there."""
    lo, hi, n = mus[0], mus[-1], len(mus)
    prior = [function(mu) for mu in mus]
    a = [[ridge if i == j else 0.0 for j in range(n)] for i in range(n)]
    b = [ridge * prior[i] for i in range(n)]
    samples = [(lo + k * (hi - lo) / (points - 1), 1.0 / points) for k in range(points)]
    samples += [(lo, ends), (hi, ends)]   # saturated readings sit exactly there
    for x, weight in samples:
        g = [r / S for r in rates(x, mus)]
        y = function(x)
        for i in range(n):
            b[i] += weight * g[i] * y
            for j in range(n):
                a[i][j] += weight * g[i] * g[j]
    return solve(a, b)


def push_pull_projections(fields, mus, function, push, pull, size, beta, label):
    """fields -> push with beta c_j where c_j > 0, -> pull with -beta c_j where c_j < 0
    (c_j from fit(): the drive difference push - pull is beta S F(x))."""
    values = fit(mus, function)
    return (projection(f"{fields}->{push}", fields, push, [beta * max(v, 0) for v in values], size, label)
            + projection(f"{fields}->{pull}", fields, pull, [beta * max(-v, 0) for v in values], size, label))


def signed_projection(fields, mus, function, target, size, beta, label):
    """fields -> target with beta c_j, negative weights included (an inhibitory
    share of the drive): the target's drive is beta S F(x)."""
    return projection(f"{fields}->{target}", fields, target, [beta * c for c in fit(mus, function)], size, label)


def command_line(description, name):
    """The options every generator takes; a generator adds its own to the parser."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--out", default=CONFIG, help="folder of the configuration, OUT/NAME.yaml; the network goes "
                                                  "to OUT/networks/NAME.yaml (default: Config/)")
    ap.add_argument("--name", help=f"the files' and the network's name (default: {name})")
    ap.add_argument("--frames", help="the configuration's frames endpoint (default: the committed one)")
    ap.add_argument("--control", help="the configuration's control endpoint (default: the committed one)")
    return ap


def write(args, name, network_text, configuration_text):
    """OUT/networks/NAME.yaml and OUT/NAME.yaml. The texts are written for Config/ (robot:
    ../Robots/..., network: networks/...); the configuration's robot: is rewritten to point
    there from OUT, network: to the new file, and the endpoints to --frames and --control."""
    out, name = os.path.abspath(args.out), args.name or name
    os.makedirs(os.path.join(out, "networks"), exist_ok=True)
    network_text = re.sub(r"^name: .*$", f"name: {name}", network_text, count=1, flags=re.M)
    robot = re.search(r"^robot: (\S+)", configuration_text, flags=re.M)
    robot_path = os.path.relpath(os.path.normpath(os.path.join(CONFIG, robot.group(1))), out)
    configuration_text = configuration_text.replace(robot.group(0), f"robot: {robot_path}", 1)
    configuration_text = re.sub(r"^network: \S+", f"network: networks/{name}.yaml", configuration_text,
                                count=1, flags=re.M)
    for key in ("frames", "control"):
        if getattr(args, key):
            configuration_text = re.sub(rf"^(  {key}: )\S+", lambda m: m.group(1) + getattr(args, key),
                                        configuration_text, count=1, flags=re.M)
    files = (os.path.join(out, "networks", f"{name}.yaml"), os.path.join(out, f"{name}.yaml"))
    for path, text in zip(files, (network_text, configuration_text)):
        with open(path, "w") as f:
            f.write(text)
    print("wrote " + " and ".join(os.path.relpath(p) for p in files))
