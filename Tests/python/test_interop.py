"""Swift <-> Python interop over tcp://127.0.0.1 and ipc://, lockstep (REQ/REP) and realtime (PUB/SUB, CONFLATE)."""

import time

import zmq

from conftest import parse_summary
from python_peers import LockstepEchoServer, RealtimeEchoController
from spikeloop_client import LockstepClient, RealtimeRobot
from spikeloop_client.testing import float_bits, make_test_layout, pattern_bits, pattern_value

FRAMES = 10_000
CHANNELS = 16


def test_lockstep_python_simulator_swift_controller(swift_peer, endpoints):
    layout = make_test_layout(CHANNELS)
    peer = swift_peer("lockstep-server", "--endpoint", endpoints(), "--channels", CHANNELS, "--frames", FRAMES)
    endpoint = peer.wait_for_listening()
    mismatched = []
    with LockstepClient(endpoint, layout) as sim:
        for sequence in range(1, FRAMES + 1):
            values = [pattern_value(sequence, i) for i in range(CHANNELS)]
            command = sim.step(values, sim_time_ns=sequence * 1_000_000)
            if (command.sensor_sequence != sequence or command.sequence != sequence
                    or command.sim_time_ns != sequence * 1_000_000 or command.safe_stop
                    or [float_bits(v) for v in command.values] != [pattern_bits(sequence, i) for i in range(CHANNELS)]):
                mismatched.append(sequence)
    status, out, err = peer.finish()
    assert status == 0, err
    summary = parse_summary(out)
    assert mismatched == []
    assert summary["answered"] == FRAMES
    assert summary["accepted"] == FRAMES
    assert summary["last_sequence"] == FRAMES
    assert summary["out_of_order"] == 0
    assert sum(v for k, v in summary.items() if k not in ("answered", "accepted", "last_sequence", "out_of_order", "refused_clients")) == 0


def test_lockstep_swift_simulator_python_controller(swift_peer, endpoints):
    layout = make_test_layout(CHANNELS)
    endpoint = endpoints()
    server = LockstepEchoServer(endpoint, layout, FRAMES)
    server.start()
    peer = swift_peer("lockstep-client", "--endpoint", endpoint, "--channels", CHANNELS, "--frames", FRAMES)
    status, out, err = peer.finish(timeout=120)
    server.join(10)
    assert status == 0, err
    assert server.error is None
    assert parse_summary(out) == {"sent": FRAMES, "received": FRAMES, "mismatches": 0, "bad_sequence": 0,
                                  "timeouts": 0}
    assert (server.answered, server.mismatches, server.out_of_order) == (FRAMES, 0, 0)


def test_realtime_python_robot_swift_controller(swift_peer, endpoints):
    layout = make_test_layout(CHANNELS)
    frames_endpoint, commands_endpoint = endpoints(), endpoints()
    peer = swift_peer("realtime-controller", "--frames-endpoint", frames_endpoint, "--commands-endpoint",
                      commands_endpoint, "--channels", CHANNELS, "--until", FRAMES)
    commands, mismatches, regressions, last = 0, 0, 0, 0

    def check(command):
        nonlocal commands, mismatches, regressions, last
        commands += 1
        if command.sensor_sequence < last:
            regressions += 1
        last = command.sensor_sequence
        if [float_bits(v) for v in command.values] != [pattern_bits(last, i) for i in range(CHANNELS)]:
            mismatches += 1

    with RealtimeRobot(frames_endpoint, commands_endpoint, layout) as robot:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # frame 0 until the subscription is up
            robot.publish([pattern_value(0, i) for i in range(CHANNELS)], sequence=0)
            if robot.latest_command(timeout_ms=5) is not None:
                break
        else:
            raise AssertionError("controller never answered frame 0")
        for sequence in range(1, FRAMES + 1):
            robot.publish([pattern_value(sequence, i) for i in range(CHANNELS)], sequence=sequence)
            if sequence % 64 == 0:
                command = robot.latest_command()
                if command is not None:
                    check(command)
        while time.monotonic() < deadline + 20 and last != FRAMES:
            command = robot.latest_command(timeout_ms=5)
            if command is not None:
                check(command)
            else:
                robot.publish([pattern_value(FRAMES, i) for i in range(CHANNELS)], sequence=FRAMES)
    status, out, err = peer.finish()
    assert status == 0, err
    summary = parse_summary(out)
    assert (last, mismatches, regressions) == (FRAMES, 0, 0)
    assert commands >= 1
    assert summary["finished"] == 1 and summary["last_sequence"] == FRAMES
    assert (summary["mismatches"], summary["regressions"], summary["rejected"]) == (0, 0, 0)
    assert 1 <= summary["received"] <= FRAMES + 1 + 10_000


def test_realtime_swift_robot_python_controller(swift_peer, endpoints):
    layout = make_test_layout(CHANNELS)
    frames_endpoint, commands_endpoint = endpoints(), endpoints()
    controller = RealtimeEchoController(frames_endpoint, commands_endpoint, layout, FRAMES)
    controller.start()
    peer = swift_peer("realtime-robot", "--frames-endpoint", frames_endpoint, "--commands-endpoint",
                      commands_endpoint, "--channels", CHANNELS, "--frames", FRAMES)
    status, out, err = peer.finish(timeout=60)
    controller.join(10)
    assert status == 0, err
    assert controller.error is None
    summary = parse_summary(out)
    assert summary["connected"] == 1 and summary["finished"] == 1
    assert summary["last_answered"] == FRAMES
    assert (summary["mismatches"], summary["regressions"]) == (0, 0)
    assert controller.finished and controller.mismatches == 0 and controller.regressions == 0


def test_pyzmq_uses_the_same_libzmq_major_version():
    assert zmq.zmq_version_info()[0] == 4
