"""Regression tests for hardening defects of the daemon, written against the wire contract only.

The peers here are built from Proto/spikeloop/v1/spikeloop.proto (compiled with protoc at test
time) and raw pyzmq sockets; the project's own client library is deliberately not used, so these
tests also check that the contract as written is enough to talk to the daemon.
"""

import math
import os
import pathlib
import random
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time

import pytest
import yaml
import zmq
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from conftest import spikeloop_binary

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures" / "closed_loop"
TIMEOUT_MS = 2000


# ------------------------------------------------------------------ protocol from the .proto file

class Proto:
    """Message classes and enum numbers of spikeloop.v1, from the .proto via protoc."""

    def __init__(self, descriptor_set: pathlib.Path):
        files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
        self.pool = descriptor_pool.DescriptorPool()
        for f in files.file:
            self.pool.Add(f)
        for name in ("Channel", "RobotLayout", "Hello", "SensorFrame", "MotorCommand", "ControlRequest",
                     "ControlReply", "LoopStats"):
            setattr(self, name, message_factory.GetMessageClass(self.pool.FindMessageTypeByName(f"spikeloop.v1.{name}")))

    def enum(self, enum: str, value: str) -> int:
        return self.pool.FindEnumTypeByName(f"spikeloop.v1.{enum}").values_by_name[value].number


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    out = tmp_path_factory.mktemp("proto") / "spikeloop.desc"
    subprocess.run(["protoc", f"--descriptor_set_out={out}", "--include_imports", "-I", str(ROOT / "Proto"),
                    str(ROOT / "Proto/spikeloop/v1/spikeloop.proto")], check=True)
    return Proto(out)


def layout_hash(robot: dict) -> int:
    """FNV-1a 64 of the canonical layout text, as the comment on RobotLayout.layout_hash says."""
    text = "spikeloop.v1 layout\n" + f"robot\t{robot['robot']}\n"
    text += "".join(f"s\t{s['name']}\t{s['unit']}\n" for s in robot["sensors"])
    text += "".join(f"m\t{m['name']}\t{m['unit']}\n" for m in robot["motors"])
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


ROBOT = yaml.safe_load((FIXTURES / "robot.yaml").read_text())
HASH = layout_hash(ROBOT)
SAFE = [float(m.get("safe", 0)) for m in ROBOT["motors"]]


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def bits(values) -> list:
    return [struct.unpack("<I", struct.pack("<f", v))[0] for v in values]


def scripted(k: int) -> list:
    """Deterministic sensor values for frame k, well inside every sensor's range."""
    return [f32((lo + hi) / 2 + 0.14 * (hi - lo) * math.sin(0.0041 * (i + 1) * k + i))
            for i, (lo, hi) in enumerate(s["range"] for s in ROBOT["sensors"])]


def frame(pb, sequence: int, values=None, sim_time_ns: int = 0, **overrides) -> bytes:
    fields = dict(protocol_version=1, layout_hash=HASH, sequence=sequence, sender_time_ns=time.monotonic_ns(),
                  sim_time_ns=sim_time_ns, values=scripted(sequence) if values is None else values)
    fields.update(overrides)
    return pb.SensorFrame(**fields).SerializeToString()


def reason(command) -> str:
    return getattr(command, "reason", "")  # MotorCommand.reason (field 9) arrives with the fix


# ------------------------------------------------------------------ daemon and sockets

def config_copy(tmp: pathlib.Path, name="controller.yaml", **replacements) -> pathlib.Path:
    """The closed-loop fixture with its endpoints moved into `tmp` (and any other text replaced)."""
    for f in FIXTURES.iterdir():
        shutil.copy(f, tmp / f.name)
    text = (tmp / "controller.yaml").read_text()
    text = text.replace("ipc:///tmp/spikeloop-closed-loop-", f"ipc://{tmp}/")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    (tmp / name).write_text(text)
    return tmp / name


def realtime_config(tmp):
    return config_copy(tmp, "realtime.yaml", **{
        "mode: lockstep": "mode: realtime",
        f"frames: ipc://{tmp}/frames": f"frames: ipc://{tmp}/frames\n  commands: ipc://{tmp}/commands"})


@pytest.fixture
def tmp():
    folder = pathlib.Path(tempfile.mkdtemp(prefix="slh-", dir="/tmp"))  # IPC paths must stay short
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


