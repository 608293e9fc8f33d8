"""Writes the seed corpora of the fuzz harnesses (Fuzz/Corpus/<harness>/).

    .venv/bin/python Fuzz/make_corpus.py [--mcap-tool .build/release/mcap-tool] [--spikeloop .build/release/spikeloop]

Seeds are small real inputs: wire messages encoded by the Python client's
generated protobuf module, the repository's configuration, robot and network
files, MCAP files from the `mcap` package (and one rewritten by spikeloop's own
writer through `mcap-tool recover`, when that tool is built), weight
snapshots written as docs/weights.md describes, and NIR graphs written by the
`nir` package as `spikeloop nir-probe` encodes them. Rerunning rewrites the same
files; files the fuzzer added by hand (Tools/fuzz --merge) are left alone.
"""

import argparse
import io
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Bridges", "python"))

from spikeloop_client.gen.spikeloop.v1 import spikeloop_pb2 as pb  # noqa: E402
from spikeloop_client.layout import Channel, Layout  # noqa: E402

CORPUS = os.path.join(ROOT, "Fuzz", "Corpus")


def put(harness, name, data):
    directory = os.path.join(CORPUS, harness)
    os.makedirs(directory, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def copy(harness, path, name=None):
    with open(os.path.join(ROOT, path), "rb") as f:
        put(harness, name or path.replace("/", "_"), f.read())


# ---------------------------------------------------------------- fuzz-wire


def wire():
    # Wire.testLayout(channels: 3, range: 10), the layout fuzz-wire validates against.
    layout = Layout(
        "wire-test",
        [Channel(f"s{i}", "1", -10, 10) for i in range(3)],
        [Channel(f"m{i}", "1", -10, 10) for i in range(3)],
    )
    h = layout.hash

    def frame(name, **fields):
        put("fuzz-wire", name, pb.SensorFrame(**fields).SerializeToString())

    common = dict(protocol_version=1, layout_hash=h, sender_time_ns=1_700_000_000_000_000_000, sim_time_ns=-5)
    frame("frame-valid", sequence=7, values=[0.5, -1.0, 9.9], reward=0.25, **common)
    frame("frame-estop-no-reward", sequence=8, values=[0.0, -0.0, 1e-40], estop=True, **common)
    frame("frame-out-of-range", sequence=9, values=[11.0, 0.0, 0.0], reward=2000.0, **common)
    frame("frame-nan", sequence=10, values=[math.nan, math.inf, 0.0], **common)
    frame("frame-five-values", sequence=2**64 - 1, values=[1, 2, 3, 4, 5], **common)
    frame("frame-wrong-version", protocol_version=2, layout_hash=h ^ 1, values=[1, 2, 3])
    # Unpacked floats (field 6, wire type 5) and a repeated sequence field, as
    # another encoder may write them; an unknown field (99) to skip.
    unpacked = bytes([0x08, 0x01, 0x11]) + struct.pack("<Q", h) + bytes([0x18, 0x01, 0x18, 0x02])
    unpacked += b"".join(bytes([0x35]) + struct.pack("<f", v) for v in (1.5, -2.5, 3.5))
    unpacked += bytes([0x9A, 0x06, 0x03]) + b"abc"
    put("fuzz-wire", "frame-unpacked-unknown-field", unpacked)

    def command(name, **fields):
        put("fuzz-wire", name, pb.MotorCommand(**fields).SerializeToString())

    command("command-valid", protocol_version=1, layout_hash=h, sequence=3, sensor_sequence=7,
            sender_time_ns=123456789, sim_time_ns=1000000, values=[0.1, -0.2, 0.3])
    command("command-safe-stop", protocol_version=1, layout_hash=h, sequence=4, sensor_sequence=8,
            values=[0, 0, 0], safe_stop=True, reason="refused frame: wrong value count")
    command("command-long-reason-padded", protocol_version=1, layout_hash=h, sequence=5,
            values=[1.0], safe_stop=True, reason="é" * 40, padding=bytes(30))

    def request(name, **fields):
        put("fuzz-wire", name, pb.ControlRequest(protocol_version=1, request_id=42, **fields).SerializeToString())

    request("control-status", command=pb.CONTROL_COMMAND_STATUS)
    request("control-set-reward", command=pb.CONTROL_COMMAND_SET_REWARD, reward=-0.5)
    request("control-save-weights", command=pb.CONTROL_COMMAND_SAVE_WEIGHTS, path="weights/run-1.slw")
    request("control-start-recording", command=pb.CONTROL_COMMAND_START_RECORDING, path="session.mcap")

    def hello(name, layout_message, **fields):
        message = pb.Hello(protocol_version=1, peer_name="fuzz-peer 0.1", tick_hz=1000.0, **fields)
        message.layout.CopyFrom(layout_message)
        put("fuzz-wire", name, message.SerializeToString())

    hello("hello-matching", layout.to_proto(), role=pb.PEER_ROLE_SIMULATOR)
    other = Layout("wire-test", [Channel("s0", "rad"), Channel("s1", "1")], [Channel("m0", "N", -1, 1)])
    hello("hello-other-layout", other.to_proto(), role=pb.PEER_ROLE_ROBOT)
    stale = layout.to_proto()
    stale.layout_hash ^= 0xFF
    hello("hello-wrong-hash", stale, role=pb.PEER_ROLE_ROBOT, accepted=True, reason="x")


# ---------------------------------------------------- YAML: networks, config

KITCHEN_SINK_NETWORK = """\
# Every model, rule and value form of docs/network-file.md, small.
name: kitchen-sink
dt: 0.1 ms
seed: 7
populations:
  - {name: inp, model: input, size: 4}
  - {name: src, model: poisson, size: 3, params: {rate: [10 Hz, 20 Hz, 0 Hz]}}
  - {name: times, model: spike_times, size: 2, params: {times: [[1 ms, 2.5 ms], [0 ms]]}}
  - name: exc
    model: lif
    size: 4
    params: {tau_m: 20 ms, v_rest: -70 mV, v_threshold: -50 mV, v_reset: -65 mV, t_ref: 2 ms,
             tau_e: 5 ms, tau_i: 10 ms, r_m: 100 Mohm, i_ext: {uniform: [0.1 nA, 0.2 nA]}}
    init: {v: [-70 mV, -65 mV, -60 mV, -55 mV]}
  - {name: izh, model: izhikevich, size: 2, params: {preset: regular_spiking, i_ext: 10}, init: {v: -65 mV}}
  - {name: custom, model: izhikevich, size: 1, params: {a: 0.02, b: 0.2, c: -65 mV, d: 8}}
projections:
  - {name: a, from: inp, to: exc, target: g_e, connect: {rule: one_to_one}, weight: 1 mV, delay: 1 ms}
  - {from: src, to: exc, target: g_e, connect: {rule: fixed_probability, p: 0.5}, weight: {uniform: [0.1 mV, 0.2 mV]}}
  - {from: times, to: exc, target: v, connect: {rule: fixed_indegree, k: 1}, weight: {normal: {mean: 1 mV, sd: 0.1 mV, min: 0 mV, max: 2 mV}}}
  - {from: exc, to: exc, target: g_i, connect: {rule: all_to_all, exclude_self: true}, weight: -0.5 mV, delay: {uniform: [0.5 ms, 2 ms]}}
  - {from: exc, to: izh, target: v, connect: {rule: list, pairs: [[0, 0], [3, 1]]}, weight: {list: [1 mV, 2 mV]}, delay: {list: [0 ms, 0.3 ms]}}
"""


def inline_network(path):
    """The `network:` mapping of a controller configuration, as a network file."""
    lines = open(os.path.join(ROOT, path)).read().splitlines()
    start = lines.index("network:") + 1
    out = []
    for line in lines[start:]:
        if line and not line.startswith(" "):
            break
        out.append(line[2:])
    return "\n".join(out) + "\n"


def yaml_files():
    for path in sorted(os.listdir(os.path.join(ROOT, "Config", "examples"))):
        copy("fuzz-network-file", f"Config/examples/{path}")
    for path in sorted(os.listdir(os.path.join(ROOT, "Tests", "NeuralTests", "Fixtures", "brian2"))):
        if path.endswith(".yaml"):
            copy("fuzz-network-file", f"Tests/NeuralTests/Fixtures/brian2/{path}")
    put("fuzz-network-file", "kitchen-sink.yaml", KITCHEN_SINK_NETWORK)
    put("fuzz-network-file", "closed-loop-inline.yaml", inline_network("Tests/python/fixtures/closed_loop/controller.yaml"))
    # (Config/networks/*.yaml are generated and 28-170 KB: longer than -max_len.)

    for path in ["Config/cartpole.yaml", "Config/pendulum.yaml", "Config/diffdrive.yaml", "Config/spikeloop.yaml"]:
        copy("fuzz-configuration", path)
    for path in sorted(os.listdir(os.path.join(ROOT, "Robots"))):
        if path.endswith(".yaml"):
            copy("fuzz-configuration", f"Robots/{path}")
    # The closed-loop test's controller, with its inline network; fuzz-configuration
    # puts its robot.yaml beside the input.
    copy("fuzz-configuration", "Tests/python/fixtures/closed_loop/controller.yaml", "closed-loop-controller.yaml")
    put("fuzz-configuration", "everything.yaml", """\
# Every section of a controller configuration, the network inline.
robot: robot.yaml
seed: 3
network:
  dt: 0.1 ms
  populations:
    - {name: fields, model: input, size: 8}
    - {name: out, model: lif, size: 4, params: {tau_m: 10 ms, v_rest: -70 mV, v_threshold: -50 mV, v_reset: -65 mV, tau_e: 5 ms}}
  projections:
    - {from: fields, to: out, target: g_e, connect: {rule: all_to_all}, weight: 2 mV}
loop:
  mode: realtime
  tick_rate: 500 Hz
  dt: 0.5 ms
  watchdog_timeout: 20 ms
  auto_resume: false
  realtime: {priority: 10, lock_memory: false, cpu: 0, busy_wait: 50 us}
endpoints:
  frames: tcp://127.0.0.1:5590
  commands: tcp://[::1]:5591
  control: ipc:///tmp/spikeloop-fuzz-control
  telemetry: inproc://telemetry
encoders:
  - {sensor: joint1.angle, kind: receptive_fields, population: fields, range: [-1, 1], max_rate: 400 Hz}
decoders:
  - {motor: joint1.torque, kind: filtered_rate, population: out, tau: 10 ms, max_rate: 200 Hz}
recording:
  file: session.mcap
  enabled: false
  queue_size: 4
  probes:
    - {population: out, variable: v, neurons: [0, 3]}
log:
  level: debug
  status_interval: 2 s
persistence:
  weights: weights.slw
  save_on_shutdown: true
""")


# --------------------------------------------------------------- fuzz-mcap


def mcap_files(mcap_tool):
    from mcap.writer import CompressionType, Writer

    def write(name, compression, chunk_size, messages, cut=None):
        stream = io.BytesIO()
        w = Writer(stream, chunk_size=chunk_size, compression=compression)
        w.start(profile="spikeloop", library="fuzz seeds")
        schema = w.register_schema(name="spikeloop.v1.SensorFrame", encoding="protobuf", data=b"\x0a\x05seeds")
        frames = w.register_channel(topic="/sensors", message_encoding="protobuf", schema_id=schema,
                                    metadata={"layout": "wire-test"})
        events = w.register_channel(topic="/events", message_encoding="json", schema_id=0)
        w.add_metadata("session", {"seed": "1", "tick_hz": "1000"})
        w.add_attachment(create_time=1, log_time=2, name="configuration.yaml", media_type="application/yaml",
                         data=b"seed: 1\n")
        for i in range(messages):
            t = 1_000_000_000 + i * 1_000_000
            data = pb.SensorFrame(protocol_version=1, sequence=i, values=[i * 0.5, -i]).SerializeToString()
            w.add_message(channel_id=frames, log_time=t, data=data, publish_time=t, sequence=i)
            if i % 3 == 0:
                w.add_message(channel_id=events, log_time=t + 500, data=b'{"kind": "tick"}', publish_time=t, sequence=i)
        w.finish()
        data = stream.getvalue()
        if cut is not None:
            data = data[: int(len(data) * cut)]
        put("fuzz-mcap", name, data)
        return data

    write("zstd-indexed.mcap", CompressionType.ZSTD, 1 << 20, 12)
    write("uncompressed-small-chunks.mcap", CompressionType.NONE, 200, 10)
    truncated = write("uncompressed-truncated.mcap", CompressionType.NONE, 200, 10, cut=0.6)
    write("lz4-unsupported.mcap", CompressionType.LZ4, 1 << 20, 3)

    # Rewritten by spikeloop's own writer (its CRCs, indexes and summary).
    if mcap_tool and os.path.exists(mcap_tool):
        with tempfile.TemporaryDirectory() as d:
            src, out = os.path.join(d, "in.mcap"), os.path.join(d, "out.mcap")
            with open(src, "wb") as f:
                f.write(truncated)
            subprocess.run([mcap_tool, "recover", src, out], check=True, stdout=subprocess.DEVNULL)
            with open(out, "rb") as f:
                put("fuzz-mcap", "spikeloop-recovered.mcap", f.read())
    else:
        print(f"make_corpus: no {mcap_tool}: skipped the spikeloop-written MCAP seed", file=sys.stderr)


# ------------------------------------------------------------ fuzz-weights


def weights_file(projections):
    """docs/weights.md: SLWEIGHT, version, count, records, CRC-32."""
    out = bytearray(b"SLWEIGHT" + struct.pack("<II", 1, len(projections)))
    for name, pre, post, pairs, weights in projections:
        raw = name.encode("utf-8")
        h = 0xCBF29CE484222325
        for i, j in pairs:
            for byte in struct.pack("<II", i, j):
                h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        out += struct.pack("<I", len(raw)) + raw
        out += struct.pack("<QQQQ", pre, post, len(weights), h)
        out += struct.pack(f"<{len(weights)}f", *weights)
    out += struct.pack("<I", zlib.crc32(bytes(out)))
    return bytes(out)


def weights():
    all_to_all = [(i, j) for i in range(3) for j in range(2)]
    put("fuzz-weights", "two-projections.slw", weights_file([
        ("fields->out", 3, 2, all_to_all, [0.5, -0.25, 1.0, 2.0, -3.5, 0.0]),
        ("out->out", 2, 2, [(0, 1), (1, 0)], [1e-3, -1e-3]),
    ]))
    put("fuzz-weights", "empty.slw", weights_file([]))
    put("fuzz-weights", "unnamed-no-synapses.slw", weights_file([("", 5, 5, [], [])]))
    put("fuzz-weights", "unicode-name.slw", weights_file([("vorwärts→µ", 1, 1, [(0, 0)], [0.125])]))


# ---------------------------------------------------------------- fuzz-nir


def nir_graphs():
    """Small graphs of every node type spikeloop imports, written by the nir package."""
    import nir
    import numpy as np
    rng = np.random.default_rng(1)

    def lif(n):
        return nir.LIF(tau=rng.uniform(0.001, 0.02, n), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))

    graphs = {
        "affine-lif": nir.NIRGraph(nodes={
            "input": nir.Input(input_type=np.array([3])),
            "affine": nir.Affine(weight=rng.normal(0, 1, (4, 3)), bias=rng.normal(0, 0.1, 4)),
            "lif": lif(4), "output": nir.Output(output_type=np.array([4]))},
            edges=[("input", "affine"), ("affine", "lif"), ("lif", "output")]),
        "recurrent-cuba": nir.NIRGraph(nodes={
            "input": nir.Input(input_type=np.array([2])),
            "linear": nir.Linear(weight=rng.normal(0, 1, (3, 2))),
            "cuba": nir.CubaLIF(tau_mem=np.full(3, 0.01), tau_syn=np.full(3, 0.005), r=np.ones(3), v_leak=np.zeros(3),
                                v_threshold=np.ones(3), w_in=np.ones(3)),
            "back": nir.Linear(weight=rng.normal(0, 0.5, (3, 3))),
            "li": nir.LI(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3)),
            "output": nir.Output(output_type=np.array([3]))},
            edges=[("input", "linear"), ("linear", "cuba"), ("cuba", "back"), ("back", "cuba"), ("cuba", "li"),
                   ("li", "output")]),
        "conv-pool": nir.NIRGraph(nodes={
            "input": nir.Input(input_type=np.array([1, 6, 6])),
            "conv": nir.Conv2d(input_shape=np.array([6, 6]), weight=rng.normal(0, 1, (2, 1, 3, 3)), stride=np.array([1, 1]),
                               padding=np.array([1, 1]), dilation=np.array([1, 1]), groups=1, bias=np.zeros(2)),
            "if": nir.IF(r=np.ones((2, 6, 6)), v_threshold=np.ones((2, 6, 6))),
            "pool": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
            "flatten": nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=0, end_dim=-1),
            "scale": nir.Scale(scale=np.full(18, 0.5)),
            "threshold": nir.Threshold(threshold=np.full(18, 0.5)),
            "output": nir.Output(output_type=np.array([18]))},
            edges=[("input", "conv"), ("conv", "if"), ("if", "pool"), ("pool", "flatten"), ("flatten", "scale"),
                   ("scale", "threshold"), ("threshold", "output")]),
        "conv1d-delay-integrator": nir.NIRGraph(nodes={
            "input": nir.Input(input_type=np.array([2, 5])),
            "conv": nir.Conv1d(input_shape=5, weight=rng.normal(0, 1, (2, 2, 2)), stride=1, padding=0, dilation=1,
                               groups=1, bias=np.zeros(2)),
            "delay": nir.Delay(delay=np.full((2, 4), 0.0003)),
            "flatten": nir.Flatten(input_type={"input": np.array([2, 4])}, start_dim=0, end_dim=-1),
            "integrator": nir.I(r=np.ones(8)),
            "output": nir.Output(output_type=np.array([8]))},
            edges=[("input", "conv"), ("conv", "delay"), ("delay", "flatten"), ("flatten", "integrator"),
                   ("integrator", "output")]),
        "sum-pool": nir.NIRGraph(nodes={
            "input": nir.Input(input_type=np.array([1, 4, 4])),
            "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
            "lif": nir.LIF(tau=np.full((1, 2, 2), 0.01), r=np.ones((1, 2, 2)), v_leak=np.zeros((1, 2, 2)),
                           v_threshold=np.ones((1, 2, 2))),
            "output": nir.Output(output_type=np.array([1, 2, 2]))},
            edges=[("input", "pool"), ("pool", "lif"), ("lif", "output")]),
    }
    inner = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([3])), "affine": nir.Affine(weight=np.eye(3), bias=np.zeros(3)),
        "lif": lif(3), "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "affine"), ("affine", "lif"), ("lif", "output")])
    graphs["nested"] = nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([3])), "sub": inner, "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "sub"), ("sub", "output")])
    return graphs


