"""The robot side of a simulator bridge: what `spikeloop sim` does on the
wire (Sources/Sim/Runner.swift), for simulators written in Python.

Per tick the bridge hands over the sensor values in wire order; the link
clamps them to their channels' ranges (a saturating sensor, counted: the
daemon rejects out-of-range frames), sends the frame, and returns the motor
values to apply, clamped to the motors' ranges (NaN -> safe value) and held
for one period. Sequence numbers and sim_time_ns run on over the whole run,
not per episode, as the built-in simulators do.

Lockstep: REQ to the daemon's frames endpoint (REP), one frame, one command.
Realtime: PUB frames, SUB (CONFLATE) commands, paced by the wall clock with
absolute deadlines; the newest command is held, the safe values until the first.
"""

import math
import time
from dataclasses import dataclass
from typing import List, Optional, Sequence

import zmq

from .client import PROTOCOL_VERSION, Operator, SpikeloopError, Timeout
from .gen.spikeloop.v1 import spikeloop_pb2 as pb
from .robot import RobotDescription


@dataclass
class LinkCounters:
    """What went wrong on the wire during one episode (the built-in sim's counters)."""

    sequence_errors: int = 0
    bad_commands: int = 0
    safe_stop_ticks: int = 0
    saturated_values: int = 0
    commands_received: int = 0
    max_command_age: int = 0

    def describe(self, realtime: bool) -> str:
        parts = []
        for key, label in (("sequence_errors", "sequence errors"), ("bad_commands", "bad commands"),
                           ("safe_stop_ticks", "safe-stop ticks"), ("saturated_values", "saturated sensor values")):
            if getattr(self, key):
                parts.append(f"{label} {getattr(self, key)}")
        if realtime:
            parts.append(f"commands {self.commands_received}  max command age {self.max_command_age} ticks")
        return "  ".join(parts)