class Daemon:
    """`spikeloop run` in `config`'s folder; stderr is drained into `lines`."""

    def __init__(self, config: pathlib.Path):
        self.process = subprocess.Popen([str(spikeloop_binary()), "run", "--config", str(config)], cwd=config.parent,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            if "ready:" in line:
                threading.Thread(target=lambda: self.lines.extend(self.process.stderr), daemon=True).start()
                return
        self.kill()
        raise AssertionError("daemon did not become ready:\n" + "".join(self.lines))

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def connect(context, kind, endpoint, timeout_ms=TIMEOUT_MS):
    s = context.socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, timeout_ms)
    s.setsockopt(zmq.SNDTIMEO, timeout_ms)
    s.connect(endpoint)
    return s


def request(socket, payload: bytes, what="request") -> bytes:
    socket.send(payload)
    try:
        return socket.recv()
    except zmq.Again:
        raise AssertionError(f"no reply to the {what} within {socket.getsockopt(zmq.RCVTIMEO)} ms") from None


def control(pb, tmp, command: str, **fields):
    """One ControlRequest on a fresh REQ socket; the parsed ControlReply."""
    with zmq.Context() as context, connect(context, zmq.REQ, f"ipc://{tmp}/control") as s:
        req = pb.ControlRequest(protocol_version=1, request_id=7, command=pb.enum("ControlCommand", command), **fields)
        return pb.ControlReply.FromString(request(s, req.SerializeToString(), command))


def hello(pb, socket):
    """Says Hello on a lockstep socket and checks the daemon's answer against our own layout hash."""
    channel = lambda c: pb.Channel(name=c["name"], unit=c["unit"], min=c["range"][0], max=c["range"][1])
    layout = pb.RobotLayout(robot=ROBOT["robot"], sensors=[channel(s) for s in ROBOT["sensors"]],
                            motors=[channel(m) for m in ROBOT["motors"]], layout_hash=HASH)
    ours = pb.Hello(protocol_version=1, role=pb.enum("PeerRole", "PEER_ROLE_SIMULATOR"), peer_name="test_hardening",
                    layout=layout)
    answer = pb.Hello.FromString(request(socket, ours.SerializeToString(), "Hello"))
    assert (answer.accepted, answer.reason, answer.layout.layout_hash) == (True, "", HASH)
    assert answer.role == pb.enum("PeerRole", "PEER_ROLE_CONTROLLER")


# ------------------------------------------------------------------ tests

def test_layout_hash_from_the_proto_comment_matches_the_daemons_hello(pb, tmp):
    """Precondition of the others: the hash computed from the .proto's recipe is the daemon's."""
    assert HASH == layout_hash({"robot": "test-arm", "sensors": ROBOT["sensors"], "motors": ROBOT["motors"]})
    daemon = Daemon(config_copy(tmp))
    try:
        with zmq.Context() as context, connect(context, zmq.REQ, f"ipc://{tmp}/frames") as s:
            hello(pb, s)
    finally:
        daemon.kill()


def test_lockstep_200_req_peers_each_get_the_reply_to_their_own_frame(pb, tmp):
    """Defect 1: with many REQ peers, a reply must answer the frame of the peer it goes to, intact."""
    peers, rounds = 200, 5
    daemon = Daemon(config_copy(tmp))
    context = zmq.Context()
    try:
        hello(pb, connect(context, zmq.REQ, f"ipc://{tmp}/frames"))
        sockets = [connect(context, zmq.REQ, f"ipc://{tmp}/frames") for _ in range(peers)]
        poller = zmq.Poller()
        sent = {}
        for p, s in enumerate(sockets):
            poller.register(s, zmq.POLLIN)
            sent[s] = (p, 1)
            s.send(frame(pb, p * 1_000_000 + 1, scripted(p + 1)))
        wrong, replies = [], 0
        while sent:
            ready = poller.poll(TIMEOUT_MS)
            assert ready, f"{len(sent)} peers got no reply within {TIMEOUT_MS} ms ({replies} replies so far)"
            for s, _ in ready:
                p, k = sent.pop(s)
                body, replies = s.recv(), replies + 1
                try:
                    got = pb.MotorCommand.FromString(body).sensor_sequence
                except Exception as error:
                    got = f"unparseable ({error})"
                if got != p * 1_000_000 + k:
                    wrong.append((p * 1_000_000 + k, got))
                if k < rounds:
                    sent[s] = (p, k + 1)
                    s.send(frame(pb, p * 1_000_000 + k + 1, scripted(p + k + 1)))
        assert replies == peers * rounds
        assert len(wrong) == 0, f"{len(wrong)} wrong replies (sent sequence, reply): {wrong[:5]}"
    finally:
        context.destroy(0)
        daemon.kill()


