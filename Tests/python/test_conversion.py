"""ANN -> SNN conversion (`spikeloop convert`, docs/conversion.md): networks trained
here in PyTorch and scikit-learn, exported to ONNX by their own exporters, classify
as their ANNs do after 100 steps; bad models are refused by name and
nothing is written."""

import random
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, spikeloop_binary

onnx = pytest.importorskip("onnx")
pytest.importorskip("skl2onnx")
pytest.importorskip("torch")
from onnx import TensorProto, helper  # noqa: E402


def test_converted_digits_classifiers_score_like_their_anns():
    """A PyTorch MLP, a PyTorch CNN and a scikit-learn MLP, each trained from a seed
    drawn here: at 100 steps the converted SNN classifies at least 98 % of the 360 test
    images (all but 7) as its ANN does, the measure of the conversion itself.

    Not "accuracy within 1 point of the ANN": that is 3.6 images, and the CNN's SNN
    differs from its ANN on 0 or 1 image per seed (seeds 11-16: 99.72-100 %; at 40
    epochs 99.67 % over seeds 1-5, docs/conversion.md), each either way, so 4 net
    losses fail it now and then without any defect. A broken conversion disagrees on
    tens to hundreds of images."""
    seed = random.randrange(1000)
    result = subprocess.run([sys.executable, str(ROOT / "Tools" / "train" / "convert_digits.py"), "--seed", str(seed),
                             "--steps", "20,100", "--epochs", "25", "--spikeloop", str(spikeloop_binary())],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.findall(r"^(\w+): ANN ([0-9.]+) %, SNN [0-9.]+ % at 100 steps .*, as its ANN on ([0-9.]+) %$", result.stdout, re.M)
    figures = {m: (float(ann), float(agree)) for m, ann, agree in found}
    assert set(figures) == {"mlp", "cnn", "sklearn"}, result.stdout
    for model, (ann, agree) in figures.items():
        assert ann >= 85, f"seed {seed}: the {model} ANN did not learn ({ann} %)\n{result.stdout}"
        assert agree >= 98, f"seed {seed}: the {model} SNN classifies {agree} % of the images as its ANN does\n{result.stdout}"


def graph_model(nodes, initializers, shape=(None, 4), outputs=("y", 3)):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info(outputs[0], TensorProto.FLOAT, [None, outputs[1]])
    return helper.make_model(helper.make_graph(nodes, "g", [x], [y], initializers))


def weight(name, array):
    return helper.make_tensor(name, TensorProto.FLOAT, array.shape, array.astype(np.float32).ravel().tolist())


GEMM = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["y"])]


def inits(w=None):
    return [weight("w", np.ones((3, 4)) if w is None else w), weight("b", np.zeros(3))]


