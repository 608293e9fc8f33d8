"""Cross-checks of spikeloop's MCAP writer and recovery against the Python
`mcap` library (CRC validation) and `mcap-protobuf-support` (every message
decoded with the schema embedded in the file)."""

import json
import os
import pathlib
import random
import subprocess

import pytest
from mcap.reader import make_reader
from mcap.stream_reader import StreamReader
from mcap.writer import CompressionType, Writer
from mcap_protobuf.decoder import DecoderFactory

ROOT = pathlib.Path(__file__).resolve().parents[2]

TOPIC_TYPES = {
    "/sensors": "spikeloop.v1.SensorFrame",
    "/motors/decoded": "spikeloop.v1.MotorCommand",
    "/motors/sent": "spikeloop.v1.MotorCommand",
    "/spikes": "spikeloop.v1.SpikeBatch",
    "/probes": "spikeloop.v1.StateProbe",
    "/loop_stats": "spikeloop.v1.LoopStats",
    "/events": "spikeloop.v1.Event",
    "/log": "foxglove.Log",
}


@pytest.fixture(scope="session")
def mcap_tool() -> pathlib.Path:
    explicit = os.environ.get("MCAP_TOOL")
    if explicit:
        return pathlib.Path(explicit)
    for configuration in ("release", "debug"):
        candidate = ROOT / ".build" / configuration / "mcap-tool"
        if candidate.exists():
            return candidate
    pytest.fail("mcap-tool is not built: run `swift build -c release --product mcap-tool` (or set MCAP_TOOL)")


def run(tool, *args) -> dict:
    out = subprocess.run([str(tool), *map(str, args)], check=True, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout)