def test_lockstep_pipelining_dealer_does_not_corrupt_replies_to_a_req_peer(pb, tmp):
    """Defect 1: a DEALER pipelining 2000 requests beside a REQ peer; every reply answers its own frame."""
    count = 2000
    daemon = Daemon(config_copy(tmp))
    context = zmq.Context()
    try:
        req = connect(context, zmq.REQ, f"ipc://{tmp}/frames")
        hello(pb, req)
        dealer = context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.SNDHWM, 0)
        dealer.setsockopt(zmq.RCVHWM, 0)
        dealer.connect(f"ipc://{tmp}/frames")

        def sequence_of(body):
            try:
                return pb.MotorCommand.FromString(body).sensor_sequence
            except Exception as error:
                return f"unparseable ({error})"

        # The DEALER reads as it sends: a peer that leaves a thousand replies
        # unread loses the next ones (ZeroMQ drops a REP's reply to a full
        # pipe), which is that peer's doing, not a corrupted reply.
        dealer_replies, req_wrong = [], []
        for i in range(count):
            dealer.send_multipart([b"", frame(pb, 500_000_000 + i, scripted(i))])
            while dealer.poll(0):
                dealer_replies.append(sequence_of(dealer.recv_multipart()[-1]))
        poller = zmq.Poller()
        poller.register(req, zmq.POLLIN)
        poller.register(dealer, zmq.POLLIN)
        for k in range(1, count + 1):
            req.send(frame(pb, 900_000_000 + k, scripted(k)))
            answered = False
            while not answered:
                ready = dict(poller.poll(TIMEOUT_MS))
                assert ready, f"no reply within {TIMEOUT_MS} ms (REQ round {k}, {len(dealer_replies)} DEALER replies)"
                while dealer.poll(0):
                    dealer_replies.append(sequence_of(dealer.recv_multipart()[-1]))
                if req in ready:
                    got = sequence_of(req.recv())
                    if got != 900_000_000 + k:
                        req_wrong.append((900_000_000 + k, got))
                    answered = True
        while len(dealer_replies) < count and dealer.poll(TIMEOUT_MS):
            dealer_replies.append(sequence_of(dealer.recv_multipart()[-1]))
        assert len(req_wrong) == 0, f"{len(req_wrong)} wrong replies to the REQ peer (sent, reply): {req_wrong[:5]}"
        dealer_wrong = [(500_000_000 + i, got) for i, got in enumerate(dealer_replies) if got != 500_000_000 + i]
        assert (len(dealer_replies), len(dealer_wrong)) == (count, 0), f"DEALER (sent, reply): {dealer_wrong[:5]}"
    finally:
        context.destroy(0)
        daemon.kill()


REFUSED_KINDS = ["non-finite", "wrong layout", "wrong value count", "malformed", "wrong version"]


def refused_frame(pb, kind: str, j: int, rng) -> bytes:
    seq, values = 10_000 + j, scripted(j)
    if kind == "non-finite":
        return frame(pb, seq, [float("nan")] + values[1:])
    if kind == "wrong layout":
        return frame(pb, seq, values, layout_hash=HASH ^ (1 << (j % 64)))
    if kind == "wrong value count":
        return frame(pb, seq, values + [0.5])
    if kind == "malformed":
        return bytes([0x07]) + rng.randbytes(1 + j % 40)  # wire type 7 does not exist
    return frame(pb, seq, values, protocol_version=2)


