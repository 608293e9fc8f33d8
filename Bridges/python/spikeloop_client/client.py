"""Robot, simulator and operator peers of the spikeloop daemon."""

import itertools
import re
import time
from typing import Optional, Sequence

import zmq

from .gen.spikeloop.v1 import spikeloop_pb2 as pb
from .keys import CurveKeys
from .layout import Layout

PROTOCOL_VERSION = pb.PROTOCOL_VERSION_CURRENT


class SpikeloopError(Exception):
    """The daemon refused a request or answered something unexpected."""


class Timeout(SpikeloopError):
    """No answer within the timeout."""


_LOCAL = re.compile(r"^(ipc|inproc)://|^tcp://(.*;)?(127\.\d+\.\d+\.\d+|localhost|\[::1\]|lo)(:|$)")


def is_local_endpoint(endpoint: str) -> bool:
    """Loopback TCP, IPC or inproc: reachable from this host only."""
    return bool(_LOCAL.match(endpoint))


def _configure(sock: zmq.Socket, endpoint: str, server_key: Optional[bytes], keys: Optional[CurveKeys],
               insecure: bool) -> None:
    sock.setsockopt(zmq.LINGER, 0)
    if server_key is not None:
        keys = keys or CurveKeys(*zmq.curve_keypair())
        sock.curve_serverkey = server_key
        sock.curve_publickey = keys.public
        sock.curve_secretkey = keys.secret
    elif not is_local_endpoint(endpoint) and not insecure:
        raise SpikeloopError(
            f"endpoint {endpoint} is reachable from other hosts but no CURVE server key was given; "
            "pass server_key (the daemon's .public file) or insecure=True")


def make_sensor_frame(layout: Layout, sequence: int, values: Sequence[float], *, sender_time_ns: Optional[int] = None,
                      sim_time_ns: int = 0, reward: Optional[float] = None, estop: bool = False) -> "pb.SensorFrame":
    frame = pb.SensorFrame(
        protocol_version=PROTOCOL_VERSION,
        layout_hash=layout.hash,
        sequence=sequence,
        sender_time_ns=time.monotonic_ns() if sender_time_ns is None else sender_time_ns,
        sim_time_ns=sim_time_ns,
        values=values,
        estop=estop,
    )
    if reward is not None:
        frame.reward = reward
    return frame


class _Peer:
    def __init__(self, context: Optional[zmq.Context]):
        self._own_context = context is None
        self.context = context or zmq.Context()
        self._sockets = []

    def _socket(self, kind: int) -> zmq.Socket:
        sock = self.context.socket(kind)
        self._sockets.append(sock)
        return sock

    def close(self) -> None:
        """Closes the sockets at once (LINGER 0: unsent messages are dropped)."""
        for sock in self._sockets:
            sock.close(linger=0)
        self._sockets = []
        if self._own_context:
            self.context.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LockstepClient(_Peer):
    """A simulator in lockstep mode: sends a SensorFrame, waits for its MotorCommand (REQ)."""

    def __init__(self, endpoint: str, layout: Layout, *, timeout_ms: int = 5000, server_key: Optional[bytes] = None,
                 keys: Optional[CurveKeys] = None, insecure: bool = False, context: Optional[zmq.Context] = None):
        super().__init__(context)
        self.layout = layout
        self.timeout_ms = timeout_ms
        self.sequence = 0
        self.socket = self._socket(zmq.REQ)
        self.socket.setsockopt(zmq.REQ_RELAXED, 1)
        self.socket.setsockopt(zmq.REQ_CORRELATE, 1)
        _configure(self.socket, endpoint, server_key, keys, insecure)
        self.socket.connect(endpoint)

    def request(self, payload: bytes) -> bytes:
        """Sends raw bytes and returns the raw answer (raises Timeout)."""
        self.socket.send(payload)
        if not self.socket.poll(self.timeout_ms, zmq.POLLIN):
            raise Timeout(f"no MotorCommand within {self.timeout_ms} ms")
        return self.socket.recv()

    def step(self, values: Sequence[float], *, sim_time_ns: int = 0, reward: Optional[float] = None,
             estop: bool = False) -> "pb.MotorCommand":
        """Sends the next frame (sequence + 1) and returns the daemon's MotorCommand."""
        self.sequence += 1
        frame = make_sensor_frame(self.layout, self.sequence, values, sim_time_ns=sim_time_ns, reward=reward,
                                  estop=estop)
        command = pb.MotorCommand.FromString(self.request(frame.SerializeToString()))
        if command.layout_hash != self.layout.hash:
            raise SpikeloopError(f"MotorCommand layout_hash {command.layout_hash:#018x}, expected {self.layout.hash:#018x}")
        return command

    def hello(self, role: int = pb.PEER_ROLE_SIMULATOR, peer_name: str = "spikeloop_client") -> "pb.Hello":
        """Handshake on this socket (for daemons that expect it first)."""
        hello = pb.Hello(protocol_version=PROTOCOL_VERSION, role=role, peer_name=peer_name,
                         layout=self.layout.to_proto())
        return pb.Hello.FromString(self.request(hello.SerializeToString()))


