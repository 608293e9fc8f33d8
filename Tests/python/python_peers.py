"""Python counterparts of Wire's test peers (controller side), for the Swift-as-client directions."""

import threading

import zmq

from spikeloop_client import pb
from spikeloop_client.testing import float_bits, pattern_bits


class LockstepEchoServer(threading.Thread):
    """REP: answers each SensorFrame with a MotorCommand echoing its values; counts pattern mismatches."""

    def __init__(self, endpoint: str, layout, frames: int):
        super().__init__(daemon=True)
        self.endpoint, self.layout, self.frames = endpoint, layout, frames
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(endpoint)
        self.answered = 0
        self.mismatches = 0
        self.out_of_order = 0
        self.error = None

    def run(self):
        try:
            last = 0
            while self.answered < self.frames:
                if not self.socket.poll(10_000):
                    raise TimeoutError("no frame for 10 s")
                frame = pb.SensorFrame.FromString(self.socket.recv())
                if frame.sequence != last + 1:
                    self.out_of_order += 1
                last = frame.sequence
                if frame.layout_hash != self.layout.hash or [float_bits(v) for v in frame.values] != [
                        pattern_bits(frame.sequence, i) for i in range(len(self.layout.sensors))]:
                    self.mismatches += 1
                command = pb.MotorCommand(protocol_version=1, layout_hash=self.layout.hash, sequence=frame.sequence,
                                          sensor_sequence=frame.sequence, sim_time_ns=frame.sim_time_ns,
                                          values=frame.values)
                self.socket.send(command.SerializeToString())
                self.answered += 1
        except Exception as error:  # noqa: BLE001 - reported by the test
            self.error = error
        finally:
            self.socket.close(0)
            self.context.term()


class RealtimeEchoController(threading.Thread):
    """SUB (CONFLATE) frames -> PUB echo commands, until the frame `until` was answered (and repeated)."""

    def __init__(self, frames_endpoint: str, commands_endpoint: str, layout, until: int):
        super().__init__(daemon=True)
        self.layout, self.until = layout, until
        self.context = zmq.Context()
        self.sub = self.context.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.CONFLATE, 1)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.bind(frames_endpoint)
        self.pub = self.context.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind(commands_endpoint)
        self.received = 0
        self.mismatches = 0
        self.regressions = 0
        self.finished = False
        self.error = None

    def run(self):
        try:
            last = 0
            sequence = 0
            while not self.finished:
                if not self.sub.poll(10_000):
                    raise TimeoutError("no frame for 10 s")
                frame = pb.SensorFrame.FromString(self.sub.recv())
                self.received += 1
                if frame.sequence < last:
                    self.regressions += 1
                last = frame.sequence
                if [float_bits(v) for v in frame.values] != [pattern_bits(frame.sequence, i)
                                                              for i in range(len(self.layout.sensors))]:
                    self.mismatches += 1
                sequence += 1
                command = pb.MotorCommand(protocol_version=1, layout_hash=self.layout.hash, sequence=sequence,
                                          sensor_sequence=frame.sequence, values=frame.values)
                payload = command.SerializeToString()
                self.pub.send(payload)
                if frame.sequence == self.until:
                    self.finished = True
                    for _ in range(50):
                        self.pub.send(payload)
                        self.sub.poll(2)
        except Exception as error:  # noqa: BLE001
            self.error = error
        finally:
            self.sub.close(0)
            self.pub.close(0)
            self.context.term()
