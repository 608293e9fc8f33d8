"""`spikeloop inspect FILE [--csv DIR]` on a session recorded from a real daemon:
every CSV row matches what the Python `mcap` reader decodes from the file."""

import csv
import math
import shutil
import struct
import subprocess
import tempfile
from decimal import Decimal
import pathlib

import pytest

from conftest import spikeloop_binary
from sessions import record_cartpole


@pytest.fixture(scope="module")
def session():
    # IPC paths must stay short: a folder in /tmp rather than pytest's tmp_path.
    folder = pathlib.Path(tempfile.mkdtemp(prefix="sli-", dir="/tmp"))
    yield record_cartpole(folder, duration="2s")
    shutil.rmtree(folder, ignore_errors=True)


def decoded(path):
    """start time, {topic: [(log_time, message)]}, as the Python reader sees the file (CRCs checked)."""
    from mcap.reader import make_reader
    from mcap_protobuf.decoder import DecoderFactory
    by_topic = {}
    with open(path, "rb") as f:
        reader = make_reader(f, validate_crcs=True, decoder_factories=[DecoderFactory()])
        start = reader.get_summary().statistics.message_start_time
        for _, channel, message, proto in reader.iter_decoded_messages(log_time_order=False):
            by_topic.setdefault(channel.topic, []).append((message.log_time, proto))
    return start, by_topic


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def f32(text):
    """The float32 bits of a CSV field (its shortest round-trip text)."""
    return struct.pack("<f", float(text))


def bits(value):
    return struct.pack("<f", value)


def ns(seconds_text):
    return int(Decimal(seconds_text) * 1_000_000_000)


def test_csv_rows_equal_the_recorded_messages(session, tmp_path):
    out = tmp_path / "csv"
    result = subprocess.run([str(spikeloop_binary()), "inspect", str(session), "--csv", str(out)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    start, topics = decoded(session)

    sensors = rows(out / "sensors.csv")
    frames = topics["/sensors"]
    assert len(sensors) == len(frames) >= 1900
    names = ["cart.x", "cart.v", "pole.angle", "pole.rate"]
    assert list(sensors[0].keys()) == ["time_s", "sim_time_s", "sequence"] + names
    for row, (log_time, frame) in zip(sensors, frames):
        assert ns(row["time_s"]) == log_time - start
        assert ns(row["sim_time_s"]) == frame.sim_time_ns
        assert int(row["sequence"]) == frame.sequence
        assert [f32(row[n]) for n in names] == [bits(v) for v in frame.values]

    motors = rows(out / "motors.csv")
    decoded_commands, sent_commands = topics["/motors/decoded"], topics["/motors/sent"]
    assert len(motors) == len(sent_commands) == len(decoded_commands) == len(frames)
    assert list(motors[0].keys()) == ["time_s", "sim_time_s", "sequence", "sensor_sequence",
                                      "cart.force.decoded", "cart.force.sent", "safe_stop"]
    for row, (log_time, d), (_, s) in zip(motors, decoded_commands, sent_commands):
        assert ns(row["time_s"]) == log_time - start
        assert ns(row["sim_time_s"]) == s.sim_time_ns
        assert (int(row["sequence"]), int(row["sensor_sequence"])) == (s.sequence, s.sensor_sequence) == (d.sequence, d.sensor_sequence)
        assert f32(row["cart.force.decoded"]) == bits(d.values[0])
        assert f32(row["cart.force.sent"]) == bits(s.values[0])
        assert row["safe_stop"] == ("1" if s.safe_stop else "0")
    # The safety filter holds the first command (startup): decoded and sent differ there.
    assert any(r["cart.force.decoded"] != r["cart.force.sent"] for r in motors)

    spikes = rows(out / "spikes.csv")
    expected = [(b.first_step + o, b.population, n, b.dt_ns) for _, b in topics["/spikes"] for n, o in zip(b.neuron, b.step_offset)]
    assert len(spikes) == len(expected) > 1000
    assert {r["population"] for r in spikes} >= {"push", "pull", "angle_fields"}
    for row, (step, population, neuron, dt_ns) in zip(spikes, expected):
        assert (int(row["step"]), row["population"], int(row["neuron"])) == (step, population, neuron)
        assert ns(row["time_s"]) == step * dt_ns

    probes = rows(out / "probes.csv")
    expected = [(p.first_step + s, p.population, p.variable, p.unit, p.neuron[k], p.value[s * len(p.neuron) + k], p.dt_ns)
                for _, p in topics["/probes"] for s in range(p.step_count) for k in range(len(p.neuron))]
    assert len(probes) == len(expected) == len(frames) * 10 * 5  # 10 steps per tick, 3 push + 2 pull neurons
    for row, (step, population, variable, unit, neuron, value, dt_ns) in zip(probes, expected):
        assert (int(row["step"]), row["population"], row["variable"], row["unit"], int(row["neuron"])) == (step, population, variable, unit, neuron)
        assert ns(row["time_s"]) == step * dt_ns
        assert f32(row["value"]) == bits(value)
    assert all(-90 < float(r["value"]) < -40 for r in probes)  # membrane voltages, mV

    events = rows(out / "events.csv")
    assert [r["kind"] for r in events] == [e.kind for _, e in topics["/events"]]
    assert [r["message"] for r in events] == [e.message for _, e in topics["/events"]]

    # The summary line names every file with its row count.
    assert (f"csv          {out}: events.csv {len(events)} rows, motors.csv {len(motors)} rows, "
            f"probes.csv {len(probes)} rows, sensors.csv {len(sensors)} rows, spikes.csv {len(spikes)} rows") in result.stdout


def test_inspect_reports_counts_drops_and_loop_statistics(session):
    result = subprocess.run([str(spikeloop_binary()), "inspect", str(session)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    _, topics = decoded(session)
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    for topic, messages in topics.items():
        assert f"{topic} " in result.stdout and str(len(messages)) in next(l for l in result.stdout.splitlines() if l.split()[0] == topic)
    stats = topics["/loop_stats"][-1][1]
    assert lines["drops"].startswith(f"drops        {stats.recorder_dropped} records dropped")
    assert "0 recorder_dropped events" in lines["drops"]
    assert lines["loop"].startswith(f"loop         {stats.ticks} ticks, {stats.overruns} overruns, tick p50 {stats.tick_ns_p50 / 1e3:.1f} µs")
    assert f"latency p99 {stats.latency_ns_p99 / 1e3:.1f} µs" in lines["loop"]
    ticks = len(topics["/motors/sent"])
    assert lines["ticks"].startswith(f"ticks        {ticks} recorded = {ticks / 1000:.3f} s of control at 1000 Hz (lockstep)")


def test_an_unreadable_or_corrupt_recording_is_named_in_the_error(session, tmp_path):
    binary = str(spikeloop_binary())
    corrupt = tmp_path / "corrupt.mcap"
    data = bytearray(session.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = bytes(b ^ 0xFF for b in data[middle:middle + 8])
    corrupt.write_bytes(bytes(data))
    missing = tmp_path / "missing.mcap"
    text = tmp_path / "notes.mcap"
    text.write_text("not a recording\n")
    for path, reason in [(corrupt, "corrupt"), (missing, "No such file"), (text, "not an MCAP file")]:
        result = subprocess.run([binary, "inspect", str(path), "--csv", str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
        assert result.returncode != 0, result.stdout
        assert f"cannot read {path}" in result.stderr and reason in result.stderr, result.stderr