class SimLink:
    """One connection to the daemon for a whole run of episodes."""

    def __init__(self, robot: RobotDescription, *, rate_hz: float, endpoint: str, mode: str = "lockstep",
                 commands: Optional[str] = None, control: Optional[str] = None, timeout_ms: int = 5000,
                 hello: bool = True, peer_name: str = "spikeloop python bridge"):
        if mode not in ("lockstep", "realtime"):
            raise ValueError(f"mode: '{mode}' is not one of lockstep, realtime")
        if mode == "realtime" and not commands:
            raise ValueError("realtime mode needs the daemon's command endpoint (its PUB), e.g. tcp://127.0.0.1:5556")
        self.robot = robot
        self.layout = robot.layout
        self.hash = self.layout.hash
        self.mode = mode
        self.period_ns = int(round(1e9 / rate_hz))
        self.timeout_ms = timeout_ms
        self.endpoint = endpoint
        self.sequence = 0
        self.tick = 0
        self._lo = [c.min for c in robot.sensors]
        self._hi = [c.max for c in robot.sensors]
        self._mlo = [m.min for m in robot.motors]
        self._mhi = [m.max for m in robot.motors]
        self._safe = [m.safe for m in robot.motors]
        self.motors: List[float] = list(self._safe)
        self.counters = LinkCounters()
        self._last_answered = 0
        self._deadline = 0
        self.context = zmq.Context()
        self._operator = Operator(control, timeout_ms=timeout_ms, context=self.context) if control else None
        # One frame object reused every tick: building a message is most of a Python tick's cost.
        self._frame = pb.SensorFrame(protocol_version=PROTOCOL_VERSION, layout_hash=self.hash)
        if mode == "lockstep":
            self._req = self.context.socket(zmq.REQ)
            self._req.setsockopt(zmq.LINGER, 0)
            self._req.connect(endpoint)
            if hello:
                self._hello(peer_name, rate_hz)
        else:
            self._pub = self.context.socket(zmq.PUB)
            self._pub.setsockopt(zmq.LINGER, 0)
            self._pub.connect(endpoint)
            self._sub = self.context.socket(zmq.SUB)
            self._sub.setsockopt(zmq.LINGER, 0)
            self._sub.setsockopt(zmq.CONFLATE, 1)
            self._sub.setsockopt(zmq.SUBSCRIBE, b"")
            self._sub.connect(commands)

    def _no_answer(self) -> Timeout:
        return Timeout(f"no answer from {self.endpoint} within {self.timeout_ms} ms; is `spikeloop run` serving "
                       f"this robot ({self.robot.path}) in lockstep mode there?")

    def _hello(self, peer_name: str, rate_hz: float) -> None:
        hello = pb.Hello(protocol_version=PROTOCOL_VERSION, role=pb.PEER_ROLE_SIMULATOR, peer_name=peer_name,
                         layout=self.layout.to_proto(), tick_hz=rate_hz)
        self._req.send(hello.SerializeToString())
        if not self._req.poll(self.timeout_ms, zmq.POLLIN):
            raise self._no_answer()
        answer = pb.Hello()
        try:
            answer.ParseFromString(self._req.recv())
        except Exception:  # noqa: BLE001 - any undecodable answer means the same thing
            answer.protocol_version = 0
        if answer.protocol_version == 0:
            raise SpikeloopError(f"{self.endpoint} did not answer the Hello with a Hello; is it a spikeloop daemon in lockstep mode?")
        if not answer.accepted:
            raise SpikeloopError(f"the daemon refused this robot ({self.robot.path}): {answer.reason}")

    def begin_episode(self) -> None:
        """Resets the daemon (network, coders, safety filter) when a control endpoint was given,
        and the held motor values to the safe ones."""
        if self._operator is not None:
            try:
                self._operator.reset()
            except SpikeloopError as e:
                raise SpikeloopError(f"cannot reset the daemon through its control endpoint: {e}") from None
        self.motors = list(self._safe)
        self.counters = LinkCounters()
        self._deadline = time.monotonic_ns()

    def _encode(self, values: Sequence[float], reward: Optional[float]) -> bytes:
        frame = self._frame
        self.sequence += 1
        frame.sequence = self.sequence
        frame.sender_time_ns = time.monotonic_ns()
        frame.sim_time_ns = self.tick * self.period_ns
        clamped = []
        for v, lo, hi in zip(values, self._lo, self._hi):
            if not v >= lo:  # also NaN
                v = lo
                self.counters.saturated_values += 1
            elif v > hi:
                v = hi
                self.counters.saturated_values += 1
            clamped.append(v)
        frame.values[:] = clamped
        if reward is None:
            frame.ClearField("reward")
        else:
            frame.reward = reward
        return frame.SerializeToString()

    def _take(self, payload: bytes) -> Optional["pb.MotorCommand"]:
        try:
            command = pb.MotorCommand.FromString(payload)
        except Exception:  # noqa: BLE001 - a bad command is counted and the previous one held
            self.counters.bad_commands += 1
            return None
        if len(command.values) != len(self._safe):
            self.counters.bad_commands += 1
            return None
        if command.layout_hash != self.hash:
            raise SpikeloopError(f"the daemon's commands follow another layout (hash {command.layout_hash:#018x}, ours "
                                 f"{self.hash:#018x} from {self.robot.path}); start it with a configuration whose robot "
                                 f"is {self.robot.path}")
        if command.safe_stop:
            self.counters.safe_stop_ticks += 1
        self.motors = [s if math.isnan(v) else min(max(v, lo), hi)
                       for v, lo, hi, s in zip(command.values, self._mlo, self._mhi, self._safe)]
        return command

    def exchange(self, values: Sequence[float], reward: Optional[float] = None) -> List[float]:
        """Sends this tick's sensor values; returns the motor values to hold for the coming period."""
        payload = self._encode(values, reward)
        if self.mode == "lockstep":
            self._req.send(payload)
            if not self._req.poll(self.timeout_ms, zmq.POLLIN):
                raise self._no_answer()
            command = self._take(self._req.recv())
            if command is not None and command.sensor_sequence != self.sequence:
                self.counters.sequence_errors += 1
        else:
            try:
                self._pub.send(payload, zmq.NOBLOCK)
            except zmq.Again:
                pass
            self._deadline += self.period_ns
            wait = self._deadline - time.monotonic_ns()
            if wait > 0:
                time.sleep(wait / 1e9)
            elif -wait > self.period_ns:
                self._deadline = time.monotonic_ns()  # overrun: go on from now, as the built-in sim does
            while True:
                try:
                    payload = self._sub.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                command = self._take(payload)
                if command is not None:
                    self.counters.commands_received += 1
                    if command.sensor_sequence < self._last_answered:
                        self.counters.sequence_errors += 1
                    self._last_answered = command.sensor_sequence
            if self._last_answered:
                self.counters.max_command_age = max(self.counters.max_command_age, self.sequence - self._last_answered)
        self.tick += 1
        return self.motors

    def close(self) -> None:
        if self._operator is not None:
            self._operator.close()
        self.context.destroy(linger=0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
