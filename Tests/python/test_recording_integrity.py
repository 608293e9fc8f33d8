"""Recordings that keep every tick (issue #13): lockstep never drops, chunks hold whole ticks,
and `recover` keeps every intact chunk around a corrupt one. Files are read with the official
Python `mcap` reader, not ours."""

import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time

from mcap.reader import make_reader
from mcap.records import Chunk
from mcap.stream_reader import StreamReader, breakup_chunk
from mcap_protobuf.decoder import DecoderFactory

from conftest import ARM, ROOT, spikeloop_binary
from spikeloop_client import LockstepClient, Operator
from spikeloop_client.gen.spikeloop.v1 import spikeloop_pb2 as pb
from test_daemon import Daemon, config_copy, scripted, tmp  # noqa: F401 (fixture)
from test_recording import demo_config, record_demo

# Probes on every neuron of the big populations make each tick's record large, so that a small
# queue fills within a second when the recorder (SCHED_IDLE) falls behind the lockstep flood.
HEAVY_PROBES = """
recording:
  queue_size: 1
  probes:
    - {population: push, variable: v, neurons: [%s]}
    - {population: pull, variable: v, neurons: [%s]}
"""


def record(tmp, seconds, extra=""):
    config = demo_config(tmp)
    config.write_text(config.read_text() + extra)
    return record_demo(tmp, seconds, seed=3, config=config, name="session.mcap")