@pytest.mark.parametrize("model,expected", [
    (graph_model([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1), helper.make_node("Sigmoid", ["h"], ["y"])], inits()),
     "operator Sigmoid (node 'y'): is not supported; supported: Gemm"),
    (graph_model(GEMM, inits(), shape=("N", "F")), "dynamic shape"),
    (graph_model(GEMM, inits(np.full((3, 4), np.nan))), "initializer 'w': element 0 is nan"),
    (graph_model(GEMM, inits(np.ones((3, 5)))), "operator Gemm (node 'h'): weight [3, 5] takes 5 inputs; it receives 4"),
    (graph_model([helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["r"]),
                  helper.make_node("Add", ["r", "r"], ["y"])], inits()), "only biases are converted"),
    # Found by reading after fuzz-nir: an int64 shape of 2^63 - 1 stopped the process converting it to Int.
    (graph_model([helper.make_node("Reshape", ["x", "s"], ["f"]), helper.make_node("Gemm", ["f", "w", "b"], ["h"], transB=1),
                  helper.make_node("Relu", ["h"], ["y"])],
                 [helper.make_tensor("s", TensorProto.INT64, [2], [1, 2**63 - 1]), *inits()], outputs=("y", 3)),
     "operator Reshape (node 'f'): reshapes to [1, 9.223372036854776e+18]; only flattening ([batch, -1]) is converted"),
    (graph_model([helper.make_node("Conv", ["x", "c"], ["h"], strides=[2**63 - 1, 2**63 - 1]), helper.make_node("Relu", ["h"], ["y"])],
                 [weight("c", np.ones((2, 1, 3, 3)))], shape=(None, 1, 4, 4), outputs=("y", 2)),
     "field 'stride': element 0 of shape [2] is 9.223372036854776e+18; must be a whole number from 0 to 4194304"),
])
def test_bad_models_are_refused_by_name_and_nothing_is_written(tmp_path, model, expected):
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    np.save(tmp_path / "calibration.npy", np.ones((5, 4), np.float32))
    out = tmp_path / "out" / "net.yaml"
    result = subprocess.run([str(spikeloop_binary()), "convert", str(path), "--calibration", str(tmp_path / "calibration.npy"),
                             "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "nothing was written" in result.stderr, result.stderr
    assert expected in result.stderr, result.stderr
    assert not out.parent.exists()


def test_truncated_and_foreign_files_are_refused(tmp_path):
    good = graph_model(GEMM, inits()).SerializeToString()
    np.save(tmp_path / "calibration.npy", np.ones((5, 4), np.float32))
    for name, content in [("truncated.onnx", good[: len(good) // 2]), ("text.onnx", b"hello\n"), ("empty.onnx", b"")]:
        path = tmp_path / name
        path.write_bytes(content)
        result = subprocess.run([str(spikeloop_binary()), "convert", str(path), "--calibration", str(tmp_path / "calibration.npy"),
                                 "--out", str(tmp_path / "net.yaml")], capture_output=True, text=True, timeout=60)
        assert result.returncode != 0, (name, result.stdout)
        assert not (tmp_path / "net.yaml").exists()
    path = tmp_path / "good.onnx"
    path.write_bytes(good)
    np.save(tmp_path / "wrong.npy", np.ones((5, 7), np.float32))
    result = subprocess.run([str(spikeloop_binary()), "convert", str(path), "--calibration", str(tmp_path / "wrong.npy"),
                             "--out", str(tmp_path / "net.yaml")], capture_output=True, text=True, timeout=60)
    assert "calibration sample 0 has 7 values; the model's input has 4" in result.stderr, result.stderr


def identity_model(tmp_path, n):
    """x → Gemm(I, 0) → Relu: with calibration samples of ones (λ = 1), the converted IF
    neuron j integrates exactly x_j per step."""
    path = tmp_path / "identity.onnx"
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["y"])]
    path.write_bytes(graph_model(nodes, [weight("w", np.eye(n)), weight("b", np.zeros(n))], shape=(None, n),
                                 outputs=("y", n)).SerializeToString())
    np.save(tmp_path / "calibration.npy", np.ones((5, n), np.float32))
    return path


def convert(tmp_path, model, out, *options):
    result = subprocess.run([str(spikeloop_binary()), "convert", str(model), "--calibration", str(tmp_path / "calibration.npy"),
                             "--out", str(out), *options], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return re.search(r"output population (\S+)", result.stdout).group(1)


def spike_counts(tmp_path, network, values, steps, *options):
    """Spikes per (population, neuron) after `steps` steps of 0.1 ms with the input held at `values`."""
    (tmp_path / "x.csv").write_text(",".join(f"input:{j}" for j in range(len(values))) + "\n"
                                    + ",".join(repr(float(v)) for v in values) + "\n")
    result = subprocess.run([str(spikeloop_binary()), "simulate", str(network), "--input-values", str(tmp_path / "x.csv"),
                             "--duration", f"{steps / 10}ms", "--spikes", str(tmp_path / "spikes.csv"), *options],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    counts = {}
    for line in (tmp_path / "spikes.csv").read_text().splitlines()[1:]:
        _, population, neuron = line.split(",")
        counts[population, int(neuron)] = counts.get((population, int(neuron)), 0) + 1
    return counts


@pytest.mark.parametrize("initial", [0.5, 0.0])
def test_an_if_neuron_started_at_half_its_threshold_rounds_its_count(tmp_path, initial):
    """After t steps of input a (threshold 1, reset by subtraction) an IF neuron started at
    v0 has fired ⌈v0 + t·a⌉ − 1 times: t·a rounded from v0 = ½ (convert's default),
    truncated from 0. Inputs and t drawn here; a float32 tie (v0 + t·a within 1e-4 of
    an integer) is not judged."""
    rng = np.random.default_rng(random.randrange(1 << 30))
    n = 16
    a = rng.uniform(0.02, 0.98, n)
    steps = int(rng.integers(5, 200))
    model = identity_model(tmp_path, n)
    output = convert(tmp_path, model, tmp_path / "net.yaml", "--initial-membrane", str(initial))
    text = (tmp_path / "net.yaml").read_text()
    assert ("v_initial: 0.5" in text) == (initial == 0.5), text
    counts = spike_counts(tmp_path, tmp_path / "net.yaml", a, steps)
    for j in range(n):
        exact = initial + steps * np.float32(a[j])
        if abs(exact - round(exact)) < 1e-4:
            continue
        assert counts.get((output, j), 0) == int(np.ceil(exact)) - 1, (j, a[j], steps, counts.get((output, j)))


def test_rate_coded_input_drives_the_first_layer_at_the_analog_rate(tmp_path):
    """convert --input-rate: the input is a poisson population driven at value × rate, the
    first layer's weights are divided by rate · dt, so the IF layer fires at the value's
    rate on average: within 6 standard deviations of the binomial input count, over
    20,000 steps from a seed drawn here."""
    rng = np.random.default_rng(random.randrange(1 << 30))
    n, steps, rate = 8, 20000, 5000.0
    a = rng.uniform(0.05, 0.9, n)
    model = identity_model(tmp_path, n)
    output = convert(tmp_path, model, tmp_path / "net.yaml", "--input-rate", f"{rate:g}Hz")
    text = (tmp_path / "net.yaml").read_text()
    assert "model: poisson" in text, text
    (sparse,) = re.findall(r"sparse: (\S+)", text)
    entries = np.load(tmp_path / sparse)  # (row, column, weight) triplets
    assert sorted(entries[:, :2].tolist()) == [[j, j] for j in range(n)] and np.allclose(entries[:, 2], 2), entries  # 1 / (5000 Hz · 0.1 ms)
    counts = spike_counts(tmp_path, tmp_path / "net.yaml", a * rate, steps, "--seed", str(random.randrange(1 << 30)))
    p = a * rate * 1e-4
    for j in range(n):
        inputs = counts.get(("input", j), 0)
        assert abs(inputs - steps * p[j]) < 6 * np.sqrt(steps * p[j] * (1 - p[j])), (j, inputs, steps * p[j])
        # Each input spike adds 2 to v; at most one output spike per step, the rest waits in v
        # (a queue at most 90 % busy: a few spikes, 50 allowed).
        waiting = 2 * inputs - counts.get((output, j), 0)
        assert 0 <= waiting <= 50, (j, counts.get((output, j)), inputs)
        assert abs(counts.get((output, j), 0) / steps - a[j]) < 12 * np.sqrt(p[j] * (1 - p[j]) / steps) + 50 / steps


def test_initial_membrane_and_rate_coding_survive_nir_export_and_their_options_are_checked(tmp_path):
    nir = pytest.importorskip("nir")
    model = identity_model(tmp_path, 3)
    convert(tmp_path, model, tmp_path / "net.nir")
    graph = nir.read(str(tmp_path / "net.nir"))
    (layer,) = [node for node in graph.nodes.values() if isinstance(node, nir.IF)]
    assert np.allclose(np.asarray(layer.metadata["v_initial"]), 0.5), layer.metadata
    result = subprocess.run([str(spikeloop_binary()), "import", str(tmp_path / "net.nir"), "--out", str(tmp_path / "back.yaml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "v_initial: 0.5" in (tmp_path / "back.yaml").read_text(), result.stderr
    for option, value, expected in [("--initial-membrane", "1", "--initial-membrane must be in [0, 1)"),
                                    ("--input-rate", "20000Hz", "at most one spike per step (10000 Hz at dt 0.1 ms)"),
                                    ("--input-rate", "5 ms", "--input-rate")]:
        result = subprocess.run([str(spikeloop_binary()), "convert", str(model), "--calibration", str(tmp_path / "calibration.npy"),
                                 "--out", str(tmp_path / "bad.yaml"), option, value], capture_output=True, text=True, timeout=60)
        assert result.returncode != 0 and expected in result.stderr, result.stderr
        assert not (tmp_path / "bad.yaml").exists()
    (tmp_path / "x.csv").write_text("input:0\n-5\n")
    convert(tmp_path, model, tmp_path / "rated.yaml", "--input-rate", "1000Hz")
    result = subprocess.run([str(spikeloop_binary()), "simulate", str(tmp_path / "rated.yaml"), "--input-values", str(tmp_path / "x.csv"),
                             "--duration", "1ms"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "column 'input:0': rate -5 Hz is negative" in result.stderr, result.stderr