class RealtimeRobot(_Peer):
    """A robot in realtime mode: publishes frames (PUB) and reads the newest command (SUB, CONFLATE)."""

    def __init__(self, frames_endpoint: str, commands_endpoint: str, layout: Layout, *,
                 server_key: Optional[bytes] = None, keys: Optional[CurveKeys] = None, insecure: bool = False,
                 context: Optional[zmq.Context] = None):
        super().__init__(context)
        self.layout = layout
        self.sequence = 0
        self.publisher = self._socket(zmq.PUB)
        _configure(self.publisher, frames_endpoint, server_key, keys, insecure)
        self.publisher.connect(frames_endpoint)
        self.subscriber = self._socket(zmq.SUB)
        self.subscriber.setsockopt(zmq.CONFLATE, 1)
        self.subscriber.setsockopt(zmq.SUBSCRIBE, b"")
        _configure(self.subscriber, commands_endpoint, server_key, keys, insecure)
        self.subscriber.connect(commands_endpoint)

    def publish(self, values: Sequence[float], *, sequence: Optional[int] = None, reward: Optional[float] = None,
                estop: bool = False) -> int:
        """Publishes a frame (next sequence unless given); returns its sequence. Never blocks."""
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        frame = make_sensor_frame(self.layout, sequence, values, reward=reward, estop=estop)
        try:
            self.publisher.send(frame.SerializeToString(), zmq.NOBLOCK)
        except zmq.Again:
            pass
        return sequence

    def latest_command(self, timeout_ms: int = 0) -> Optional["pb.MotorCommand"]:
        """The newest MotorCommand, or None if none arrived within timeout_ms."""
        if not self.subscriber.poll(timeout_ms, zmq.POLLIN):
            return None
        command = None
        while True:
            try:
                command = pb.MotorCommand.FromString(self.subscriber.recv(zmq.NOBLOCK))
            except zmq.Again:
                return command


class Operator(_Peer):
    """An operator tool: ControlRequest -> ControlReply on the daemon's control socket (REQ)."""

    def __init__(self, endpoint: str, *, timeout_ms: int = 5000, server_key: Optional[bytes] = None,
                 keys: Optional[CurveKeys] = None, insecure: bool = False, context: Optional[zmq.Context] = None):
        super().__init__(context)
        self.timeout_ms = timeout_ms
        self._ids = itertools.count(1)
        self.socket = self._socket(zmq.REQ)
        self.socket.setsockopt(zmq.REQ_RELAXED, 1)
        self.socket.setsockopt(zmq.REQ_CORRELATE, 1)
        _configure(self.socket, endpoint, server_key, keys, insecure)
        self.socket.connect(endpoint)

    def request(self, command: int, *, path: str = "", reward: float = 0.0,
                learning_rate: float = 0.0) -> "pb.ControlReply":
        request = pb.ControlRequest(protocol_version=PROTOCOL_VERSION, request_id=next(self._ids), command=command,
                                    path=path, reward=reward, learning_rate=learning_rate)
        self.socket.send(request.SerializeToString())
        if not self.socket.poll(self.timeout_ms, zmq.POLLIN):
            raise Timeout(f"no ControlReply within {self.timeout_ms} ms")
        reply = pb.ControlReply.FromString(self.socket.recv())
        if reply.request_id != request.request_id:
            raise SpikeloopError(f"ControlReply for request {reply.request_id}, expected {request.request_id}")
        if not reply.ok:
            raise SpikeloopError(reply.error or "request refused")
        return reply

    def status(self):
        return self.request(pb.CONTROL_COMMAND_STATUS)

    def pause(self):
        return self.request(pb.CONTROL_COMMAND_PAUSE)

    def resume(self):
        return self.request(pb.CONTROL_COMMAND_RESUME)

    def reset(self):
        return self.request(pb.CONTROL_COMMAND_RESET)

    def reload(self):
        """Re-read the daemon's configuration file, as SIGHUP does; refused changes raise."""
        return self.request(pb.CONTROL_COMMAND_RELOAD)

    def set_reward(self, reward: float):
        return self.request(pb.CONTROL_COMMAND_SET_REWARD, reward=reward)

    def set_learning_rate(self, rate: float):
        """Scales every plastic weight change from the next tick (0 freezes the weights)."""
        return self.request(pb.CONTROL_COMMAND_SET_LEARNING_RATE, learning_rate=rate)

    def save_weights(self, path: str):
        return self.request(pb.CONTROL_COMMAND_SAVE_WEIGHTS, path=path)

    def load_weights(self, path: str):
        return self.request(pb.CONTROL_COMMAND_LOAD_WEIGHTS, path=path)

    def start_recording(self, path: str):
        return self.request(pb.CONTROL_COMMAND_START_RECORDING, path=path)

    def stop_recording(self):
        return self.request(pb.CONTROL_COMMAND_STOP_RECORDING)

    def safe_stop(self):
        return self.request(pb.CONTROL_COMMAND_SAFE_STOP)

    def shutdown(self):
        return self.request(pb.CONTROL_COMMAND_SHUTDOWN)