def nir_files(spikeloop):
    """Each graph as `spikeloop nir-probe` hands it to the process that runs it (the
    HDF5 tree in its byte form), after one options byte (Fuzz/Sources/fuzz-nir)."""
    import nir
    if not os.path.exists(spikeloop):
        print(f"fuzz-nir: no {spikeloop}; its seeds are left as they are (build spikeloop first)", file=sys.stderr)
        return

    def encoded(path):
        with open(path, "rb") as f:
            return subprocess.run([spikeloop, "nir-probe"], stdin=f, capture_output=True, check=True).stdout

    with tempfile.TemporaryDirectory() as scratch:
        for k, (name, graph) in enumerate(sorted(nir_graphs().items())):
            path = os.path.join(scratch, name + ".nir")
            nir.write(path, graph)
            put("fuzz-nir", name, bytes([k]) + encoded(path))  # each seed its own options
    put("fuzz-nir", "cartpole-trained", bytes([0]) + encoded(os.path.join(ROOT, "Config", "networks", "cartpole-trained.nir")))

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mcap-tool", default=os.path.join(ROOT, ".build", "release", "mcap-tool"))
    parser.add_argument("--spikeloop", default=os.path.join(ROOT, ".build", "release", "spikeloop"))
    args = parser.parse_args()
    wire()
    yaml_files()
    mcap_files(args.mcap_tool)
    weights()
    nir_files(args.spikeloop)
    total = 0
    for harness in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, harness))
        size = sum(os.path.getsize(os.path.join(CORPUS, harness, f)) for f in files)
        total += size
        print(f"{harness}: {len(files)} files, {size} bytes")
    print(f"total: {total} bytes")


if __name__ == "__main__":
    main()
