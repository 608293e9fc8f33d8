"""CURVE between the Python client and the Swift server; the endpoint rule."""

import pytest

from conftest import free_tcp_endpoint, parse_summary
from spikeloop_client import LockstepClient, SpikeloopError, Timeout, generate_keys, load_public_key, load_secret_key
from spikeloop_client.testing import float_bits, make_test_layout, pattern_bits, pattern_value


def test_curve_right_key_talks_wrong_or_no_key_gets_nothing(swift_peer, tmp_path):
    server_keys = generate_keys(str(tmp_path), "server")
    other_keys = generate_keys(str(tmp_path), "other")
    layout = make_test_layout(4)
    peer = swift_peer("lockstep-server", "--endpoint", "tcp://127.0.0.1:*", "--channels", 4, "--frames", 3,
                      "--curve-secret", tmp_path / "server.secret")
    endpoint = peer.wait_for_listening()

    with LockstepClient(endpoint, layout, server_key=load_public_key(str(tmp_path / "other.public")),
                        timeout_ms=300) as wrong:
        with pytest.raises(Timeout):
            wrong.step([0.0] * 4)
    with LockstepClient(endpoint, layout, timeout_ms=300) as plain:
        with pytest.raises(Timeout):
            plain.step([0.0] * 4)
    with LockstepClient(endpoint, layout, server_key=server_keys.public) as right:
        for sequence in (1, 2, 3):
            command = right.step([pattern_value(sequence, i) for i in range(4)])
            assert command.sensor_sequence == sequence
            assert [float_bits(v) for v in command.values] == [pattern_bits(sequence, i) for i in range(4)]
    status, out, err = peer.finish()
    assert status == 0, err
    summary = parse_summary(out)
    assert (summary["answered"], summary["accepted"]) == (3, 3)
    assert other_keys.public != server_keys.public


def test_curve_server_with_authorized_client_keys(swift_peer, tmp_path):
    server_keys = generate_keys(str(tmp_path), "server")
    clients = tmp_path / "clients"
    clients.mkdir()
    allowed = generate_keys(str(clients), "operator")
    stranger = generate_keys(str(tmp_path), "stranger")
    layout = make_test_layout(2)
    peer = swift_peer("lockstep-server", "--endpoint", "tcp://127.0.0.1:*", "--channels", 2, "--frames", 1,
                      "--curve-secret", tmp_path / "server.secret", "--curve-clients", clients)
    endpoint = peer.wait_for_listening()
    with LockstepClient(endpoint, layout, server_key=server_keys.public, keys=stranger, timeout_ms=300) as client:
        with pytest.raises(Timeout):
            client.step([1.0, 2.0])
    with LockstepClient(endpoint, layout, server_key=server_keys.public, keys=allowed) as client:
        assert list(client.step([1.0, 2.0]).values) == [1.0, 2.0]
    status, out, err = peer.finish()
    assert status == 0, err
    summary = parse_summary(out)
    assert summary["answered"] == 1 and summary["refused_clients"] >= 1


def test_non_loopback_endpoint_without_curve_is_refused(swift_peer):
    port = free_tcp_endpoint().rsplit(":", 1)[1]
    peer = swift_peer("lockstep-server", "--endpoint", f"tcp://0.0.0.0:{port}", "--channels", 4)
    status, out, err = peer.finish(timeout=10)
    assert status == 1
    assert out == ""
    assert f"endpoint tcp://0.0.0.0:{port} is reachable from other hosts but has no CURVE keys" in err
    assert "insecure: true" in err


def test_python_client_refuses_remote_endpoint_without_key():
    with pytest.raises(SpikeloopError, match="reachable from other hosts"):
        LockstepClient("tcp://192.0.2.1:5555", make_test_layout(1))


def test_swift_generated_keys_work_for_python(wire_peer, swift_peer, tmp_path):
    import subprocess
    run = subprocess.run([str(wire_peer), "keygen", "--dir", tmp_path, "--name", "daemon"], capture_output=True,
                         text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    public = load_public_key(str(tmp_path / "daemon.public"))
    assert run.stdout.startswith(f"public_key={public.decode()} ")
    assert oct((tmp_path / "daemon.secret").stat().st_mode & 0o777) == "0o600"
    assert load_secret_key(str(tmp_path / "daemon.secret")).public == public
    peer = swift_peer("lockstep-server", "--endpoint", "tcp://127.0.0.1:*", "--channels", 1, "--frames", 1,
                      "--curve-secret", tmp_path / "daemon.secret")
    endpoint = peer.wait_for_listening()
    with LockstepClient(endpoint, make_test_layout(1), server_key=public) as client:
        assert list(client.step([0.5]).values) == [0.5]
    assert peer.finish()[0] == 0