def independent_check(path):
    """`rerun mcap check --full`: the Rust MCAP reader inside the Rerun SDK, an implementation
    nobody here wrote, decodes the file's timelines; every topic must be `ok`."""
    rerun = pathlib.Path(sys.executable).parent / "rerun"
    result = subprocess.run([str(rerun), "mcap", "check", "--full", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [l.split() for l in result.stdout.splitlines() if re.match(r"^\S+ +\d+ +\d+ +/", l)]
    assert rows and all(r[0] == "ok" and r[-1] == "—" for r in rows), result.stdout
    return {r[3] for r in rows}


def chunks(path):
    """The messages of every chunk, in file order: [[(channel topic, proto)]]."""
    with open(path, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()
        topics = {c.id: c.topic for c in summary.channels.values()}
    out = []
    with open(path, "rb") as f:
        for record in StreamReader(f, emit_chunks=True).records:
            if isinstance(record, Chunk):
                out.append([(topics[m.channel_id], m) for m in breakup_chunk(record, validate_crc=True)
                            if hasattr(m, "channel_id")])
    return out


def test_lockstep_recording_drops_nothing_and_every_chunk_holds_whole_ticks(tmp):
    """Lockstep has no deadline: when the recorder's queue is full the loop waits for it. And a
    chunk closes only between ticks, so a frame and the tick it drove share a chunk."""
    session, stats, log = record(tmp, 20, HEAVY_PROBES % (", ".join(map(str, range(16))), ", ".join(map(str, range(16)))))
    assert stats.recorder_dropped == 0
    assert re.search(r", 0 records dropped", log), log
    per_chunk = chunks(session)
    assert len(per_chunk) >= 5, len(per_chunk)
    sensors = sent = 0
    for messages in per_chunk:
        seqs = [pb.SensorFrame.FromString(m.data).sequence for topic, m in messages if topic == "/sensors"]
        answered = [pb.MotorCommand.FromString(m.data).sensor_sequence for topic, m in messages if topic == "/motors/sent"]
        assert seqs == answered, f"a chunk holds frames {seqs[:3]}…{seqs[-3:]} but commands answering {answered[:3]}…{answered[-3:]}"
        sensors += len(seqs)
        sent += len(answered)
    assert sensors == sent == 20_000
    assert {"/sensors", "/motors/sent", "/probes", "/events"} <= independent_check(session)
    replay = subprocess.run([str(spikeloop_binary()), "replay", str(session), "--verify"], capture_output=True, text=True)
    assert replay.returncode == 0 and "\nidentical    20000 motor commands" in replay.stdout, replay.stdout + replay.stderr


def test_recover_keeps_every_intact_chunk_around_a_corrupt_one(tmp):
    """One flipped bit in chunk 3 of many: `recover` keeps all other chunks and names the lost
    time range (it used to stop at the first corrupt chunk)."""
    session, _, _ = record(tmp, 40)
    data = bytearray(session.read_bytes())
    offsets = []
    with open(session, "rb") as f:
        summary = make_reader(f).get_summary()
        for ci in sorted(summary.chunk_indexes, key=lambda c: c.chunk_start_offset):
            offsets.append((ci.chunk_start_offset, ci.chunk_length, ci.message_start_time, ci.message_end_time))
    assert len(offsets) >= 16, len(offsets)
    per_chunk = [len(m) for m in chunks(session)]
    start, length, lost_from, lost_to = offsets[2]
    data[start + length // 2] ^= 0x10  # inside the compressed records of chunk 3
    # Cut the summary off too, as a crash would.
    cut = offsets[-1][0] + offsets[-1][1]
    damaged = tmp / "damaged.mcap"
    damaged.write_bytes(bytes(data[:cut]))
    recovered = tmp / "recovered.mcap"
    result = subprocess.run([str(spikeloop_binary()), "recover", str(damaged), str(recovered)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"left out a corrupt chunk at byte {start}" in result.stdout, result.stdout
    assert f"log time {lost_from / 1e9}" in result.stdout, result.stdout
    with open(recovered, "rb") as f:
        reader = make_reader(f, validate_crcs=True)
        kept = sum(1 for _ in reader.iter_messages())
    assert kept == sum(per_chunk) - per_chunk[2], (kept, sum(per_chunk), per_chunk[2])
    assert "/sensors" in independent_check(recovered)


def record_across_a_reload(tmp, old, new, ticks=400):
    """The closed-loop fixture recorded with `run --record` for `ticks` lockstep ticks, with the
    configuration's `old` text changed to `new` and SIGHUP sent half way; (session, last
    status, daemon log)."""
    config = config_copy(tmp, "controller.yaml")
    assert old in config.read_text(), old
    session = tmp / "session.mcap"
    daemon = Daemon(config, "--record", session)
    operator = Operator(f"ipc://{tmp}/control", timeout_ms=3000)
    try:
        with LockstepClient(f"ipc://{tmp}/frames", ARM) as sim:
            for t in range(1, ticks // 2 + 1):
                sim.step(scripted(t))
            config.write_text(config.read_text().replace(old, new))
            daemon.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 5
            t = ticks // 2
            while operator.status().stats.config_generation < 2 and time.monotonic() < deadline:
                t += 1
                sim.step(scripted(t))  # tick boundaries, where the reload is taken
            while t < ticks:
                t += 1
                sim.step(scripted(t))
            stats = operator.status().stats
        operator.shutdown()
    finally:
        operator.close()
    status, log = daemon.finish()
    assert status == 0, log
    return session, stats, log


def test_a_reload_does_not_end_a_recording_started_with_record(tmp):
    """`run --record` lasts until stopped: a reload of a configuration file without `recording:`
    used to switch it off."""
    session, stats, log = record_across_a_reload(tmp, "watchdog_timeout: 100 ms", "watchdog_timeout: 250 ms")
    assert stats.watchdog_timeout_ns == 250_000_000  # the reload applied
    assert stats.recording_path == str(session)     # and the recording goes on
    assert "the recording an operator started goes on" in log, log
    with open(session, "rb") as f:
        reader = make_reader(f, validate_crcs=True)
        frames = sum(1 for _, channel, _ in reader.iter_messages() if channel.topic == "/sensors")
    assert frames == 400


def test_session_details_readers_trip_over(tmp):
    """No /probes channel without probes; attachment names without `..` (and replay still finds
    the files under them); /events in log-time order; schemas without the .proto's comments."""
    configs, robots = tmp / "configs", tmp / "robots"
    configs.mkdir()
    robots.mkdir()
    shutil.copy(ROOT / "Robots" / "cartpole.yaml", robots / "cartpole.yaml")
    config = demo_config(tmp)
    text = config.read_text().replace(f"robot: {ROOT}/Robots/cartpole.yaml", "robot: ../robots/cartpole.yaml")
    (configs / "cartpole.yaml").write_text(text)
    session, _, _ = record_demo(tmp, 3, seed=3, config=configs / "cartpole.yaml", name="details.mcap",
                                before_shutdown=lambda operator: (operator.pause(), operator.resume()))
    with open(session, "rb") as f:
        reader = make_reader(f, validate_crcs=True)
        summary = reader.get_summary()
        topics = {c.topic for c in summary.channels.values()}
        assert "/probes" not in topics and "/sensors" in topics, topics
        assert all(len(s.data) < 8000 for s in summary.schemas.values()), [len(s.data) for s in summary.schemas.values()]
        names = [a.name for a in reader.iter_attachments()]
        assert f"{tmp}/robots/cartpole.yaml" in names and not any("/../" in n for n in names), names
        times = [m.log_time for _, c, m in reader.iter_messages(topics=["/events"], log_time_order=False)]
        assert [s.name for s in summary.schemas.values() if s.id == next(
            c.schema_id for c in summary.channels.values() if c.topic == "/log")] == ["foxglove.Log"]
    assert len(times) >= 3 and times == sorted(times), times
    # /log: the events as foxglove.Log, for Foxglove's Log panel (decoded with the embedded schema).
    with open(session, "rb") as f:
        decoded = {}
        for _, channel, _, m in make_reader(f, decoder_factories=[DecoderFactory()]).iter_decoded_messages(
                topics=["/events", "/log"], log_time_order=False):
            decoded.setdefault(channel.topic, []).append(m)
    events, logs = decoded["/events"], decoded["/log"]
    assert [(l.name, l.message) for l in logs] == [(e.kind, e.message) for e in events]
    assert [l.level for l in logs] == [e.severity for e in events]  # the same numbers: DEBUG 1 … ERROR 4
    assert all(l.timestamp.seconds > 1_700_000_000 for l in logs)  # UTC
    replay = subprocess.run([str(spikeloop_binary()), "replay", str(session), "--verify"], capture_output=True, text=True)
    assert replay.returncode == 0 and "\nidentical " in replay.stdout, replay.stdout + replay.stderr


def test_replay_follows_a_reload_that_changes_a_decoder_gain(tmp):
    """Reloads are recorded (the new files, from the command they shaped on) and replayed where
    they took effect: a decoder gain doubled mid-session used to make replay report a false
    divergence."""
    session, stats, _ = record_across_a_reload(tmp, "gain: 0.02", "gain: 0.04", ticks=600)
    assert stats.config_generation == 2
    with open(session, "rb") as f:
        names = [a.name for a in make_reader(f).iter_attachments()]
    assert any(n.startswith("reloads/") and n.endswith("/controller.yaml") for n in names), names
    replay = subprocess.run([str(spikeloop_binary()), "replay", str(session), "--verify"], capture_output=True, text=True)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "1 reloads)" in replay.stdout and "\nidentical " in replay.stdout, replay.stdout
    independent_check(session)
