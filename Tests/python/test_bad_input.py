"""At least 10,000 malformed messages at full speed: the Swift receiver stays up, counts each under its
reason, and answers a valid frame sent afterwards."""

import random
import struct

import zmq

from conftest import parse_summary
from spikeloop_client import pb
from spikeloop_client.testing import float_bits, make_test_layout

CHANNELS = 8
RANGE = 100.0
PER_KIND = 1_250
OVERSIZED = 100
WINDOW = 400


def valid_frame(layout, sequence, rng, **overrides):
    fields = dict(protocol_version=1, layout_hash=layout.hash, sequence=sequence, sender_time_ns=rng.getrandbits(62),
                  values=[rng.uniform(-RANGE, RANGE) for _ in range(CHANNELS)])
    fields.update(overrides)
    return pb.SensorFrame(**fields)


def bad_messages(layout, rng):
    """Yields (expected reason key, payload)."""
    for i in range(PER_KIND):
        # Random bytes after an invalid first tag (field 0 or wire type 6/7).
        yield "malformed", bytes([rng.choice([0x00, 0x06, 0x07, 0x0E, 0x0F])]) + rng.randbytes(rng.randrange(0, 200))
        # A valid frame cut inside its packed values (the last field).
        whole = valid_frame(layout, i, rng).SerializeToString()
        values_start = len(whole) - (2 + 4 * CHANNELS)
        yield "malformed", whole[:rng.randrange(values_start + 1, len(whole))]
        yield "wrong_version", valid_frame(layout, i, rng, protocol_version=rng.choice([0, 2, 3, 255])).SerializeToString()
        yield "wrong_layout", valid_frame(layout, i, rng, layout_hash=layout.hash ^ (1 << rng.randrange(64))).SerializeToString()
        count = rng.choice([0, 1, CHANNELS - 1, CHANNELS + 1, 4 * CHANNELS])
        yield "wrong_value_count", valid_frame(layout, i, rng, values=[1.0] * count).SerializeToString()
        frame = valid_frame(layout, i, rng)
        special = [float("nan"), float("inf"), float("-inf")][i % 3]
        if i % 4 == 3:
            frame.reward = special
        else:
            frame.values[rng.randrange(CHANNELS)] = special
        yield "non_finite", frame.SerializeToString()
        frame = valid_frame(layout, i, rng)
        frame.values[rng.randrange(CHANNELS)] = rng.choice([1e30, -1e30, 3.0e38, RANGE * 1.01, -RANGE * 1.5])
        yield "out_of_range", frame.SerializeToString()
        yield "empty", b""
    for _ in range(OVERSIZED):
        yield "oversized", rng.randbytes(100_000)


def test_flood_of_bad_input(swift_peer, endpoints):
    layout = make_test_layout(CHANNELS, RANGE)
    rng = random.Random(20261129)
    peer = swift_peer("lockstep-server", "--endpoint", endpoints(), "--channels", CHANNELS, "--range", RANGE,
                      "--frames", 1)
    endpoint = peer.wait_for_listening()
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(endpoint)

    expected = {}
    sent = replies = unsafe_replies = 0
    for reason, payload in bad_messages(layout, rng):
        expected[reason] = expected.get(reason, 0) + 1
        dealer.send_multipart([b"", payload])
        sent += 1
        while sent - replies >= WINDOW or (sent - replies > 0 and dealer.poll(0)):
            assert dealer.poll(5_000), "receiver stopped answering during the flood"
            delimiter, body = dealer.recv_multipart()
            command = pb.MotorCommand.FromString(body)
            replies += 1
            unsafe_replies += (not command.safe_stop) or command.sensor_sequence != 0
    while replies < sent:
        assert dealer.poll(5_000), "receiver stopped answering after the flood"
        command = pb.MotorCommand.FromString(dealer.recv_multipart()[1])
        replies += 1
        unsafe_replies += (not command.safe_stop) or command.sensor_sequence != 0

    # A valid frame afterwards is answered normally.
    good = valid_frame(layout, 424242, rng)
    dealer.send_multipart([b"", good.SerializeToString()])
    assert dealer.poll(5_000)
    answer = pb.MotorCommand.FromString(dealer.recv_multipart()[1])
    dealer.close(0)
    context.term()

    status, out, err = peer.finish()
    assert status == 0, err
    summary = parse_summary(out)
    assert sent >= 10_000
    assert replies == sent and unsafe_replies == 0
    assert answer.sensor_sequence == 424242 and not answer.safe_stop
    assert [float_bits(v) for v in answer.values] == [float_bits(v) for v in good.values]
    reasons = ["malformed", "empty", "oversized", "wrong_version", "wrong_layout", "wrong_value_count",
               "non_finite_value", "out_of_range"]
    got = {r: summary[r] for r in reasons}
    want = {r: expected.get(r if r != "non_finite_value" else "non_finite", 0) for r in reasons}
    assert got == want
    assert summary["accepted"] == 1 and summary["answered"] == 1
    # The rejections were logged at a limited rate: one line per reason here (the flood lasts < 1 s per reason
    # interval), plus the final summary lines; never one line per message.
    log_lines = [line for line in err.splitlines() if "rejected" in line]
    assert 8 <= len(log_lines) <= 8 * 2 * 60