def lockstep_run(pb, tmp, frames=300, refused_after=None, refused=500):
    """Valid frames 1..frames (sim_time_ns = k ms); optionally `refused` rejected ones after frame
    `refused_after`. Returns the replies to the valid frames and the STATUS reply at the end."""
    daemon = Daemon(config_copy(tmp))
    context = zmq.Context()
    rng = random.Random(20261201)
    try:
        s = connect(context, zmq.REQ, f"ipc://{tmp}/frames")
        hello(pb, s)
        valid = []
        for k in range(1, frames + 1):
            c = pb.MotorCommand.FromString(request(s, frame(pb, k, sim_time_ns=k * 1_000_000), f"frame {k}"))
            assert (c.sensor_sequence, c.sim_time_ns) == (k, k * 1_000_000)
            valid.append((c.safe_stop, c.layout_hash, c.sensor_sequence, c.sim_time_ns, bits(c.values)))
            if k == refused_after:
                problems = []
                for j in range(refused):
                    kind = REFUSED_KINDS[j % len(REFUSED_KINDS)]
                    c = pb.MotorCommand.FromString(request(s, refused_frame(pb, kind, j, rng), f"refused {kind} frame"))
                    if not (c.safe_stop and list(c.values) == SAFE and reason(c).startswith(f"refused frame: {kind}")):
                        problems.append(f"{kind}: safe_stop={c.safe_stop} values={list(c.values)} reason={reason(c)!r}")
                assert not problems, f"{len(problems)} of {refused} refused frames answered wrongly, e.g. {problems[:3]}"
        return valid, control(pb, tmp, "CONTROL_COMMAND_STATUS")
    finally:
        context.destroy(0)
        daemon.kill()


def test_refused_lockstep_frames_do_not_advance_the_controller(pb, tmp):
    """Defect 2: 500 refused frames get a safe command with the reason and leave the controller untouched."""
    run_a, _ = lockstep_run(pb, tmp)
    run_b, status = lockstep_run(pb, tmp, refused_after=100)
    first = next((i for i in range(len(run_a)) if run_a[i] != run_b[i]), None)
    assert first is None, f"frame {first + 1}: without refused frames {run_a[first]}, with {run_b[first]}"
    assert len({tuple(v[-1]) for v in run_a}) > 10  # the controller did something
    rejected = status.stats.rejected
    assert (status.stats.frames_accepted, rejected.non_finite, rejected.wrong_layout, rejected.wrong_value_count,
            rejected.malformed, rejected.wrong_version) == (300, 100, 100, 100, 100, 100)


@pytest.mark.parametrize("sequence", [2, 8, 10], ids=["as-PAUSE", "as-START_RECORDING", "as-SHUTDOWN"])
def test_sensor_frame_on_the_control_endpoint_is_refused(pb, tmp, sequence):
    """Defect 3: a SensorFrame is not a ControlRequest (its `sequence` would read as `command`)."""
    daemon = Daemon(config_copy(tmp))
    try:
        with zmq.Context() as context, connect(context, zmq.REQ, f"ipc://{tmp}/control") as s:
            reply = pb.ControlReply.FromString(request(s, frame(pb, sequence, [0.25, -0.5]), "SensorFrame"))
        assert reply.ok is False and "ControlRequest" in reply.error, (reply.ok, reply.error)
        time.sleep(0.2)
        assert daemon.alive(), "the daemon exited"
        status = control(pb, tmp, "CONTROL_COMMAND_STATUS")
        running = {pb.enum("LoopState", "LOOP_STATE_RUNNING"), pb.enum("LoopState", "LOOP_STATE_WAITING")}
        assert status.state in running, f"state {status.state}"
        assert status.stats.recording_path == ""
        assert list(tmp.glob("*.mcap")) == []
    finally:
        daemon.kill()


def test_oversized_lockstep_request_is_answered_and_counted(pb, tmp):
    """Defect 4: a 200 KiB request gets a safe reply "refused frame: oversized"; the daemon keeps serving."""
    daemon = Daemon(config_copy(tmp))
    try:
        with zmq.Context() as context, connect(context, zmq.REQ, f"ipc://{tmp}/frames") as s:
            hello(pb, s)
            c = pb.MotorCommand.FromString(request(s, random.Random(4).randbytes(200 * 1024), "200 KiB request"))
            assert (c.safe_stop, reason(c)) == (True, "refused frame: oversized")
            assert control(pb, tmp, "CONTROL_COMMAND_STATUS").stats.rejected.oversized == 1
            c = pb.MotorCommand.FromString(request(s, frame(pb, 1, sim_time_ns=1_000_000), "valid frame"))
            assert (c.safe_stop, c.sensor_sequence, c.sim_time_ns) == (False, 1, 1_000_000)
    finally:
        daemon.kill()


