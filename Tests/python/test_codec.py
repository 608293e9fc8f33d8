"""The Swift hot-path codec against Python's protobuf, byte for byte, on random messages."""

import random
import struct

from spikeloop_client import pb

from conftest import parse_summary


def random_float(rng):
    bits = rng.getrandbits(32)
    if (bits >> 23) & 0xFF == 0xFF and rng.random() < 0.9:
        bits ^= 0x00800000  # mostly finite; NaN payloads and infinities still occur
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def random_scalar(rng, bits, signed=False):
    choice = rng.random()
    if choice < 0.2:
        value = 0
    elif choice < 0.5:
        value = rng.getrandbits(rng.randrange(1, bits + 1))
    else:
        value = rng.getrandbits(bits)
    if signed and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def random_frame(rng):
    frame = pb.SensorFrame(
        protocol_version=random_scalar(rng, 32), layout_hash=random_scalar(rng, 64), sequence=random_scalar(rng, 64),
        sender_time_ns=random_scalar(rng, 64, True), sim_time_ns=random_scalar(rng, 64, True),
        values=[random_float(rng) for _ in range(rng.choice([0, 1, 3, 16, 64, 300]))], estop=rng.random() < 0.5)
    if rng.random() < 0.5:
        frame.reward = random_float(rng)
    return frame


def random_command(rng):
    return pb.MotorCommand(
        protocol_version=random_scalar(rng, 32), layout_hash=random_scalar(rng, 64), sequence=random_scalar(rng, 64),
        sensor_sequence=random_scalar(rng, 64), sender_time_ns=random_scalar(rng, 64, True),
        sim_time_ns=random_scalar(rng, 64, True),
        values=[random_float(rng) for _ in range(rng.choice([0, 1, 2, 12, 64, 1000]))], safe_stop=rng.random() < 0.5)


def test_swift_codec_matches_python_protobuf(wire_peer, tmp_path):
    rng = random.Random(7)
    messages = []
    for i in range(4000):
        kind = 1 + i % 2
        message = random_frame(rng) if kind == 1 else random_command(rng)
        messages.append((kind, message.SerializeToString()))
    source, result = tmp_path / "in.bin", tmp_path / "out.bin"
    source.write_bytes(b"".join(bytes([k]) + struct.pack("<I", len(m)) + m for k, m in messages))
    import subprocess
    run = subprocess.run([str(wire_peer), "codec-check", "--input", source, "--output", result],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert parse_summary(run.stdout) == {"records": 4000, "failures": 0}
    data = result.read_bytes()
    position, differences = 0, []
    for index, (kind, original) in enumerate(messages):
        got_kind, length = data[position], struct.unpack("<I", data[position + 1:position + 5])[0]
        got = data[position + 5:position + 5 + length]
        position += 5 + length
        if got_kind != kind or got != original:
            differences.append(index)
    assert position == len(data)
    assert differences == []
