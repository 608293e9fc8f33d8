import os
import pathlib
import re
import socket
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))


def _find_peer() -> pathlib.Path:
    explicit = os.environ.get("WIRE_PEER")
    if explicit:
        return pathlib.Path(explicit)
    for configuration in ("release", "debug"):
        candidate = ROOT / ".build" / configuration / "wire-peer"
        if candidate.exists():
            return candidate
    pytest.fail("wire-peer is not built: run `swift build -c release --product wire-peer` (or set WIRE_PEER)")


@pytest.fixture(scope="session")
def wire_peer() -> pathlib.Path:
    return _find_peer()


def free_tcp_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture(params=["tcp", "ipc"])
def transport(request):
    return request.param


@pytest.fixture
def endpoints(transport):
    """Returns a function giving a fresh endpoint of the transport under test."""
    import shutil
    import tempfile

    # IPC paths must stay under ~107 bytes: a short folder in /tmp, not tmp_path.
    folder = tempfile.mkdtemp(prefix="slw-", dir="/tmp")
    counter = iter(range(1000))

    def make():
        if transport == "tcp":
            return free_tcp_endpoint()
        return f"ipc://{folder}/{next(counter)}.ipc"

    yield make
    shutil.rmtree(folder, ignore_errors=True)


def parse_summary(text: str) -> dict:
    lines = [line for line in text.strip().splitlines() if "=" in line]
    assert lines, f"no summary line in {text!r}"
    return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", lines[-1])}


class SwiftPeer:
    """A running wire-peer process."""

    def __init__(self, binary, *args):
        self.process = subprocess.Popen([str(binary), *map(str, args)], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)

    def wait_for_listening(self, timeout=10.0) -> str:
        """Reads stderr until the 'listening on ENDPOINT' line and returns ENDPOINT."""
        import select
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stderr], [], [], 0.1)
            if ready:
                line = self.process.stderr.readline()
                match = re.search(r"listening on (\S+)", line)
                if match:
                    return match.group(1)
                if not line and self.process.poll() is not None:
                    break
        raise AssertionError(f"wire-peer did not start listening: {self.finish(timeout=1)}")

    def finish(self, timeout=30.0):
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
            raise AssertionError(f"wire-peer did not finish in {timeout} s; stderr: {err}")
        return self.process.returncode, out, err

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def swift_peer(wire_peer):
    peers = []

    def start(*args):
        peer = SwiftPeer(wire_peer, *args)
        peers.append(peer)
        return peer

    yield start
    for peer in peers:
        peer.kill()


def spikeloop_binary() -> pathlib.Path:
    """The spikeloop executable under test: $SPIKELOOP, or the release (else debug) build."""
    explicit = os.environ.get("SPIKELOOP")
    if explicit:
        return pathlib.Path(explicit)
    for configuration in ("release", "debug"):
        candidate = ROOT / ".build" / configuration / "spikeloop"
        if candidate.exists():
            return candidate
    pytest.fail("spikeloop is not built: run `swift build -c release --product spikeloop` (or set SPIKELOOP)")


def _arm_layout():
    from spikeloop_client.layout import Channel, Layout
    return Layout("test-arm", [Channel("joint1.angle", "rad", -3.2, 3.2), Channel("joint2.angle", "rad", -3.2, 3.2)],
                  [Channel("joint1.torque", "N*m", -5, 5), Channel("joint2.torque", "N*m", -5, 5)])


# The robot of Tests/python/fixtures/closed_loop (test_daemon, test_service).
ARM = _arm_layout()