def vm(pid: int, key: str) -> int:
    """A /proc/PID/status memory figure in bytes."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def test_realtime_sub_refuses_a_64_mib_message_without_buffering_it(pb, tmp):
    """Defect 5: the realtime frames SUB has a size limit; a 64 MiB message must not grow RSS by 16 MiB."""
    daemon = Daemon(realtime_config(tmp))
    context = zmq.Context()
    try:
        pub = context.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        pub.connect(f"ipc://{tmp}/frames")
        for k in range(1, 501):  # half a second of frames: the subscription is up, RSS settles
            pub.send(frame(pb, k))
            time.sleep(0.001)
        assert control(pb, tmp, "CONTROL_COMMAND_STATUS").stats.frames_accepted > 0
        pid = daemon.process.pid
        before, hwm_before = vm(pid, "VmRSS"), vm(pid, "VmHWM")
        pub.send(b"\x0a" * (64 << 20))
        peak, deadline = before, time.monotonic() + 2.0
        while time.monotonic() < deadline:
            peak = max(peak, vm(pid, "VmRSS"))
            time.sleep(0.005)
        hwm = vm(pid, "VmHWM")
        if hwm > hwm_before:
            peak = max(peak, hwm)
        growth = peak - before
        assert growth < 16 << 20, f"RSS grew by {growth / (1 << 20):.1f} MiB"
        assert daemon.alive() and control(pb, tmp, "CONTROL_COMMAND_STATUS").ok
    finally:
        context.destroy(0)
        daemon.kill()


def test_lockstep_sigterm_last_reply_is_safe_and_exit_is_prompt(pb, tmp):
    """Defect 6: on SIGTERM a streaming lockstep peer's last reply is a safe stop; exit 0 within 1 s."""
    daemon = Daemon(config_copy(tmp))
    exited = []
    threading.Thread(target=lambda: exited.append((daemon.process.wait(), time.monotonic())), daemon=True).start()
    signalled = []

    def terminate():
        signalled.append(time.monotonic())
        daemon.process.send_signal(signal.SIGTERM)

    try:
        with zmq.Context() as context, connect(context, zmq.REQ, f"ipc://{tmp}/frames", timeout_ms=200) as s:
            hello(pb, s)
            replies, k = [], 0
            timer = threading.Timer(0.3, terminate)
            timer.start()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                k += 1
                try:
                    s.send(frame(pb, k, sim_time_ns=k * 1_000_000))
                    replies.append(pb.MotorCommand.FromString(s.recv()))
                except zmq.Again:
                    break
            else:
                pytest.fail("the daemon still answered 5 s after SIGTERM")
            timer.join()
        assert any(not c.safe_stop for c in replies[:-1]), "the loop never ran before the signal"
        last = replies[-1]
        assert (last.safe_stop, list(last.values)) == (True, SAFE), f"last of {len(replies)} replies: {last}"
        deadline = signalled[0] + 1.0
        while not exited and time.monotonic() < deadline + 0.5:
            time.sleep(0.01)
        assert exited, "the daemon did not exit"
        status, at = exited[0]
        assert (status, at - signalled[0] < 1.0) == (0, True), f"exit {status} after {at - signalled[0]:.3f} s"
    finally:
        daemon.kill()


def test_set_reward_refuses_non_finite_and_huge_rewards(pb, tmp):
    """Defect 7: SET_REWARD with NaN or ±1e30 is refused with an error about the reward; 0.5 is taken."""
    daemon = Daemon(config_copy(tmp))
    try:
        for value in (float("nan"), 1e30, -1e30):
            reply = control(pb, tmp, "CONTROL_COMMAND_SET_REWARD", reward=value)
            assert reply.ok is False and "reward" in reply.error, (value, reply.ok, reply.error)
        reply = control(pb, tmp, "CONTROL_COMMAND_SET_REWARD", reward=0.5)
        assert (reply.ok, reply.error) == (True, "")
    finally:
        daemon.kill()


