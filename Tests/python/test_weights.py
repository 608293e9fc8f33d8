"""Weight persistence end to end (docs/weights.md): the daemon loads its
weights file at start, saves it atomically on request and on shutdown, and
refuses a corrupt or mismatched file. The file is read and edited here with
nothing but struct and zlib, as the documentation says."""

import os
import pathlib
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zlib

import pytest
import zmq

from conftest import ARM, spikeloop_binary

from spikeloop_client import LockstepClient, Operator
from spikeloop_client.client import SpikeloopError
from spikeloop_client.gen.spikeloop.v1 import spikeloop_pb2 as pb
from spikeloop_client.testing import float_bits

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures" / "closed_loop"

# A projection of 3200 × 3200 synapses: a ~41 MB weights file, slow enough to
# save that a SIGKILL can land in the middle of it.
BIG = """    - {name: big_in, model: input, size: 3200}
    - {name: big_out, model: lif, size: 3200, params: {tau_m: 10 ms, v_rest: -70 mV, v_threshold: -50 mV, v_reset: -65 mV}}
  projections:
    - {name: big, from: big_in, to: big_out, target: v, connect: {rule: all_to_all}, weight: {uniform: [0 mV, 1 mV]}}
"""


@pytest.fixture
def tmp():
    # IPC paths must stay short: a folder in /tmp.
    folder = pathlib.Path(tempfile.mkdtemp(prefix="slw-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def config(tmp: pathlib.Path, big=False, seed=11, persistence="persistence: {weights: weights.slw}\n") -> pathlib.Path:
    for f in FIXTURES.iterdir():
        shutil.copy(f, tmp / f.name)
    text = (tmp / "controller.yaml").read_text()
    text = text.replace("ipc:///tmp/spikeloop-closed-loop-frames", f"ipc://{tmp}/frames")
    text = text.replace("ipc:///tmp/spikeloop-closed-loop-control", f"ipc://{tmp}/control")
    text = text.replace("seed: 11", f"seed: {seed}")
    if big:
        text = text.replace("  projections:\n", BIG, 1)
    path = tmp / "controller.yaml"
    path.write_text(text + persistence)
    return path


class Daemon:
    """`spikeloop run` with its log in a file, so that a SIGKILLed daemon's log survives."""

    def __init__(self, config: pathlib.Path, name: str):
        self.log_path = config.parent / f"{name}.log"
        self.log_file = open(self.log_path, "w")
        self.process = subprocess.Popen([str(spikeloop_binary()), "run", "--config", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=self.log_file, cwd=config.parent)
        deadline = time.monotonic() + 60
        while "ready:" not in self.log():
            assert self.process.poll() is None, f"the daemon ended:\n{self.log()}"
            assert time.monotonic() < deadline, f"not ready within 60 s:\n{self.log()}"
            time.sleep(0.02)
        self.control = f"ipc://{config.parent}/control"

    def log(self) -> str:
        return self.log_path.read_text()

    def operator(self, timeout_ms=60_000) -> Operator:
        return Operator(self.control, timeout_ms=timeout_ms)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log_file.close()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=60) == 0, self.log()
        self.log_file.close()


def loaded_crc(log: str):
    """The CRC the start-up line names: `weights: loaded PATH (crc 0x…`."""
    found = re.findall(r"weights: loaded \S+ \(crc 0x([0-9a-f]{8})", log)
    return int(found[0], 16) if found else None


def saved_crcs(log: str):
    return [int(x, 16) for x in re.findall(r"weights: saved \S+ .*?\(crc 0x([0-9a-f]{8})", log)]


def file_crc(path: pathlib.Path) -> int:
    """The trailer, after checking it is zlib's CRC-32 of the rest."""
    data = path.read_bytes()
    stored = struct.unpack_from("<I", data, len(data) - 4)[0]
    assert zlib.crc32(data[:-4]) == stored, f"{path}: trailer {stored:#x} is not the CRC of the rest"
    return stored


def projections(data: bytes):
    """(name, pre, post, hash, weights offset, synapse count) per projection: docs/weights.md."""
    assert data[:8] == b"SLWEIGHT"
    version, count = struct.unpack_from("<II", data, 8)
    assert version == 1
    offset, result = 16, []
    for _ in range(count):
        (length,) = struct.unpack_from("<I", data, offset)
        name = data[offset + 4:offset + 4 + length].decode()
        offset += 4 + length
        pre, post, n, h = struct.unpack_from("<QQQQ", data, offset)
        offset += 32
        result.append((name, pre, post, h, offset, n))
        offset += 4 * n
    assert offset == len(data) - 4
    return result


def edited(source: pathlib.Path, target: pathlib.Path, projection: str, scale=None, synapse=None, value=None) -> int:
    """Writes `source` with one projection's weights scaled (or one weight set) to `target`, resealed; its CRC."""
    data = bytearray(source.read_bytes())
    _, _, _, _, offset, n = next(p for p in projections(bytes(data)) if p[0] == projection)
    if scale is not None:
        weights = struct.unpack_from(f"<{n}f", data, offset)
        struct.pack_into(f"<{n}f", data, offset, *(w * scale for w in weights))
    else:
        struct.pack_into("<f", data, offset + 4 * synapse, value)
    crc = zlib.crc32(bytes(data[:-4]))
    struct.pack_into("<I", data, len(data) - 4, crc)
    target.write_bytes(data)
    return crc


def test_layout_as_documented(tmp):
    """A saved file parses with the documented layout, and its hash is FNV-1a of the wiring."""
    daemon = Daemon(config(tmp), "a")
    daemon.stop()  # saves on shutdown
    data = (tmp / "weights.slw").read_bytes()
    found = projections(data)
    assert [p[0] for p in found] == ["fields->flexor", "fields->extensor", "drive->extensor", "noise->flexor",
                                     "flexor->extensor", "extensor->flexor"]
    # drive (8) → extensor (12), all to all, 3 mV: CSR order is pre-major.
    name, pre, post, h, offset, n = found[2]
    assert (pre, post, n) == (8, 12, 96)
    assert struct.unpack_from("<96f", data, offset) == (3.0,) * 96
    expected = 0xcbf29ce484222325
    for i in range(8):
        for j in range(12):
            for byte in struct.pack("<II", i, j):
                expected = ((expected ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    assert h == expected
    assert file_crc(tmp / "weights.slw") == saved_crcs(daemon.log())[-1]


def test_sigkill_during_save_leaves_the_last_complete_save(tmp):
    """Saves of ~41 MB, each killed with SIGKILL at another moment: every
    restart loads a complete file (the one before the save or the one being
    saved, by CRC) and never a partial one; leftovers are removed."""
    path = config(tmp, big=True)
    weights = tmp / "weights.slw"
    daemon = Daemon(path, "start")
    assert "weights.slw does not exist yet; starting from the configured weights" in daemon.log()
    operator = daemon.operator()
    t0 = time.monotonic()
    operator.save_weights("")
    round_trip = time.monotonic() - t0
    operator.close()
    assert weights.stat().st_size > 40_000_000
    previous = file_crc(weights)
    assert saved_crcs(daemon.log()) == [previous]
    save_ms = float(re.search(r"synapses, ([0-9.]+) ms\)", daemon.log()).group(1))
    print(f"\ncomplete save of {weights.stat().st_size} bytes: {save_ms} ms in the daemon, {round_trip * 1000:.0f} ms round trip")

    outcomes = []
    for k, fraction in enumerate([0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95, 1.5]):
        # New weights for this round, loaded over the control socket, then saved and killed.
        variant = tmp / f"variant{k}.slw"
        new = edited(weights, variant, "big", synapse=k, value=100.0 + k)
        operator = daemon.operator()
        operator.load_weights(str(variant))
        operator.close()
        context = zmq.Context()
        req = context.socket(zmq.REQ)
        req.connect(daemon.control)
        req.send(pb.ControlRequest(protocol_version=1, request_id=1, command=pb.CONTROL_COMMAND_SAVE_WEIGHTS).SerializeToString())
        time.sleep(fraction * round_trip)
        daemon.kill()
        req.close(linger=0)
        context.term()
        temporary = list(tmp.glob("weights.slw.tmp-*"))

        daemon = Daemon(path, f"restart{k}")
        loaded = loaded_crc(daemon.log())
        assert "refused" not in daemon.log(), daemon.log()
        assert loaded in (previous, new), f"round {k}: loaded {loaded}, saves were {previous:#x} and {new:#x}"
        assert file_crc(weights) == loaded
        assert not list(tmp.glob("weights.slw.tmp-*"))
        if temporary:
            assert "temporary file(s) of a save that was cut short" in daemon.log()
        outcomes.append((fraction, "mid-write" if temporary else "", "new" if loaded == new else "previous"))
        previous = loaded
    daemon.stop()
    print("kill at fraction of the save round trip → outcome:", outcomes)
    # The kills covered the save: some before the rename, some after, some during the write.
    assert any(o[2] == "previous" for o in outcomes) and any(o[2] == "new" for o in outcomes), outcomes
    assert any(o[1] == "mid-write" for o in outcomes), outcomes


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "other network"])
def test_corrupt_or_mismatched_file_is_refused_and_the_configured_weights_run(tmp, damage):
    path = config(tmp)
    weights = tmp / "weights.slw"
    first = Daemon(path, "first")
    first.stop()
    configured = weights.read_bytes()
    if damage == "flipped byte":
        data = bytearray(configured)
        data[len(data) // 2] ^= 0x10
        weights.write_bytes(data)
        reason = f"{weights}: CRC mismatch: the trailer says 0x"
    elif damage == "truncated":
        weights.write_bytes(configured[:len(configured) // 2])
        reason = f"{weights}: truncated or corrupt: "
    else:
        other = tmp / "other"
        other.mkdir()
        Daemon(config(other, seed=12), "other").stop()  # another seed: other random wiring
        shutil.copy(other / "weights.slw", weights)
        reason = f"weights file '{weights}' does not fit the network: projection 'fields->flexor'"
    damaged = weights.read_bytes()

    daemon = Daemon(path, "second")
    lines = [l for l in daemon.log().splitlines() if "weights:" in l]
    assert len(lines) == 1, lines
    assert f"weights: refused {reason}" in lines[0], lines[0]
    assert lines[0].endswith(f"; moved to {weights}.refused; starting from the configured weights"), lines[0]
    # It runs, on the configured weights.
    with LockstepClient(f"ipc://{tmp}/frames", ARM) as sim:
        for t in range(1, 51):
            assert not sim.step([0.1, 0.2], sim_time_ns=t * 1_000_000).safe_stop
    operator = daemon.operator()
    operator.save_weights(str(tmp / "now.slw"))
    assert operator.status().stats.ticks == 50
    operator.close()
    assert (tmp / "now.slw").read_bytes() == configured
    daemon.stop()
    # The refused file is kept, not overwritten by the save on shutdown.
    assert (tmp / "weights.slw.refused").read_bytes() == damaged
    assert weights.read_bytes() == configured


def test_load_weights_over_control_changes_behaviour_and_saves_back_identically(tmp):
    path = config(tmp)
    daemon = Daemon(path, "a")
    operator = daemon.operator()
    try:
        base, variant, again = tmp / "base.slw", tmp / "variant.slw", tmp / "again.slw"
        operator.save_weights(str(base))
        edited(base, variant, "fields->flexor", scale=3.0)
        inputs = [[0.6, 0.1]] * 100 + [[-0.6, -0.2]] * 100

        def run():
            operator.reset()
            operator.resume()
            with LockstepClient(f"ipc://{tmp}/frames", ARM) as sim:
                return [[float_bits(v) for v in sim.step(x).values] for x in inputs]

        original = run()
        operator.load_weights(str(variant))
        stronger = run()
        assert stronger != original
        operator.save_weights(str(again))
        assert again.read_bytes() == variant.read_bytes()
        operator.load_weights(str(base))
        assert run() == original  # weights are not state: reset keeps them, and base restores them exactly

        # A file that does not fit is refused over control too, naming it; nothing changes.
        with pytest.raises(SpikeloopError, match=f"{tmp}/controller.yaml: not a spikeloop weights file"):
            operator.load_weights(str(tmp / "controller.yaml"))
        with pytest.raises(SpikeloopError, match="load_weights needs the path of a weights file"):
            operator.load_weights("")
        assert run() == original
    finally:
        operator.close()
    daemon.stop()


def test_cli_save_and_load(tmp):
    path = config(tmp)
    daemon = Daemon(path, "a")
    binary = str(spikeloop_binary())
    run = lambda *args: subprocess.run([binary, "control", "--endpoint", daemon.control, *args],
                                       capture_output=True, text=True, cwd=tmp)
    saved = run("save-weights", "--path", "cli.slw")  # relative to the command's directory
    assert saved.returncode == 0, saved.stderr
    assert (tmp / "cli.slw").exists()
    assert run("load-weights", "--path", "cli.slw").returncode == 0
    missing = run("load-weights")
    assert missing.returncode != 0 and "'load-weights' needs --path FILE" in missing.stderr
    assert run("save-weights").returncode == 0  # the configured file
    assert (tmp / "weights.slw").read_bytes() == (tmp / "cli.slw").read_bytes()
    status = subprocess.run([binary, "status", "--endpoint", daemon.control], capture_output=True, text=True)
    assert f"weights      {tmp}/weights.slw, saved 2 times since start" in status.stdout, status.stdout
    check = subprocess.run([binary, "check", "--config", str(path)], capture_output=True, text=True)
    assert f"weights    {tmp}/weights.slw: present, fits (crc 0x{file_crc(tmp / 'weights.slw'):08x}); saved on shutdown" in check.stdout
    daemon.stop()
