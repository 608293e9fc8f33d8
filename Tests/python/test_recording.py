"""Session recordings from a running daemon: read back by the Python `mcap`
library with CRC validation and decoded with the embedded schemas; replayed
bit-exactly; recovered after SIGKILL; started and stopped on request."""

import os
import pathlib
import re
import signal
import struct
import subprocess
import time
import zlib

import pytest
from mcap.reader import make_reader
from mcap.writer import Writer
from mcap_protobuf.decoder import DecoderFactory

from conftest import ARM, ROOT, spikeloop_binary
from spikeloop_client import LockstepClient, Operator
from spikeloop_client.client import SpikeloopError
from test_daemon import Daemon, config_copy, scripted, tmp  # noqa: F401 (fixture)


def read_session(path):
    """(messages per topic, decoded messages per topic, attachments, metadata), every CRC checked."""
    counts, decoded = {}, {}
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()], validate_crcs=True)
        for _, channel, message, proto in reader.iter_decoded_messages():
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            decoded.setdefault(channel.topic, []).append((message.log_time, proto))
        attachments = {a.name: a for a in reader.iter_attachments()}
        metadata = {m.name: dict(m.metadata) for m in reader.iter_metadata()}
        summary = reader.get_summary()
    return counts, decoded, attachments, metadata, summary


def demo_config(tmp):
    """Config/cartpole.yaml with private ipc endpoints (its robot and network by absolute path)."""
    text = (ROOT / "Config" / "cartpole.yaml").read_text()
    text = re.sub(r"frames: \S+", f"frames: ipc://{tmp}/frames", text)
    text = re.sub(r"control: \S+", f"control: ipc://{tmp}/control", text)
    text = text.replace("robot: ../Robots/", f"robot: {ROOT}/Robots/").replace("network: networks/", f"network: {ROOT}/Config/networks/")
    path = tmp / "cartpole.yaml"
    path.write_text(text)
    return path


def record_demo(tmp, seconds=20, seed=1, config=None, name="demo.mcap", before_shutdown=lambda operator: None):
    """The demo: cart-pole SNN daemon (`config`, by default demo_config) and the built-in
    simulator, `seconds` at 1 kHz, recorded to tmp/`name`; `before_shutdown(operator)` runs last."""
    session = tmp / name
    daemon = Daemon(config or demo_config(tmp), "--record", session)
    sim = subprocess.run([str(spikeloop_binary()), "sim", "--robot", str(ROOT / "Robots" / "cartpole.yaml"),
                          "--endpoint", f"ipc://{tmp}/frames", "--control", f"ipc://{tmp}/control",
                          "--duration", f"{seconds}s", "--seed", str(seed)], capture_output=True, text=True, timeout=300)
    assert sim.returncode == 0, sim.stderr
    operator = Operator(f"ipc://{tmp}/control", timeout_ms=3000)
    stats = operator.status().stats
    before_shutdown(operator)
    operator.shutdown()
    operator.close()
    status, log = daemon.finish()
    assert status == 0, log
    return session, stats, log


def replay(session):
    return subprocess.run([str(spikeloop_binary()), "replay", str(session), "--verify"], capture_output=True, text=True, timeout=300)


def rewrite_with_attachment(source, target, name, data):
    """Copies a recording record by record, with attachment `name` replaced by `data`."""
    with open(source, "rb") as f, open(target, "wb") as out:
        reader = make_reader(f)
        header = reader.get_header()
        writer = Writer(out)
        writer.start(profile=header.profile, library=header.library)
        summary = reader.get_summary()
        for schema in sorted(summary.schemas.values(), key=lambda s: s.id):
            writer.register_schema(schema.name, schema.encoding, schema.data)
        for channel in sorted(summary.channels.values(), key=lambda c: c.id):
            writer.register_channel(channel.topic, channel.message_encoding, channel.schema_id, channel.metadata)
        for m in reader.iter_metadata():
            writer.add_metadata(m.name, dict(m.metadata))
        for a in reader.iter_attachments():
            writer.add_attachment(a.create_time, a.log_time, a.name, a.media_type, data if a.name == name else a.data)
        for _, channel, message in reader.iter_messages(log_time_order=False):
            writer.add_message(channel.id, message.log_time, message.data, message.publish_time, message.sequence)
        writer.finish()