@pytest.mark.parametrize("endpoint", ["tcp://localhost:5999", "tcp://0.0.0.0;127.0.0.1:5999"])
def test_check_refuses_a_frames_endpoint_libzmq_would_misread(tmp, endpoint):
    """Defect 8: `spikeloop check` refuses a host name or a `;`-source endpoint under endpoints.frames."""
    def check(config):
        return subprocess.run([str(spikeloop_binary()), "check", "--config", str(config)], capture_output=True,
                              text=True, timeout=30)

    good = check(config_copy(tmp))
    assert good.returncode == 0, good.stdout + good.stderr
    bad = check(config_copy(tmp, "bad.yaml", **{f"frames: ipc://{tmp}/frames": f"frames: {endpoint}"}))
    assert bad.returncode != 0 and "endpoints.frames" in bad.stdout + bad.stderr, (bad.returncode, bad.stderr)


def test_load_weights_from_a_fifo_is_refused_at_once_and_sigterm_still_exits(pb, tmp):
    """Defect 3: a FIFO (or any non-regular file) is refused without opening it for reading, so
    neither the control thread, `status` nor SIGTERM hangs."""
    fifo = tmp / "weights.fifo"
    os.mkfifo(fifo)
    daemon = Daemon(config_copy(tmp))
    try:
        started = time.monotonic()
        reply = control(pb, tmp, "CONTROL_COMMAND_LOAD_WEIGHTS", path=str(fifo))
        assert time.monotonic() - started < 1.0
        assert not reply.ok and "not a regular file (a FIFO)" in reply.error, reply.error
        assert control(pb, tmp, "CONTROL_COMMAND_STATUS").ok
        for device in ("/dev/zero", str(tmp)):
            reply = control(pb, tmp, "CONTROL_COMMAND_LOAD_WEIGHTS", path=device)
            assert not reply.ok and "not a regular file" in reply.error, reply.error
        daemon.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert daemon.process.wait(timeout=5) == 0
        assert time.monotonic() - signalled < 1.0
    finally:
        daemon.kill()


def test_a_second_daemon_on_a_live_ipc_endpoint_refuses_to_start_and_a_stale_one_is_replaced(pb, tmp):
    """Defect 6: libzmq's ipc bind removes whatever is at the path, so a second daemon used to take
    the endpoints of a running one. It must refuse instead; a socket file left by a killed daemon
    (nobody listening) is replaced."""
    config = config_copy(tmp)
    first = Daemon(config)
    try:
        second = subprocess.run([str(spikeloop_binary()), "run", "--config", str(config)], cwd=tmp,
                                capture_output=True, text=True, timeout=30)
        assert second.returncode != 0
        assert f"ipc://{tmp}/frames is in use" in second.stderr, second.stderr
        # The first daemon still owns its endpoints.
        assert control(pb, tmp, "CONTROL_COMMAND_STATUS").ok
        with zmq.Context() as context, connect(context, zmq.REQ, f"ipc://{tmp}/frames") as s:
            hello(pb, s)
        first.process.kill()
        first.process.wait()
        assert (tmp / "frames").exists()  # left behind by SIGKILL
        third = Daemon(config)
        try:
            assert control(pb, tmp, "CONTROL_COMMAND_STATUS").ok
        finally:
            third.kill()
    finally:
        first.kill()


def curve_keys(folder: pathlib.Path, name: str):
    """A CURVE key pair written as the daemon expects: NAME.public, NAME.secret (mode 0600)."""
    public, secret = zmq.curve_keypair()
    (folder / f"{name}.public").write_bytes(public + b"\n")
    (folder / f"{name}.secret").write_bytes(secret + b"\n")
    os.chmod(folder / f"{name}.secret", 0o600)
    return public, secret


