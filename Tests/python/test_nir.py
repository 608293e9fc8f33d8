"""NIR import (docs/nir.md) checked against the exporter's own simulation: random
snnTorch networks, drawn in the test, are exported with snnTorch's NIR exporter,
run by `spikeloop simulate model.nir` with the same input, and must spike at the
same steps with the same membranes. Bad files are written with h5py from the
NIR layout alone and must be refused with the node and the field named."""

import csv
import random
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from conftest import ROOT, spikeloop_binary

torch = pytest.importorskip("torch")
snn = pytest.importorskip("snntorch")
nir = pytest.importorskip("nir")
from snntorch import utils as snn_utils  # noqa: E402
from snntorch.export_nir import export_to_nir  # noqa: E402

STEPS = 300
DT_MS = 0.1  # snnTorch's exporter writes its files for dt = 1e-4 s


def random_network(rng, kind, reset):
    """Input -> Linear -> (hidden layers of `kind`) -> Linear -> `kind` output, random sizes and parameters."""
    sizes = [int(n) for n in rng.integers(2, 40, size=int(rng.integers(3, 5)))]

    def neuron(n, output):
        beta = torch.tensor(rng.uniform(0.5, 0.99, n), dtype=torch.float32)
        threshold = torch.tensor(rng.uniform(0.5, 1.5, n), dtype=torch.float32)
        common = dict(beta=beta, threshold=threshold, reset_mechanism=reset, init_hidden=True, output=output)
        alpha = torch.tensor(rng.uniform(0.5, 0.95, n), dtype=torch.float32)
        if kind == "leaky":
            return snn.Leaky(**common)
        if kind == "synaptic":
            return snn.Synaptic(alpha=alpha, **common)
        if kind == "rleaky":
            return snn.RLeaky(linear_features=n, **common)
        return snn.RSynaptic(alpha=alpha, linear_features=n, **common)

    layers = []
    for k in range(1, len(sizes)):
        linear = torch.nn.Linear(sizes[k - 1], sizes[k])
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(rng.normal(0, 1.5 / np.sqrt(sizes[k - 1]), linear.weight.shape)))
            linear.bias.copy_(torch.tensor(rng.normal(0, 0.1, sizes[k])))
        layers += [linear, neuron(sizes[k], k == len(sizes) - 1)]
    return torch.nn.Sequential(*layers), (sizes[0],), sizes[-1]