def change_one_weight(slw: bytes, projection: int, synapse: int, delta: float) -> bytes:
    """docs/weights.md: one weight changed, CRC resealed."""
    data = bytearray(slw)
    assert data[:8] == b"SLWEIGHT"
    offset = 16
    for p in range(projection + 1):
        (length,) = struct.unpack_from("<I", data, offset)
        offset += 4 + length
        n = struct.unpack_from("<Q", data, offset + 16)[0]
        offset += 32
        if p < projection:
            offset += 4 * n
    assert synapse < n
    at = offset + 4 * synapse
    (w,) = struct.unpack_from("<f", data, at)
    struct.pack_into("<f", data, at, w + delta)
    struct.pack_into("<I", data, len(data) - 4, zlib.crc32(bytes(data[:-4])))
    return bytes(data)


def test_demo_recording_reads_back_replays_identically_and_diverges_after_a_weight_change(tmp):
    session, stats, log = record_demo(tmp)
    counts, decoded, attachments, metadata, summary = read_session(session)
    # Counts match what the daemon reports.
    assert counts["/sensors"] == stats.frames_accepted == 20000
    assert counts["/motors/decoded"] == counts["/motors/sent"] >= stats.ticks == 20000
    total = int(re.search(r"closed, (\d+) messages", log).group(1))
    assert sum(counts.values()) == total == summary.statistics.message_count
    assert counts["/spikes"] > 1000 and counts["/loop_stats"] >= 2
    assert stats.recorder_dropped == 0
    assert metadata["spikeloop"]["seed"] == "1" and metadata["spikeloop"]["tick_hz"] == "1000.0"
    assert any(name.endswith("cartpole.yaml") for name in attachments)
    assert "weights/initial.slw" in attachments
    # Sent commands are the decoded ones after the safety filter: both decode, same sequences.
    decoded_seq = [m.sequence for _, m in decoded["/motors/decoded"]]
    assert decoded_seq == [m.sequence for _, m in decoded["/motors/sent"]] == sorted(decoded_seq)

    result = replay(session)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "identical    " in result.stdout and "20000 motor commands" in result.stdout, result.stdout

    # One weight of the push population's strongest input changed in the stored weights.
    weights = attachments["weights/initial.slw"].data
    changed = tmp / "changed.mcap"
    rewrite_with_attachment(session, changed, "weights/initial.slw", change_one_weight(weights, 0, 0, 20.0))
    result = replay(changed)
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(l for l in result.stdout.splitlines() if l.startswith("diverged"))
    assert re.search(r"diverged +tick \d+", line), line
    assert "recorded" in line and "replayed" in line, line