def test_curve_lets_in_only_listed_client_keys(pb, tmp):
    """Defect 4: with CURVE, a client that knows the server's public key but whose own key is not
    in curve_client_keys is refused (and counted); a listed operator gets in, also through the CLI."""
    server_public, _ = curve_keys(tmp, "server")
    (tmp / "clients").mkdir()
    operator_public, operator_secret = curve_keys(tmp / "clients", "operator")
    config = config_copy(tmp, **{
        f"control: ipc://{tmp}/control":
            f"control: tcp://127.0.0.1:{free_port()}\n  curve_secret_key: server.secret\n  curve_client_keys: clients"})
    control_endpoint = [l.split(": ", 1)[1] for l in config.read_text().splitlines() if "control: tcp" in l][0]
    daemon = Daemon(config)
    try:
        def ask(public, secret):
            with zmq.Context() as context:
                s = context.socket(zmq.REQ)
                s.setsockopt(zmq.LINGER, 0)
                s.setsockopt(zmq.RCVTIMEO, 1000)
                s.curve_serverkey, s.curve_publickey, s.curve_secretkey = server_public, public, secret
                s.connect(control_endpoint)
                req = pb.ControlRequest(protocol_version=1, request_id=3,
                                        command=pb.enum("ControlCommand", "CONTROL_COMMAND_SHUTDOWN"))
                s.send(req.SerializeToString())
                try:
                    return pb.ControlReply.FromString(s.recv())
                except zmq.Again:
                    return None
                finally:
                    s.close()

        stranger_public, stranger_secret = zmq.curve_keypair()
        assert ask(stranger_public, stranger_secret) is None  # refused: shutdown never arrives
        assert daemon.alive()
        status = subprocess.run([str(spikeloop_binary()), "status", "--endpoint", control_endpoint,
                                 "--server-key", str(tmp / "server.public"),
                                 "--client-key", str(tmp / "clients/operator.secret")],
                                capture_output=True, text=True, timeout=10)
        assert status.returncode == 0, status.stderr
        assert "unknown clients refused" in status.stdout, status.stdout
        reply = ask(operator_public, operator_secret)
        assert reply is not None and reply.ok
        assert daemon.process.wait(timeout=5) == 0
    finally:
        daemon.kill()


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_control_recordings_stay_in_the_recording_directory_and_never_replace_a_file(pb, tmp):
    """Defect 5: start-recording over the control channel writes only inside the recording
    directory (the configuration's folder here) and never onto an existing file."""
    outside = pathlib.Path(tempfile.mkdtemp(prefix="slh-out-", dir="/tmp"))
    daemon = Daemon(config_copy(tmp))
    try:
        for path in (str(outside / "x.mcap"), "../x.mcap", str(tmp / ".." / "x.mcap")):
            reply = control(pb, tmp, "CONTROL_COMMAND_START_RECORDING", path=path)
            assert not reply.ok and ("outside the recording directory" in reply.error or "'..'" in reply.error), reply.error
        assert list(outside.iterdir()) == []
        precious = tmp / "precious.mcap"
        precious.write_bytes(b"keep me")
        reply = control(pb, tmp, "CONTROL_COMMAND_START_RECORDING", path=str(precious))
        assert not reply.ok and "never replace" in reply.error, reply.error
        assert precious.read_bytes() == b"keep me"
        reply = control(pb, tmp, "CONTROL_COMMAND_START_RECORDING", path="fresh.mcap")
        assert reply.ok and reply.message == f"recording to {tmp}/fresh.mcap", reply.message
        assert control(pb, tmp, "CONTROL_COMMAND_STOP_RECORDING").ok
        assert (tmp / "fresh.mcap").stat().st_size > 0
    finally:
        daemon.kill()
        shutil.rmtree(outside, ignore_errors=True)


def test_realtime_counts_every_message_of_a_flood_and_refuses_multipart_as_lockstep_does(pb, tmp):
    """Defect 12: the realtime SUB used CONFLATE, which took the last part of a multipart message
    and kept most of a garbage flood from the counters. Now each message is read and counted."""
    daemon = Daemon(realtime_config(tmp))
    context = zmq.Context()
    try:
        pub = context.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        pub.setsockopt(zmq.SNDHWM, 0)
        pub.connect(f"ipc://{tmp}/frames")
        k = 0
        while control(pb, tmp, "CONTROL_COMMAND_STATUS").stats.frames_accepted < 100:
            for _ in range(10):
                k += 1
                pub.send(frame(pb, k))
                time.sleep(0.001)
        before = control(pb, tmp, "CONTROL_COMMAND_STATUS").stats
        pub.send_multipart([frame(pb, k + 1), frame(pb, k + 2)])
        rng = random.Random(5)
        for _ in range(1000):
            pub.send(bytes([0x0f]) + bytes(rng.getrandbits(8) for _ in range(20)))  # tag 1, wire type 7: malformed
        time.sleep(0.5)
        after = control(pb, tmp, "CONTROL_COMMAND_STATUS").stats
        assert after.rejected.oversized - before.rejected.oversized == 1  # the multipart message
        assert after.rejected.malformed - before.rejected.malformed == 1000
        assert after.frames_accepted == before.frames_accepted  # neither part was taken
    finally:
        context.destroy(0)
        daemon.kill()
