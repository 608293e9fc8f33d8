"""The Python client on its own: layout hash, close never hangs, endpoint rule."""

import time

import pytest
import zmq

from spikeloop_client import Channel, Layout, LockstepClient, Operator, RealtimeRobot, Timeout, fnv1a64, is_local_endpoint, pb
from spikeloop_client.testing import make_test_layout, pattern_bits


def test_layout_hash_matches_swift():
    # Wire: testLayout(channels: 4).layoutHash
    assert make_test_layout(4).hash == 0x11BF5355AE728C93
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    layout = Layout("cartpole", [Channel("x", "m", -2.5, 2.5)], [Channel("force", "N", -10, 10)])
    assert layout.canonical_text() == "spikeloop.v1 layout\nrobot\tcartpole\ns\tx\tm\nm\tforce\tN\n"
    message = layout.to_proto()
    assert message.layout_hash == layout.hash
    assert Layout.from_proto(pb.RobotLayout.FromString(message.SerializeToString())) == layout


def test_pattern_matches_swift():
    # Wire: patternValue(sequence: 1, index: 0).bitPattern
    assert pattern_bits(1, 0) == 0x5A0052B9
    assert all((pattern_bits(s, i) >> 23) & 0xFF != 0xFF for s in range(200) for i in range(64))


@pytest.mark.parametrize("endpoint, local", [
    ("ipc:///tmp/x", True), ("inproc://x", True), ("tcp://127.0.0.1:5", True), ("tcp://localhost:5", True),
    ("tcp://[::1]:5", True), ("tcp://0.0.0.0:5", False), ("tcp://*:5", False), ("tcp://10.1.2.3:5", False),
    ("tcp://127.0.0.1.evil:5", False),
])
def test_local_endpoints(endpoint, local):
    assert is_local_endpoint(endpoint) is local


def test_close_with_unsent_messages_and_gone_peer_within_100ms(tmp_path):
    layout = make_test_layout(64)
    sim = LockstepClient(f"ipc://{tmp_path}/nobody.ipc", layout, timeout_ms=20)
    with pytest.raises(Timeout):
        sim.step([0.0] * 64)
    robot = RealtimeRobot("tcp://127.0.0.1:9", "tcp://127.0.0.1:9", layout)
    for _ in range(10_000):
        robot.publish([1.0] * 64)
    operator = Operator(f"ipc://{tmp_path}/control.ipc", timeout_ms=20)
    with pytest.raises(Timeout):
        operator.status()
    start = time.monotonic()
    sim.close()
    robot.close()
    operator.close()
    elapsed_ms = (time.monotonic() - start) * 1000
    assert elapsed_ms < 100, f"closing took {elapsed_ms:.1f} ms"
    assert robot.sequence == 10_000


def test_operator_round_trip_against_a_stub_daemon(tmp_path):
    endpoint = f"ipc://{tmp_path}/control.ipc"
    context = zmq.Context()
    daemon = context.socket(zmq.REP)
    daemon.setsockopt(zmq.LINGER, 0)
    daemon.bind(endpoint)
    import threading

    seen = []

    def serve():
        for _ in range(3):
            request = pb.ControlRequest.FromString(daemon.recv())
            seen.append((request.command, request.path, request.reward))
            reply = pb.ControlReply(protocol_version=1, request_id=request.request_id,
                                    ok=request.command != pb.CONTROL_COMMAND_LOAD_WEIGHTS,
                                    error="no such file: w.bin" if request.command == pb.CONTROL_COMMAND_LOAD_WEIGHTS else "",
                                    state=pb.LOOP_STATE_PAUSED)
            reply.stats.ticks = 42
            daemon.send(reply.SerializeToString())

    thread = threading.Thread(target=serve)
    thread.start()
    with Operator(endpoint) as operator:
        assert operator.status().stats.ticks == 42
        assert operator.set_reward(0.25).state == pb.LOOP_STATE_PAUSED
        with pytest.raises(Exception, match="no such file: w.bin"):
            operator.load_weights("w.bin")
    thread.join(5)
    daemon.close(0)
    context.term()
    assert seen == [(pb.CONTROL_COMMAND_STATUS, "", 0.0), (pb.CONTROL_COMMAND_SET_REWARD, "", 0.25),
                    (pb.CONTROL_COMMAND_LOAD_WEIGHTS, "w.bin", 0.0)]