def random_conv_network(rng, reset):
    """Input [C, H, W] -> Conv2d -> Leaky -> (AvgPool2d) -> Flatten -> Linear -> Leaky,
    random channels, image size, kernel, stride, padding and parameters."""
    c, h, w = int(rng.integers(1, 4)), int(rng.integers(4, 11)), int(rng.integers(4, 11))
    k = int(rng.choice([1, 3, 5]))
    stride = int(rng.integers(1, 3))
    padding = int(rng.integers(max(0, -(-(k - min(h, w)) // 2)), 3))  # at least what the kernel needs to fit
    channels = int(rng.integers(1, 5))
    conv = torch.nn.Conv2d(c, channels, k, stride=stride, padding=padding)
    oh, ow = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(rng.normal(0, 1.5 / np.sqrt(c * k * k), conv.weight.shape)))

    def leaky(shape, output=False):
        return snn.Leaky(beta=torch.tensor(rng.uniform(0.5, 0.99, shape), dtype=torch.float32),
                         threshold=torch.tensor(rng.uniform(0.5, 1.5, shape), dtype=torch.float32),
                         reset_mechanism=reset, init_hidden=True, output=output)

    layers = [conv, leaky((channels, oh, ow))]
    if oh >= 2 and ow >= 2 and rng.uniform() < 0.5:
        layers.append(torch.nn.AvgPool2d(2))
        oh, ow = oh // 2, ow // 2
    out = int(rng.integers(2, 10))
    linear = torch.nn.Linear(channels * oh * ow, out)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(rng.normal(0, 3 / np.sqrt(channels * oh * ow), linear.weight.shape)))
    layers += [torch.nn.Flatten(), linear, leaky((out,), True)]
    return torch.nn.Sequential(*layers), (c, h, w), out


def run_snntorch(net, x, margins=None):
    """Spikes of every neuron layer (by its index in the Sequential) and the output layer's
    membrane; `margins`, when given, receives each layer's |membrane − threshold| per step."""
    snn_utils.reset(net)
    spikes, membranes = {}, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            h = x[t:t + 1]
            for k, module in enumerate(net):
                h = module(h)
                if isinstance(h, tuple):  # the output layer: (spikes, [current,] membrane)
                    membranes.append(h[-1][0].numpy())
                    h = h[0]
                if isinstance(module, snn.SpikingNeuron):
                    spikes.setdefault(k, []).append(h[0].numpy().reshape(-1))
                    if margins is not None:
                        margin = (module.mem[0] - module.threshold).abs().numpy().reshape(-1)
                        margins.setdefault(k, []).append(margin)
    return {k: np.array(v) for k, v in spikes.items()}, np.array(membranes)


def run_spikeloop(tmp_path, model, x, populations, output_population, size, reset):
    values = tmp_path / "x.csv"
    with open(values, "w") as f:
        f.write(",".join(f"input:{i}" for i in range(x[0].size)) + "\n")
        for row in x.reshape(x.shape[0], -1):
            f.write(",".join(repr(float(v)) for v in row) + "\n")
    spikes_csv, probes_csv = tmp_path / "spikes.csv", tmp_path / "v.csv"
    probes = [a for j in range(size) for a in ("--probe", f"{output_population}:v:{j}")]
    result = subprocess.run(
        [str(spikeloop_binary()), "simulate", str(model), "--input-values", str(values),
         "--duration", f"{STEPS * DT_MS}ms", "--reset", reset, "--spikes", str(spikes_csv),
         "--probes", str(probes_csv), *probes],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    spikes = {name: np.zeros((STEPS, n)) for name, n in populations.items()}
    for row in csv.DictReader(open(spikes_csv)):
        if row["population"] in spikes:
            spikes[row["population"]][int(round(float(row["time_ms"]) / DT_MS)), int(row["neuron"])] = 1
    membranes = np.loadtxt(probes_csv, delimiter=",", skiprows=1)[:, 1:].reshape(STEPS, size)
    return spikes, membranes


CASES = [(kind, reset) for kind in ("leaky", "synaptic", "rleaky", "rsynaptic") for reset in ("zero", "subtract")]


def our_reset(kind, reset):
    """The reset that reproduces snnTorch: its Leaky resets to zero as NIR says; its
    Synaptic, RLeaky and RSynaptic replace the whole step after a spike (docs/nir.md)."""
    if reset == "subtract":
        return "subtract"
    return "to_v_reset" if kind == "leaky" else "to_v_reset_next_step"


@pytest.mark.parametrize("kind,reset", CASES)
def test_random_snntorch_networks_spike_at_the_same_steps(tmp_path, kind, reset):
    compare_with_snntorch(tmp_path, lambda rng: random_network(rng, kind, reset), kind, reset)


def compare_with_snntorch(tmp_path, make, kind, reset):
    """Four networks from `make(rng)` -> (net, input shape, output size), each run by both."""
    seed = random.randrange(2**32)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    total = same = spikes = 0
    for case in range(4):
        net, shape, out_size = make(rng)
        sizes = [shape, out_size]
        x = rng.uniform(0, 1, (STEPS, *shape)).astype(np.float32)
        margins = {}
        theirs, their_v = run_snntorch(net, torch.tensor(x), margins)
        model = tmp_path / f"net{case}.nir"
        nir.write(model, export_to_nir(net, torch.zeros(1, *shape), ignore_dims=[0]))
        graph = nir.read(model)
        # The layer at index k of the Sequential is node "k" ("k.lif" for the recurrent ones).
        names = {k: next(n for n in graph.nodes if n in (str(k), f"{k}.lif")) for k in theirs}
        output = names[max(theirs)]
        ours, our_v = run_spikeloop(tmp_path, model, x, {names[k]: theirs[k].shape[1] for k in theirs},
                                    output, out_size, our_reset(kind, reset))
        first = STEPS  # the first step at which some layer spikes differently
        for k in sorted(theirs):  # upstream first: a layer feeds only the layers after it
            total += theirs[k].size
            same += int((ours[names[k]] == theirs[k]).sum())
            spikes += int(theirs[k].sum())
            differ = np.argwhere(ours[names[k]] != theirs[k])
            if len(differ):
                t, j = differ[0]
                if first <= t:
                    continue  # an upstream layer differed at this step or before: its input did too
                # float32 sums in another order may decide a crossing within rounding of
                # the threshold differently; anything else is a real difference.
                margin = float(np.array(margins[k])[t, j])
                assert margin <= 1e-4, (f"seed {seed}, network {case} {sizes}: layer {names[k]} neuron {j} first spikes "
                                        f"differently at step {t}, {margin:.2e} from its threshold (not a rounding tie)")
                first = min(first, int(t))
        # snnTorch reports the membrane before its reset; with reset to v_reset ours
        # is after it, so spike steps are compared by their spikes alone. After a
        # spike that a rounding tie decided differently, the trajectories part.
        compared = (ours[output] == 0) if our_reset(kind, reset) == "to_v_reset" else np.ones_like(their_v, dtype=bool)
        compared[first:] = False
        if compared.any():
            scale = np.maximum(1.0, np.abs(their_v))
            worst = (np.abs(our_v - their_v) / scale)[compared].max()
            assert worst <= 1e-4, f"seed {seed}, network {case} {sizes}: membrane differs by {worst:.2e} (relative) before step {first}"
    assert spikes > 0, f"seed {seed}: no layer of snnTorch's networks spiked; nothing is compared"
    assert same / total >= 0.99, f"seed {seed}: {same}/{total} (neuron, step) pairs of all layers agree"


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_random_snntorch_convolutional_networks_spike_at_the_same_steps(tmp_path, reset):
    compare_with_snntorch(tmp_path, lambda rng: random_conv_network(rng, reset), "leaky", reset)


def simulate(model, *extra):
    return subprocess.run([str(spikeloop_binary()), "simulate", str(model), "--duration", "1ms", *extra],
                          capture_output=True, text=True, timeout=60)


def write_graph(path, nodes, edges):
    """A NIR file written from the format alone (h5py, not nir.write)."""
    with h5py.File(path, "w") as f:
        f.create_dataset("version", data="1.0.8", dtype=h5py.string_dtype())
        top = f.create_group("node")
        top.create_dataset("type", data="NIRGraph", dtype=h5py.string_dtype())
        group = top.create_group("nodes")
        for name, fields in nodes.items():
            g = group.create_group(name)
            for key, value in fields.items():
                if isinstance(value, str):
                    g.create_dataset(key, data=value, dtype=h5py.string_dtype())
                else:
                    g.create_dataset(key, data=np.asarray(value))
        if edges:
            top.create_dataset("edges", data=np.array(edges, dtype=object), dtype=h5py.string_dtype())


def lif(n, **override):
    fields = {"type": "LIF", "tau": np.full(n, 0.01), "r": np.ones(n), "v_leak": np.zeros(n),
              "v_threshold": np.ones(n), "v_reset": np.zeros(n)}
    fields.update(override)
    return fields


def good_nodes():
    return {"input": {"type": "Input", "shape": np.array([3])},
            "fc": {"type": "Affine", "weight": np.ones((4, 3), np.float32), "bias": np.zeros(4, np.float32)},
            "lif": lif(4),
            "output": {"type": "Output", "shape": np.array([4])}}


EDGES = [["input", "fc"], ["fc", "lif"], ["lif", "output"]]


def test_a_file_written_from_the_format_runs(tmp_path):
    model = tmp_path / "good.nir"
    write_graph(model, good_nodes(), EDGES)
    result = simulate(model)
    assert result.returncode == 0, result.stderr
    assert "neurons      7" in result.stdout


def test_a_nested_graph_runs_as_its_flat_twin(tmp_path):
    """A NIRGraph node inside the graph (nir's nesting): its Input and Output pass
    values through, so the file runs spike for spike as the same graph written flat.
    (Refused before fuzz-nir: the inner Input was taken for an input fed by an edge.)"""
    rng = np.random.default_rng()
    # The outer layer's weights positive, so that it spikes and the nested one is driven.
    w1, w2 = np.abs(rng.normal(0, 1.5, (5, 3))), rng.normal(0, 1.5, (4, 5))

    def lif_node(n):
        return nir.LIF(tau=np.full(n, 0.005), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.full(n, 0.5))

    inner = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([5])),
                                "fc": nir.Affine(weight=w2, bias=np.zeros(4)), "lif": lif_node(4),
                                "output": nir.Output(output_type=np.array([4]))},
                         edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    outer = {"input": nir.Input(input_type=np.array([3])), "fc": nir.Affine(weight=w1, bias=np.zeros(5)),
             "lif": lif_node(5), "output": nir.Output(output_type=np.array([4]))}
    nested = nir.NIRGraph(nodes={**outer, "sub": inner},
                          edges=[("input", "fc"), ("fc", "lif"), ("lif", "sub"), ("sub", "output")])
    flat = nir.NIRGraph(nodes={**outer, "sub.fc": nir.Affine(weight=w2, bias=np.zeros(4)), "sub.lif": lif_node(4)},
                        edges=[("input", "fc"), ("fc", "lif"), ("lif", "sub.fc"), ("sub.fc", "sub.lif"), ("sub.lif", "output")])
    values = tmp_path / "x.csv"
    values.write_text("input:0,input:1,input:2\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rng.uniform(0, 2, (100, 3))))
    runs = []
    for name, graph in (("nested", nested), ("flat", flat)):
        nir.write(tmp_path / f"{name}.nir", graph)
        spikes, probes = tmp_path / f"{name}.csv", tmp_path / f"{name}-v.csv"
        result = simulate(tmp_path / f"{name}.nir", "--input-values", str(values), "--duration", "10ms", "--spikes", str(spikes),
                          "--probes", str(probes), *[a for j in range(4) for a in ("--probe", f"sub.lif:v:{j}")])
        assert result.returncode == 0, result.stderr
        runs.append((spikes.read_text(), probes.read_text()))
    assert runs[0] == runs[1]
    v = np.loadtxt(tmp_path / "flat-v.csv", delimiter=",", skiprows=1)[:, 1:]
    assert np.abs(v).max() > 0, "the nested layer's membranes never moved; nothing is compared"


@pytest.mark.parametrize("change,expected", [
    (lambda n: n.update(conv={"type": "Conv3d", "weight": np.ones((1, 1, 1, 1, 1))}),
     ["node 'conv' (Conv3d)", "not supported", "supported: Input, Output, Delay, LIF"]),
    (lambda n: n["lif"].pop("v_leak"), ["node 'lif' (LIF), field 'v_leak': missing"]),
    (lambda n: n["lif"].update(tau=np.array([0.01, 0.01, -1, 0.01])), ["node 'lif' (LIF), field 'tau'", "must be positive"]),
    (lambda n: n["fc"].update(weight=np.full((4, 3), np.nan, np.float32)), ["node 'fc' (Affine), field 'weight'", "NaN"]),
    (lambda n: n["fc"].update(weight=np.ones((4, 5), np.float32)), ["node 'fc' (Affine), field 'weight'", "takes 5 inputs but receives 3"]),
    (lambda n: n["fc"].update(bias=np.zeros(7, np.float32)), ["node 'fc' (Affine), field 'bias'", "7 values for 4 outputs"]),
    (lambda n: n["lif"].update(v_threshold=np.ones(3)), ["node 'lif' (LIF), field 'v_threshold'", "3 values"]),
    (lambda n: n["lif"].pop("type"), ["nodes/lif: no 'type'"]),
])
def test_bad_files_are_refused_naming_the_node_and_field(tmp_path, change, expected):
    nodes = good_nodes()
    change(nodes)
    edges = EDGES + ([["lif", "conv"]] if "conv" in nodes else [])
    model = tmp_path / "bad.nir"
    write_graph(model, nodes, edges)
    result = simulate(model)
    assert result.returncode != 0
    assert "nothing was run" in result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


def test_graph_errors(tmp_path):
    model = tmp_path / "bad.nir"
    write_graph(model, good_nodes(), EDGES + [["lif", "ghost"]])
    assert "edge to 'ghost', which is no node of the graph" in simulate(model).stderr
    nodes = good_nodes()
    nodes["island"] = lif(2)
    write_graph(model, nodes, EDGES)
    assert "node 'island' (LIF): is not reached from any Input" in simulate(model).stderr
    nodes = good_nodes()
    nodes["fc2"] = {"type": "Linear", "weight": np.eye(4, dtype=np.float32)}
    write_graph(model, nodes, [["input", "fc"], ["fc", "fc2"], ["fc2", "fc"], ["fc", "lif"], ["lif", "output"]])
    assert "cycle of linear nodes" in simulate(model).stderr


def test_truncated_and_foreign_files_are_refused(tmp_path):
    model = tmp_path / "good.nir"
    write_graph(model, good_nodes(), EDGES)
    data = model.read_bytes()
    for name, content in [("truncated.nir", data[: len(data) // 2]), ("text.nir", b"not hdf5\n"), ("empty.nir", b"")]:
        path = tmp_path / name
        path.write_bytes(content)
        result = simulate(path)
        assert result.returncode != 0 and "nothing was run" in result.stderr, (name, result.stderr)
    other = tmp_path / "other.nir"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    assert "no group 'node': not a NIR file" in simulate(other).stderr


def policy_config(tmp_path):
    """The cart-pole's state feedback (docs/controllers.md) as a NIR graph, Input ->
    Affine -> LI read by a membrane decoder, and a lockstep configuration for it."""
    gains = np.array([[1.0, 2.0, 30.6, 7.8]], np.float32)  # F = K·(x, v, angle, rate), N
    graph = nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([4])),
        nir.Affine(weight=gains, bias=np.zeros(1, np.float32)),
        # tau = dt: each step the membrane is its input (forward Euler with dt/tau = 1).
        nir.LI(tau=np.array([1e-4]), r=np.ones(1), v_leak=np.zeros(1)),
        nir.Output(output_type=np.array([1])))
    model = tmp_path / "policy.nir"
    nir.write(model, graph)
    names = sorted(graph.nodes)
    li = next(n for n in names if isinstance(graph.nodes[n], nir.LI))
    sensors = ["cart.x", "cart.v", "pole.angle", "pole.rate"]
    encoders = "\n".join(
        f"  - {{sensor: {s}, kind: current, population: input, neurons: [{k}, {k + 1}], range: [-10, 10], min_current: -10 nA, max_current: 10 nA}}"
        for k, s in enumerate(sensors))
    config = tmp_path / "nir-cartpole.yaml"
    config.write_text(f"""robot: {ROOT}/Robots/cartpole.yaml
network: {model}
loop: {{mode: lockstep, tick_rate: 1 kHz, watchdog_timeout: 1 s, auto_resume: true}}
endpoints: {{frames: ipc://{tmp_path}/frames, control: ipc://{tmp_path}/control}}
encoders:
{encoders}
decoders:
  - {{motor: cart.force, kind: membrane, population: {li}, v_min: -10 mV, v_max: 10 mV}}
""")
    return model, config


def test_the_daemon_runs_a_nir_controller_records_it_and_replays_it(tmp_path):
    """A NIR graph as the cart-pole controller (`network: policy.nir`). The pole stays
    up, and the recording (which carries the .nir file) replays identical from the
    recording alone."""
    from sessions import record_cartpole
    model, config = policy_config(tmp_path)
    binary = str(spikeloop_binary())
    check = subprocess.run([binary, "check", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    summary = []
    recording = record_cartpole(tmp_path, duration="10s", config=config, sim_output=summary)
    assert "balanced 10 s" in summary[0], summary[0]
    model.unlink()  # replay must take the graph from the recording
    replay = subprocess.run([binary, "replay", str(recording), "--verify"], capture_output=True, text=True, timeout=300)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "identical" in replay.stdout, replay.stdout


@pytest.mark.parametrize("cell", ["lif", "lif_box", "iaf"])
def test_random_norse_networks_match_norse_with_its_conventions(tmp_path, cell):
    """Norse 1.1 networks (LIFCell -> CubaLIF, LIFBoxCell -> LIF, IAFCell -> IF, then
    LIBoxCell -> LI), drawn in the test, exported by Norse and run with
    `--conventions norse` at Norse's dt (1 ms): same hidden spikes, same readout."""
    nt = pytest.importorskip("norse.torch")
    from norse.torch.functional.lif import LIFParameters
    from norse.torch.functional.lif_box import LIFBoxParameters
    seed = random.randrange(2**32)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)

    def t(a):
        return torch.tensor(a, dtype=torch.float32)

    total = same = spikes = 0
    for case in range(3):
        n_in, n_h, n_out = (int(n) for n in rng.integers(2, 30, 3))
        zeros = t(np.zeros(n_h))
        if cell == "lif":
            hidden = nt.LIFCell(LIFParameters(tau_mem_inv=t(1 / rng.uniform(0.005, 0.05, n_h)),
                                              tau_syn_inv=t(1 / rng.uniform(0.002, 0.02, n_h)),
                                              v_th=t(rng.uniform(0.3, 1, n_h)), v_leak=zeros, v_reset=zeros))
        elif cell == "lif_box":
            hidden = nt.LIFBoxCell(LIFBoxParameters(tau_mem_inv=t(1 / rng.uniform(0.005, 0.05, n_h)),
                                                    v_th=t(rng.uniform(0.3, 1, n_h)), v_leak=zeros, v_reset=zeros))
        else:
            hidden = nt.IAFCell()
        net = nt.SequentialState(torch.nn.Linear(n_in, n_h), hidden, torch.nn.Linear(n_h, n_out), nt.LIBoxCell())
        with torch.no_grad():
            net[0].weight.copy_(t(rng.normal(0, (4 if cell != "iaf" else 0.5) / np.sqrt(n_in), (n_h, n_in))))
        x = rng.uniform(0, 1, (STEPS, n_in)).astype(np.float32)
        their_spikes, their_out, state = [], [], [None] * 4
        with torch.no_grad():
            for k in range(STEPS):
                h, new = t(x[k:k + 1]), []
                for module, s in zip(net, state):
                    if isinstance(module, torch.nn.Linear):
                        h = module(h)
                        new.append(None)
                        continue
                    h, s = module(h, s)
                    new.append(s)
                    if module is hidden:
                        their_spikes.append(h[0].numpy())
                state = new
                their_out.append(h[0].numpy())
        their_spikes, their_out = np.array(their_spikes), np.array(their_out)
        model = tmp_path / f"norse{case}.nir"
        # Norse writes its LI parameters as scalars, which nir.write cannot compress.
        nir.write(model, nt.to_nir(net, torch.zeros(1, n_in)), compression=None)
        values = tmp_path / "x.csv"
        with open(values, "w") as f:
            f.write(",".join(f"input:{i}" for i in range(n_in)) + "\n")
            for row in x:
                f.write(",".join(repr(float(v)) for v in row) + "\n")
        spikes_csv, probes_csv = tmp_path / "spikes.csv", tmp_path / "v.csv"
        result = subprocess.run(
            [str(spikeloop_binary()), "simulate", str(model), "--conventions", "norse", "--dt", "1ms",
             "--input-values", str(values), "--duration", f"{STEPS}ms", "--spikes", str(spikes_csv),
             "--probes", str(probes_csv), *[a for j in range(n_out) for a in ("--probe", f"3:v:{j}")]],
            capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        ours = np.zeros_like(their_spikes)
        for row in csv.DictReader(open(spikes_csv)):
            if row["population"] == "1":
                ours[int(round(float(row["time_ms"]))), int(row["neuron"])] = 1
        total += ours.size
        same += int((ours == their_spikes).sum())
        spikes += int(their_spikes.sum())
        our_out = np.loadtxt(probes_csv, delimiter=",", skiprows=1)[:, 1:].reshape(STEPS, n_out)
        worst = (np.abs(our_out - their_out) / np.maximum(1.0, np.abs(their_out))).max()
        assert worst <= 1e-4, f"seed {seed}, network {case}: LI readout differs by {worst:.2e}"
    assert spikes > 0, f"seed {seed}: Norse's hidden layers never spiked; nothing is compared"
    assert same / total >= 0.99, f"seed {seed}: {same}/{total} hidden (neuron, step) pairs agree"


def reference_run(graph, order, x, dt_s):
    """NIR's equations stepped as docs/nir.md writes them, in NumPy and torch's
    functional ops, independently of spikeloop: forward Euler, reset to v_reset,
    no delay between nodes, nodes evaluated in `order`."""
    import torch.nn.functional as F
    state = {name: {} for name in order}
    preds = {}
    for a, b in graph.edges:
        preds.setdefault(b, []).append(a)
    spikes = {name: [] for name in order}
    for t in range(x.shape[0]):
        out = {}
        for name in order:
            node = graph.nodes[name]
            kind = type(node).__name__
            if kind == "Input":
                out[name] = x[t].reshape(node.input_type["input"])
                continue
            i = sum(out[p] for p in preds[name])
            s = state[name]
            if kind == "Output":
                continue
            if kind in ("Affine", "Linear"):
                y = node.weight @ i.reshape(-1) + (node.bias if kind == "Affine" else 0)
            elif kind == "Scale":
                y = node.scale * i
            elif kind == "Flatten":
                y = i.reshape(-1)
            elif kind == "Conv1d":
                y = F.conv1d(torch.tensor(i[None], dtype=torch.float64), torch.tensor(node.weight, dtype=torch.float64),
                             torch.tensor(node.bias, dtype=torch.float64), stride=node.stride, padding=node.padding)[0].numpy()
            elif kind == "Conv2d":
                y = F.conv2d(torch.tensor(i[None], dtype=torch.float64), torch.tensor(node.weight, dtype=torch.float64),
                             torch.tensor(node.bias, dtype=torch.float64), stride=tuple(node.stride), padding=tuple(node.padding))[0].numpy()
            elif kind in ("SumPool2d", "AvgPool2d"):
                k = tuple(int(v) for v in node.kernel_size)
                y = F.avg_pool2d(torch.tensor(i[None], dtype=torch.float64), k, stride=tuple(int(v) for v in node.stride))[0].numpy()
                if kind == "SumPool2d":
                    y = y * k[0] * k[1]
            elif kind == "Delay":
                steps = np.rint(node.delay * 1000 / (dt_s * 1000)).astype(int)
                history = s.setdefault("history", [])
                history.append(i.reshape(-1).copy())
                y = np.array([history[-1 - d][j] if len(history) > d else 0.0 for j, d in enumerate(steps.reshape(-1))])
                y = y.reshape(i.shape)
            elif kind == "Threshold":
                y = (i - node.threshold > 0).astype(float)
                spikes[name].append(y.reshape(-1))
            else:
                v = s.get("v", np.zeros(i.shape))
                if kind in ("CubaLIF", "CubaLI"):
                    cur = s.get("i", np.zeros(i.shape))
                    cur = cur + dt_s / node.tau_syn * (node.w_in * i - cur)
                    s["i"] = cur
                    i = cur
                if kind in ("LIF", "LI", "CubaLIF", "CubaLI"):
                    tau = node.tau if kind in ("LIF", "LI") else node.tau_mem
                    v = v + dt_s / tau * (node.v_leak - v + node.r * i)
                else:  # IF, I
                    v = v + dt_s * node.r * i
                if kind in ("LIF", "CubaLIF", "IF"):
                    z = (v - node.v_threshold > 0).astype(float)
                    v = np.where(z > 0, node.v_reset, v)
                    spikes[name].append(z.reshape(-1))
                    y = z
                else:
                    y = v
                s["v"] = v
            out[name] = y
    return {k: np.array(v) for k, v in spikes.items() if v}, out


def random_graph(rng):
    """A chain Input -> (linear node -> stateful node)* -> Output over every node type NIR
    1.0.8 defines for step-based simulation, with shapes that fit, drawn from `rng`."""
    def per(shape, lo, hi):
        return rng.uniform(lo, hi, shape)

    channels, length = int(rng.integers(1, 4)), int(rng.integers(3, 7))
    shape = (channels, length, int(rng.integers(3, 7))) if rng.uniform() < 0.6 else (channels, length)
    nodes = [nir.Input(input_type=np.array(shape))]
    stateful = ["LIF", "CubaLIF", "IF", "LI", "CubaLI", "I", "Threshold", "Delay"]
    for block in range(int(rng.integers(2, 5))):
        # A linear node that fits the current shape.
        options = ["Affine", "Linear", "Scale"] + (["Conv2d", "SumPool2d", "AvgPool2d", "Flatten"] if len(shape) == 3 else [])
        options += ["Conv1d"] if len(shape) == 2 else []
        kind = str(rng.choice(options))
        n = int(np.prod(shape))
        if kind in ("Affine", "Linear"):
            out = int(rng.integers(2, 20))
            w = rng.normal(0, 2 / np.sqrt(n), (out, n))
            nodes.append(nir.Affine(weight=w, bias=rng.normal(0, 0.2, out)) if kind == "Affine" else nir.Linear(weight=w))
            if len(shape) > 1:
                nodes.insert(-1, nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1))
            shape = (out,)
        elif kind == "Scale":
            nodes.append(nir.Scale(scale=per(shape, -2, 2)))
        elif kind == "Flatten":
            nodes.append(nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1))
            shape = (n,)
        elif kind == "Conv2d":
            c_out, padding = int(rng.integers(1, 4)), int(rng.integers(0, 2))
            k = int(rng.choice([1, 3])) if min(shape[1:]) + 2 * padding >= 3 else 1
            node = nir.Conv2d(input_shape=shape[1:], weight=rng.normal(0, 1, (c_out, shape[0], k, k)), stride=int(rng.integers(1, 3)),
                              padding=padding, dilation=1, groups=1, bias=rng.normal(0, 0.2, c_out))
            nodes.append(node)
            shape = tuple(int(d) for d in node.output_type["output"])
        elif kind in ("SumPool2d", "AvgPool2d"):
            if min(shape[1:]) < 2:
                nodes.append(nir.Scale(scale=per(shape, -2, 2)))
            else:
                cls = nir.SumPool2d if kind == "SumPool2d" else nir.AvgPool2d
                nodes.append(cls(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])))
                shape = (shape[0], shape[1] // 2, shape[2] // 2)
        else:  # Conv1d on [C, L]
            c_out = int(rng.integers(1, 4))
            node = nir.Conv1d(input_shape=shape[1], weight=rng.normal(0, 1, (c_out, shape[0], 3)), stride=1, padding=1,
                              dilation=1, groups=1, bias=rng.normal(0, 0.2, c_out))
            nodes.append(node)
            shape = (c_out, shape[1])
        # A stateful node of that shape.
        kind = str(rng.choice(stateful))
        tau = per(shape, 2e-4, 2e-3)
        common = dict(r=per(shape, 0.5, 2))
        if kind == "LIF":
            nodes.append(nir.LIF(tau=tau, v_leak=per(shape, -0.2, 0.2), v_threshold=per(shape, 0.5, 1.5), v_reset=per(shape, -0.2, 0.2), **common))
        elif kind == "CubaLIF":
            nodes.append(nir.CubaLIF(tau_mem=tau, tau_syn=per(shape, 2e-4, 1e-3), v_leak=per(shape, -0.2, 0.2), v_threshold=per(shape, 0.5, 1.5),
                                     v_reset=per(shape, -0.2, 0.2), w_in=per(shape, 0.5, 2), **common))
        elif kind == "IF":
            nodes.append(nir.IF(v_threshold=per(shape, 0.5, 1.5), v_reset=per(shape, -0.2, 0.2), r=per(shape, 500, 2000)))
        elif kind == "LI":
            nodes.append(nir.LI(tau=tau, v_leak=per(shape, -0.2, 0.2), **common))
        elif kind == "CubaLI":
            nodes.append(nir.CubaLI(tau_mem=tau, tau_syn=per(shape, 2e-4, 1e-3), v_leak=per(shape, -0.2, 0.2), w_in=per(shape, 0.5, 2), **common))
        elif kind == "I":
            nodes.append(nir.I(r=per(shape, 500, 2000)))
        elif kind == "Threshold":
            nodes.append(nir.Threshold(threshold=per(shape, -0.5, 0.5)))
        else:
            nodes.append(nir.Delay(delay=rng.integers(0, 4, shape) * 1e-4))
    nodes.append(nir.Output(output_type=np.array(shape)))
    names = ["input"] + [f"n{k}" for k in range(1, len(nodes) - 1)] + ["output"]
    graph = nir.NIRGraph(nodes=dict(zip(names, nodes)), edges=list(zip(names[:-1], names[1:])))
    return graph, names


def test_random_graphs_of_every_node_type_follow_the_documented_discretisation(tmp_path):
    """Node types no exporter here writes (Linear, Scale, Threshold, IF with NIR's
    units, LI, CubaLI, I, Delay, Conv1d, SumPool2d) in random chains, against NIR's
    equations stepped independently in NumPy/torch (docs/nir.md)."""
    seed = random.randrange(2**32)
    rng = np.random.default_rng(seed)
    steps, dt_s = 60, 1e-4
    seen = set()
    total = same = 0
    for case in range(12):
        graph, names = random_graph(rng)
        seen |= {type(n).__name__ for n in graph.nodes.values()}
        shape = tuple(int(d) for d in graph.nodes["input"].input_type["input"])
        x = rng.uniform(-1, 2, (steps, *shape))
        theirs, _ = reference_run(graph, names, x, dt_s)
        model = tmp_path / f"graph{case}.nir"
        nir.write(model, graph)
        values = tmp_path / "x.csv"
        with open(values, "w") as f:
            f.write(",".join(f"input:{i}" for i in range(int(np.prod(shape)))) + "\n")
            for row in x.reshape(steps, -1):
                f.write(",".join(repr(float(v)) for v in row) + "\n")
        spikes_csv = tmp_path / "spikes.csv"
        result = subprocess.run([str(spikeloop_binary()), "simulate", str(model), "--input-values", str(values),
                                 "--duration", f"{steps * dt_s * 1000}ms", "--spikes", str(spikes_csv)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"seed {seed}, graph {case} {names}: {result.stderr}"
        ours = {name: np.zeros_like(s) for name, s in theirs.items()}
        for row in csv.DictReader(open(spikes_csv)):
            if row["population"] in ours:
                ours[row["population"]][int(round(float(row["time_ms"]) / (dt_s * 1000))), int(row["neuron"])] = 1
        for name in theirs:
            total += theirs[name].size
            same += int((ours[name] == theirs[name]).sum())
    assert total > 0, f"seed {seed}: no spiking node was drawn"
    assert same / total >= 0.99, f"seed {seed}: {same}/{total} (neuron, step) pairs agree"
    print(f"seed {seed}: node types {sorted(seen)}; {same}/{total} agree")


def test_a_digits_classifier_trained_in_snntorch_scores_the_same_in_spikeloop(tmp_path):
    """Tools/train/digits.py: surrogate-gradient training on scikit-learn's digits, from a
    seed drawn here; spikeloop's test accuracy equals snnTorch's within 0.5 points."""
    pytest.importorskip("sklearn")
    seed = random.randrange(1000)
    result = subprocess.run([sys.executable, str(ROOT / "Tools" / "train" / "digits.py"), "--epochs", "10",
                             "--seed", str(seed), "--out", str(tmp_path / "digits.nir"),
                             "--spikeloop", str(spikeloop_binary())],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    import re
    theirs = float(re.search(r"^snnTorch accuracy\s+([0-9.]+) %", result.stdout, re.M).group(1))
    ours = float(re.search(r"^spikeloop accuracy\s+([0-9.]+) %", result.stdout, re.M).group(1))
    assert abs(ours - theirs) <= 0.5, f"seed {seed}: spikeloop {ours} %, snnTorch {theirs} %\n{result.stdout}"
    assert theirs >= 90, f"seed {seed}: the classifier did not learn ({theirs} %)\n{result.stdout}"


def test_nir_inputs_can_take_spikes_from_spike_encoders(tmp_path):
    """`nir: {inputs: spikes}`: the graph's Input becomes an `input` population that
    spike encoders (here rate coding) drive; each spike enters the next layer as a 1."""
    model = tmp_path / "policy.nir"
    write_graph(model, good_nodes(), EDGES)
    sensors = ["cart.x", "cart.v", "pole.angle", "pole.rate"]
    encoders = "\n".join(f"  - {{sensor: {s}, kind: rate, population: input, neurons: [{min(k, 2)}, {min(k, 2) + 1}], "
                         f"range: [-1, 1], max_rate: 500 Hz}}" if k < 3 else f"  - {{sensor: {s}, kind: ignore}}"
                         for k, s in enumerate(sensors))
    config = tmp_path / "spikes.yaml"
    config.write_text(f"""robot: {ROOT}/Robots/cartpole.yaml
network: {model}
nir: {{inputs: spikes}}
loop: {{mode: lockstep, tick_rate: 1 kHz, watchdog_timeout: 1 s}}
endpoints: {{frames: ipc://{tmp_path}/frames, control: ipc://{tmp_path}/control}}
encoders:
{encoders}
decoders:
  - {{motor: cart.force, kind: filtered_rate, population: lif, tau: 10 ms, max_rate: 1000 Hz}}
""")
    check = subprocess.run([str(spikeloop_binary()), "check", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "input (3, input)" in check.stdout, check.stdout
    config.write_text(config.read_text().replace("nir: {inputs: spikes}", "nir: {inputs: values}"))
    check = subprocess.run([str(spikeloop_binary()), "check", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert check.returncode != 0 and "a rate encoder drives 'input' or 'poisson' populations" in check.stdout + check.stderr, check.stdout + check.stderr


def test_import_writes_a_network_file_that_runs_spike_for_spike(tmp_path):
    """`spikeloop import`: random graphs (dense and convolutional, recurrent, every
    node type) written as a network file with .npy weights run exactly as the .nir
    file does; numpy reads the weights; a bad graph writes nothing."""
    seed = random.randrange(2**32)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    binary = str(spikeloop_binary())
    cases = [random_network(rng, "rleaky", "subtract")[0:2], random_conv_network(rng, "subtract")[0:2],
             random_network(rng, "synaptic", "subtract")[0:2]]
    for case, (net, shape) in enumerate(cases):
        model = tmp_path / f"net{case}.nir"
        nir.write(model, export_to_nir(net, torch.zeros(1, *shape), ignore_dims=[0]))
        out = tmp_path / f"imported{case}" / "net.yaml"
        result = subprocess.run([binary, "import", str(model), "--out", str(out), "--reset", "subtract"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        for npy in out.parent.glob("*.npy"):
            assert np.load(npy).dtype == np.float32
        x = rng.uniform(0, 1, (50, int(np.prod(shape))))
        values = tmp_path / "x.csv"
        with open(values, "w") as f:
            f.write(",".join(f"input:{i}" for i in range(x.shape[1])) + "\n")
            for row in x:
                f.write(",".join(repr(float(v)) for v in row) + "\n")
        # Every neuron's membrane is compared, not only the spikes: a drawn network may
        # stay below threshold for these 5 ms, and its membranes are still compared.
        nodes = nir.read(model).nodes
        layers = {next(n for n in nodes if n in (str(k), f"{k}.lif")): module.threshold.numel()
                  for k, module in enumerate(net) if isinstance(module, snn.SpikingNeuron)}
        probes = [a for name, size in layers.items() for j in range(size) for a in ("--probe", f"{name}:v:{j}")]
        spikes, membranes = [], []
        for source, extra in ((model, ["--reset", "subtract"]), (out, [])):
            csv_path, probes_path = tmp_path / f"spikes{len(spikes)}.csv", tmp_path / f"v{len(spikes)}.csv"
            run = subprocess.run([binary, "simulate", str(source), *extra, "--input-values", str(values),
                                  "--duration", "5ms", "--spikes", str(csv_path), "--probes", str(probes_path), *probes],
                                 capture_output=True, text=True, timeout=60)
            assert run.returncode == 0, run.stderr
            spikes.append(csv_path.read_text())
            membranes.append(probes_path.read_text())
        assert spikes[0] == spikes[1], f"seed {seed}, case {case}: the imported network spikes differently"
        assert membranes[0] == membranes[1], f"seed {seed}, case {case}: the imported network's membranes differ"
        v = np.loadtxt(probes_path, delimiter=",", skiprows=1)[:, 1:]
        assert v.shape == (50, sum(layers.values())), f"seed {seed}, case {case}: probes {v.shape}"
        assert np.abs(v).max() > 0, f"seed {seed}, case {case}: no membrane moved; nothing is compared"
    graph, _ = random_graph(rng)
    every = tmp_path / "every.nir"
    nir.write(every, graph)
    out = tmp_path / "every" / "net.yaml"
    assert subprocess.run([binary, "import", str(every), "--out", str(out)], capture_output=True, timeout=60).returncode == 0
    shape = tuple(int(d) for d in graph.nodes["input"].input_type["input"])
    values = tmp_path / "every.csv"
    with open(values, "w") as f:
        f.write(",".join(f"input:{i}" for i in range(int(np.prod(shape)))) + "\n")
        for row in rng.uniform(-1, 2, (40, int(np.prod(shape)))):
            f.write(",".join(repr(float(v)) for v in row) + "\n")
    texts = []
    for source in (every, out):
        path = tmp_path / f"every{len(texts)}.csv"
        run = subprocess.run([binary, "simulate", str(source), "--input-values", str(values), "--duration", "4ms",
                              "--spikes", str(path)], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        texts.append(path.read_text())
    assert texts[0] == texts[1], f"seed {seed}: {sorted(graph.nodes)}"
    # A bad graph: an error, and no file.
    bad = tmp_path / "bad.nir"
    nodes = good_nodes()
    nodes["fc"]["weight"] = np.full((4, 3), np.nan, np.float32)
    write_graph(bad, nodes, EDGES)
    result = subprocess.run([binary, "import", str(bad), "--out", str(tmp_path / "bad" / "net.yaml")], capture_output=True, text=True)
    assert result.returncode != 0 and "nothing was written" in result.stderr, result.stderr
    assert not (tmp_path / "bad").exists()


def test_import_export_import_gives_the_same_network(tmp_path):
    """`spikeloop export` writes what nir.read loads, and importing it again gives the
    same network file and weights as the first import (random snnTorch networks with
    each reset, chains of every node type, and hand-built networks exported first)."""
    seed = random.randrange(2**32)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    binary = str(spikeloop_binary())
    models = []
    for case, (kind, reset) in enumerate([("rleaky", "subtract"), ("synaptic", "zero"), ("leaky", "zero")]):
        net, shape, _ = random_network(rng, kind, reset)
        path = tmp_path / f"snn{case}.nir"
        nir.write(path, export_to_nir(net, torch.zeros(1, *shape), ignore_dims=[0]))
        models.append((path, ["--reset", our_reset(kind, reset)]))
    for case in range(3):
        graph, _ = random_graph(rng)
        path = tmp_path / f"graph{case}.nir"
        nir.write(path, graph)
        models.append((path, []))
    # Hand-built networks, exported first (a random one and the cart-pole controller).
    from test_nir_export import random_network as random_hand_built
    hand_built = tmp_path / "hand.yaml"
    hand_built.write_text(random_hand_built(rng)[0])
    for k, source in enumerate([hand_built, ROOT / "Config" / "networks" / "cartpole.yaml"]):
        path = tmp_path / f"hand{k}.nir"
        run = subprocess.run([binary, "export", str(source), "--out", str(path)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        models.append((path, []))

    import yaml

    def close(a, b):
        """Equal, numbers within 1e-12 (ms -> s -> ms may round in the last bit)."""
        if isinstance(a, dict):
            return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return isinstance(b, list) and len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
        if isinstance(a, str) and a.endswith(" ms") and isinstance(b, str) and b.endswith(" ms"):
            a, b = float(a[:-3]), float(b[:-3])
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return abs(a - b) <= 1e-12 * max(abs(a), abs(b), 1e-300)
        return a == b

    def body(folder):
        network = yaml.safe_load((folder / "net.yaml").read_text())
        network.pop("name")
        return network, {p.name: p.read_bytes() for p in folder.glob("*.npy")}

    for k, (path, options) in enumerate(models):
        first, second = tmp_path / f"first{k}", tmp_path / f"second{k}"
        run = subprocess.run([binary, "import", str(path), "--out", str(first / "net.yaml"), *options], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        exported = tmp_path / f"exported{k}.nir"
        run = subprocess.run([binary, "export", str(first / "net.yaml"), "--out", str(exported)], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        nir.read(exported)  # NIR's own reader takes it
        run = subprocess.run([binary, "import", str(exported), "--out", str(second / "net.yaml")], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        (a, weights_a), (b, weights_b) = body(first), body(second)
        assert close(a, b) and weights_a == weights_b, f"seed {seed}, model {k} ({path.name}): the network changed on the way"


def test_corrupted_files_are_refused_never_crash(tmp_path):
    """Bytes of a valid file changed at random (drawn here): each run of `simulate`
    either runs or refuses the file with an error; libhdf5, which crashes on some
    malformed files, reads them in a separate process first (`nir-probe`)."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    model = tmp_path / "good.nir"
    write_graph(model, good_nodes(), EDGES)
    data = model.read_bytes()
    outcomes = {}
    for k in range(60):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        path = tmp_path / f"mutated{k}.nir"
        path.write_bytes(mutated)
        result = simulate(path)
        assert result.returncode in (0, 1), f"seed {seed}, mutation {k}: exit {result.returncode}\n{result.stderr[-2000:]}"
        if result.returncode == 1:
            assert "nothing was run" in result.stderr, result.stderr
        outcomes[result.returncode] = outcomes.get(result.returncode, 0) + 1
    print(f"seed {seed}: {outcomes}")


FIXTURES = ROOT / "Tests" / "python" / "fixtures" / "nir"


def test_a_file_that_crashes_libhdf5_is_refused_by_a_running_daemon(tmp_path):
    """libhdf5-abort.nir (a random mutation of a policy file that makes libhdf5
    abort) given to a running daemon by reload: refused with the reason, and the
    daemon goes on controlling; so is libhdf5-heap.nir (a mutation found by
    test_corrupted_files_are_refused_never_crash, seed 3383271068) on which libhdf5
    corrupts memory without crashing, then crashed the process when it read the file
    itself after the probe; libhdf5-hang.nir (one it loops on) is refused after the
    probe's 10 s."""
    from spikeloop_client import LockstepClient, Operator
    from spikeloop_client.client import SpikeloopError
    from spikeloop_client.robot import load_robot
    model, config = policy_config(tmp_path)
    binary = str(spikeloop_binary())
    daemon = subprocess.Popen([binary, "run", "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        operator = Operator(f"ipc://{tmp_path}/control", timeout_ms=20000)
        deadline = time.monotonic() + 30
        while True:
            try:
                operator.status()
                break
            except SpikeloopError:
                assert time.monotonic() < deadline and daemon.poll() is None, "the daemon did not start"
                time.sleep(0.05)
        robot = load_robot(str(ROOT / "Robots" / "cartpole.yaml"))
        with LockstepClient(f"ipc://{tmp_path}/frames", robot.layout, timeout_ms=5000) as sim:
            for tick in range(1, 101):
                assert sim.step([0.0, 0.0, 0.01, 0.0]).sensor_sequence == tick
            model.write_bytes((FIXTURES / "libhdf5-abort.nir").read_bytes())
            with pytest.raises(SpikeloopError, match="libhdf5 crashed reading it"):
                operator.reload()
            for tick in range(101, 201):
                assert sim.step([0.0, 0.0, 0.01, 0.0]).sensor_sequence == tick
            model.write_bytes((FIXTURES / "libhdf5-heap.nir").read_bytes())
            with pytest.raises(SpikeloopError, match="edge to 'in', which is no node of the graph"):
                operator.reload()
            for tick in range(201, 301):
                assert sim.step([0.0, 0.0, 0.01, 0.0]).sensor_sequence == tick
        assert daemon.poll() is None
        operator.close()
    finally:
        daemon.terminate()
        daemon.communicate(timeout=30)
    result = simulate(FIXTURES / "libhdf5-heap.nir")
    assert result.returncode == 1 and "which is no node of the graph" in result.stderr, result.stderr[-2000:]
    result = simulate(FIXTURES / "libhdf5-hang.nir")
    assert result.returncode == 1 and "did not finish reading it within 10 s" in result.stderr, result.stderr


@pytest.mark.parametrize("change,expected", [
    # A 3x3 convolution with 64 output channels over a 1 x 1000 x 1000 image: 5.8e8 weights.
    ("conv", "more than 67108864 weights; too large to run"),
    # Input dimensions whose product overflows 64 bits.
    ("huge_input", "is too large to run"),
    # A delay of a day at 0.1 ms steps over 4 elements: 3.5e9 stored values.
    ("long_delay", "too large to run"),
])
def test_graphs_too_large_to_run_are_refused_before_they_are_built(tmp_path, change, expected):
    """A small file can describe a network no machine holds; it is refused with the
    node and the reason before anything is allocated (the daemon must not die of it)."""
    if change == "conv":
        nodes = {"input": {"type": "Input", "shape": np.array([1, 1000, 1000])},
                 "conv": {"type": "Conv2d", "weight": np.ones((64, 1, 3, 3), np.float32), "bias": np.zeros(64, np.float32),
                          "stride": np.array([1, 1]), "padding": np.array([1, 1]), "dilation": np.array([1, 1]), "groups": np.array(1)},
                 "lif": lif(1), "output": {"type": "Output", "shape": np.array([1])}}
        edges = [["input", "conv"], ["conv", "lif"], ["lif", "output"]]
    elif change == "huge_input":
        nodes = good_nodes()
        nodes["input"]["shape"] = np.array([900_000_000, 900_000_000, 900_000_000])  # the product overflows 64 bits
        edges = EDGES
    else:
        nodes = good_nodes()
        nodes["delay"] = {"type": "Delay", "delay": np.full(4, 86400.0)}
        edges = [["input", "fc"], ["fc", "delay"], ["delay", "lif"], ["lif", "output"]]
        nodes["lif"] = lif(4)
    model = tmp_path / "big.nir"
    write_graph(model, nodes, edges)
    result = simulate(model)
    assert result.returncode == 1, result.stderr[-2000:]
    assert expected in result.stderr, result.stderr


def conv_nodes(**override):
    conv = {"type": "Conv2d", "weight": np.ones((2, 1, 3, 3), np.float32), "bias": np.zeros(2, np.float32),
            "stride": np.array([1, 1]), "padding": np.array([1, 1]), "dilation": np.array([1, 1]), "groups": np.array(1)}
    conv.update(override)
    return {"input": {"type": "Input", "shape": np.array([1, 4, 4])}, "conv": conv, "lif": lif(32),
            "output": {"type": "Output", "shape": np.array([32])}}


@pytest.mark.parametrize("override,expected", [
    # Found by fuzz-nir: each of these stopped the process converting a float to Int.
    ({"stride": np.array([1e30, 1e30])}, "field 'stride': element 0 of shape [2] is 1e+30; must be a whole number from 0 to 4194304"),
    ({"padding": np.array([2**62, 2**62], np.int64)}, "field 'padding': element 0 of shape [2] is 4.611686018427388e+18"),
    ({"dilation": np.array([2**63 - 1, 1], np.int64)}, "field 'dilation': element 0"),
    ({"groups": np.array(1e300)}, "field 'groups': element 0 of shape [] is 1e+300; must be a whole number from 1 to 4194304"),
    ({"stride": np.array([1.5, 1])}, "field 'stride': element 0 of shape [2] is 1.5; must be a whole number"),
    ({"weight": np.ones((2, 0, 3, 3), np.float32)}, "field 'weight': shape [2, 0, 3, 3]; every size must be at least 1"),
])
def test_integer_fields_out_of_range_are_refused_naming_the_field(tmp_path, override, expected):
    model = tmp_path / "bad.nir"
    write_graph(model, conv_nodes(**override), [["input", "conv"], ["conv", "lif"], ["lif", "output"]])
    result = simulate(model)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "node 'conv' (Conv2d)" in result.stderr and expected in result.stderr, result.stderr
    write_graph(model, conv_nodes(), [["input", "conv"], ["conv", "lif"], ["lif", "output"]])
    assert simulate(model).returncode == 0


def test_a_bad_graph_is_reported_in_the_same_pass_as_a_missing_loop(tmp_path):
    """The graph is imported at the loop's dt; without a loop section its problems are
    still reported beside the missing loop, not only once the loop is fixed."""
    nodes = good_nodes()
    nodes["lif"]["tau"] = -np.ones(4, np.float32)
    model = tmp_path / "bad.nir"
    write_graph(model, nodes, EDGES)
    config = tmp_path / "bad.yaml"
    config.write_text(f"""robot: {ROOT}/Robots/cartpole.yaml
network: {model}
endpoints: {{frames: ipc://{tmp_path}/frames, control: ipc://{tmp_path}/control}}
encoders: []
decoders: []
""")
    check = subprocess.run([str(spikeloop_binary()), "check", "--config", str(config)], capture_output=True, text=True, timeout=60)
    out = check.stdout + check.stderr
    assert check.returncode != 0 and "loop: missing" in out and "time constants must be positive" in out, out