def read_all(path):
    """Every message through the indexed reader, CRCs checked, decoded."""
    with open(path, "rb") as f:
        reader = make_reader(f, validate_crcs=True, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()
        decoded = [(channel.topic, schema.name, message, proto)
                   for schema, channel, message, proto in reader.iter_decoded_messages(log_time_order=False)]
        attachments = list(reader.iter_attachments())
        metadata = list(reader.iter_metadata())
    return summary, decoded, attachments, metadata


def stream_records(path):
    """Every record through the non-seeking reader (checks the data section CRC)."""
    with open(path, "rb") as f:
        return list(StreamReader(f, validate_crcs=True).records)


@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_python_reads_and_decodes_every_message(mcap_tool, tmp_path, compression):
    path = tmp_path / "sample.mcap"
    written = run(mcap_tool, "write-sample", path, "--messages", 40000, "--chunk-size", 32768,
                  "--compression", compression)
    summary, decoded, attachments, metadata = read_all(path)

    assert summary.statistics.message_count == written["messages"] == 40003  # 9994 ticks × 4 + 9 × (stats, event, log)
    assert written["/sensors"] == 9994 and written["/loop_stats"] == written["/events"] == written["/log"] == 9
    assert summary.statistics.chunk_count == written["chunks"] == len(summary.chunk_indexes) > 10
    assert {c.topic for c in summary.channels.values()} == set(TOPIC_TYPES)
    assert all(c.message_encoding == "protobuf" for c in summary.channels.values())
    assert {s.encoding for s in summary.schemas.values()} == {"protobuf"}
    assert all(ci.compression == ("zstd" if compression == "zstd" else "") for ci in summary.chunk_indexes)

    counts = {}
    for topic, schema_name, message, proto in decoded:
        assert schema_name == TOPIC_TYPES[topic]
        assert type(proto).DESCRIPTOR.full_name == schema_name
        counts[topic] = counts.get(topic, 0) + 1
    # The sample writes every topic but /probes (its channel is there, empty).
    assert counts == {t: written[t] for t in TOPIC_TYPES if t != "/probes"}
    assert {t: written.get(t, 0) for t in TOPIC_TYPES} == {c.topic: summary.statistics.channel_message_counts.get(i, 0)
                                                         for i, c in summary.channels.items()}

    # Contents: the deterministic sample, tick by tick.
    sensors = [(m, p) for t, _, m, p in decoded if t == "/sensors"]
    for tick, (message, frame) in enumerate(sorted(sensors, key=lambda x: x[0].log_time)):
        assert frame.sequence == tick and message.sequence == tick
        assert message.log_time == 1_000_000_000 + tick * 1_000_000
        assert list(frame.values) == pytest.approx([tick * 0.5, -tick, 1 / (tick + 1)], rel=1e-6)
    spikes = [p for t, _, _, p in decoded if t == "/spikes"]
    assert sum(len(p.neuron) for p in spikes) == sum(n % 5 for n in range(len(spikes)))
    sent = [p for t, _, _, p in decoded if t == "/motors/sent"]
    assert sum(p.safe_stop for p in sent) == len(sent) // 100
    events = [p for t, _, _, p in decoded if t == "/events"]
    assert [e.kind for e in events] == ["overrun"] * written["/events"]

    assert [(a.name, a.media_type, a.data) for a in attachments] == [
        ("configuration.yaml", "application/yaml", b"tick_hz: 1000\nseed: 42\n")]
    assert [(m.name, m.metadata) for m in metadata] == [
        ("session", {"version": "spikeloop test", "seed": "42", "tick_hz": "1000"})]

    records = stream_records(path)
    assert sum(type(r).__name__ == "Message" for r in records) == written["messages"]
    assert type(records[-1]).__name__ == "Footer"


def test_swift_reads_what_python_writes(mcap_tool, tmp_path):
    path = tmp_path / "python.mcap"
    descriptor = (ROOT / "Proto" / "spikeloop.v1.pb").read_bytes()
    with open(path, "wb") as f:
        w = Writer(f, chunk_size=4096, compression=CompressionType.ZSTD)
        w.start(profile="", library="python mcap")
        schema = w.register_schema("spikeloop.v1.Event", "protobuf", descriptor)
        channels = [w.register_channel(t, "protobuf", schema) for t in ("/a", "/b", "/c")]
        for i in range(3000):
            w.add_message(channels[i % 3], log_time=i * 1000, data=bytes([i % 256]) * (i % 50), publish_time=i)
        w.add_attachment(create_time=1, log_time=2, name="x.bin", media_type="application/octet-stream", data=b"xyz")
        w.add_metadata("m", {"k": "v"})
        w.finish()
    dumped = run(mcap_tool, "dump", path)
    assert dumped["messages"] == dumped["indexed_messages"] == 3000
    assert dumped["topics"] == {"/a": 1000, "/b": 1000, "/c": 1000}
    assert dumped["attachments"] == 1 and dumped["metadata"] == 1
    assert dumped["library"] == "python mcap"


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_truncated_file_recovers_every_complete_chunk(mcap_tool, tmp_path, seed):
    original = tmp_path / "session.mcap"
    run(mcap_tool, "write-sample", original, "--messages", 20000, "--chunk-size", 16384)
    data = original.read_bytes()
    with open(original, "rb") as f:
        summary = make_reader(f).get_summary()
    first_chunk = min(ci.chunk_start_offset for ci in summary.chunk_indexes)
    cut = random.Random(seed).randrange(first_chunk, summary.chunk_indexes[-1].chunk_start_offset
                                        + summary.chunk_indexes[-1].chunk_length)
    truncated = tmp_path / "killed.mcap"
    truncated.write_bytes(data[:cut])  # what SIGKILL leaves: no summary, no footer, maybe half a chunk

    complete = [ci for ci in summary.chunk_indexes if ci.chunk_start_offset + ci.chunk_length <= cut]
    with open(original, "rb") as f:
        reader = make_reader(f, validate_crcs=True)
        # Log times rise through the file, so the complete chunks hold exactly
        # the messages up to the last of them.
        last = max((ci.message_end_time for ci in complete), default=-1)
        expected = [(c.topic, m.sequence, m.log_time, m.data)
                    for _, c, m in reader.iter_messages(log_time_order=False) if m.log_time <= last]

    recovered = tmp_path / "recovered.mcap"
    report = run(mcap_tool, "recover", truncated, recovered)
    assert report["messages"] == len(expected)
    assert report["complete"] is False
    assert report["chunks_read"] == len(complete)

    summary2, decoded, attachments, metadata = read_all(recovered)
    assert summary2.statistics.message_count == len(expected)
    assert sorted((t, m.sequence, m.log_time, m.data) for t, _, m, _ in decoded) == sorted(expected)
    assert len(attachments) == 1 and len(metadata) == 1
    assert {c.topic for c in summary2.channels.values()} == set(TOPIC_TYPES)
    records = stream_records(recovered)
    assert type(records[-1]).__name__ == "Footer"


def test_spikeloop_recover_and_inspect(mcap_tool, tmp_path):
    """The user-facing commands over the same machinery: inspect a complete and a cut file, recover the cut one."""
    from conftest import spikeloop_binary
    original = tmp_path / "session.mcap"
    run(mcap_tool, "write-sample", original, "--messages", 5000, "--chunk-size", 16384)
    inspected = subprocess.run([str(spikeloop_binary()), "inspect", str(original)], capture_output=True, text=True, check=True).stdout
    assert "messages     5003" in inspected  # 1250 ticks × 4 plus one LoopStats, Event and Log
    for topic in TOPIC_TYPES:
        assert topic in inspected

    data = original.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: len(data) * 2 // 3])
    inspected = subprocess.run([str(spikeloop_binary()), "inspect", str(cut)], capture_output=True, text=True, check=True).stdout
    assert "no summary" in inspected
    result = subprocess.run([str(spikeloop_binary()), "recover", str(cut)], capture_output=True, text=True, check=True)
    recovered = tmp_path / "cut.recovered.mcap"
    assert f"written to {recovered}" in result.stdout
    summary, decoded, _, _ = read_all(recovered)
    assert 0 < summary.statistics.message_count < 5000
    assert len(decoded) == summary.statistics.message_count

    missing = subprocess.run([str(spikeloop_binary()), "inspect", str(tmp_path / "none.mcap")], capture_output=True, text=True)
    assert missing.returncode != 0 and "cannot read" in missing.stderr