def test_kill_9_then_recover_keeps_everything_up_to_a_second_before_the_kill(tmp):
    config = config_copy(tmp, "controller.yaml")
    session = tmp / "killed.mcap"
    daemon = Daemon(config, "--record", session)
    with LockstepClient(f"ipc://{tmp}/frames", ARM) as sim:
        start = time.monotonic()
        tick = 0
        while time.monotonic() - start < 3.5:  # ~300 ticks/s: chunks close by time, not size
            tick += 1
            sim.step(scripted(tick))
            time.sleep(0.003)
        killed_at = time.time_ns()
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait(timeout=10)
    recovered = tmp / "recovered.mcap"
    result = subprocess.run([str(spikeloop_binary()), "recover", str(session), str(recovered)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    counts, decoded, attachments, metadata, summary = read_session(recovered)
    sensors = [(t, m.sequence) for t, m in decoded["/sensors"]]
    # A prefix of the run, in order, without holes ...
    assert [s for _, s in sensors] == list(range(1, len(sensors) + 1))
    # ... reaching to within a second of the kill (publish times: the daemon's clock; log
    # times are simulation time in lockstep).
    with open(recovered, "rb") as f:
        received = [m.publish_time for _, _, m in make_reader(f).iter_messages(topics=["/sensors"])]
    assert max(received) >= killed_at - 1_000_000_000, (tick, len(sensors))
    # Simulation time: one period (1 ms) per tick from the recording's start.
    assert sensors[-1][0] - sensors[0][0] == (len(sensors) - 1) * 1_000_000
    assert "weights/initial.slw" in attachments and metadata["spikeloop"]["seed"] == "11"
    # Chunks hold whole ticks, so the recovered file replays identical up to its end (a chunk
    # that closed between a frame and its tick used to make replay report a false divergence).
    result = replay(recovered)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"identical    {len(sensors)} motor commands" in result.stdout, result.stdout


def test_sigterm_finalizes_and_control_starts_and_stops_recordings(tmp):
    config = config_copy(tmp, "controller.yaml")
    daemon = Daemon(config)
    operator = Operator(f"ipc://{tmp}/control", timeout_ms=5000)
    first, second = tmp / "first.mcap", tmp / "second.mcap"
    try:
        with LockstepClient(f"ipc://{tmp}/frames", ARM) as sim:
            for t in range(1, 101):
                sim.step(scripted(t))
            reply = operator.start_recording(str(first))
            assert str(first) in reply.message
            with pytest.raises(SpikeloopError, match="already recording"):
                operator.start_recording(str(second))
            for t in range(101, 601):
                sim.step(scripted(t))
            stats = operator.status().stats
            assert stats.recording_path == str(first) and stats.recorder_written > 500
            operator.stop_recording()
            with pytest.raises(SpikeloopError, match="not recording"):
                operator.stop_recording()
            operator.start_recording(str(second))
            for t in range(601, 801):
                sim.step(scripted(t))
    finally:
        operator.close()
    daemon.process.send_signal(signal.SIGTERM)
    status, log = daemon.finish()
    assert status == 0, log

    counts, decoded, _, _, summary = read_session(first)
    assert summary is not None and counts["/sensors"] == 500
    started = [m for _, m in decoded["/events"] if m.kind == "recording_started"]
    assert len(started) == 1 and started[0].sim_step == 100 * 10  # 100 ticks of 10 steps before it started
    # Finalized by SIGTERM: a summary section, and the last command sent is the safe one.
    counts, decoded, _, _, summary = read_session(second)
    assert summary is not None and summary.statistics.message_count == sum(counts.values())
    assert counts["/sensors"] == 200
    assert decoded["/motors/sent"][-1][1].sensor_sequence == 800
    # A recording that started mid-run cannot be replayed from the initial state; replay says so.
    result = replay(first)
    assert result.returncode != 0 and "replay needs a recording from the initial state" in result.stderr + result.stdout


def test_probes_record_membrane_voltages(tmp):
    config = config_copy(tmp, "controller.yaml")
    config.write_text(config.read_text() + "recording:\n  probes:\n    - {population: flexor, variable: v, neurons: [0, 3]}\n")
    session = tmp / "probes.mcap"
    daemon = Daemon(config, "--record", session)
    with LockstepClient(f"ipc://{tmp}/frames", ARM) as sim:
        for t in range(1, 201):
            sim.step(scripted(t))
    daemon.process.send_signal(signal.SIGTERM)
    status, log = daemon.finish()
    assert status == 0, log
    counts, decoded, *_ = read_session(session)
    probes = [m for _, m in decoded["/probes"]]
    assert len(probes) == 200
    assert all(list(p.neuron) == [0, 3] and p.step_count == 10 and len(p.value) == 20 for p in probes)
    values = [v for p in probes for v in p.value]
    # Membrane potentials of a LIF population (inhibition takes them a little below rest), not constant.
    assert min(values) >= -80 and max(values) <= -50 and max(values) - min(values) > 1
