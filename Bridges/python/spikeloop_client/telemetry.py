"""The daemon's live telemetry stream (docs/wire.md, "Telemetry").

The daemon publishes every channel of a session recording (sensors, motor
commands, spikes, probes, events, loop statistics, the values by name) on its
``endpoints.telemetry`` PUB socket while it runs, as three-part messages:
topic, log time (8 bytes, little-endian ns) and the protobuf message. The
channel list, with each channel's schema, comes on topic ``@channels`` when
the stream starts and then once a second::

    with Telemetry("ipc:///run/spikeloop/telemetry", topics=["/sensors/named"]) as t:
        for topic, log_time, message in t.messages(timeout_ms=1000):
            print(topic, log_time, message)   # decoded with the channel's own schema
"""

import time
from typing import Dict, Iterable, Iterator, Optional, Tuple

import zmq
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from .client import SpikeloopError, Timeout, _configure
from .gen.spikeloop.v1 import spikeloop_pb2 as pb
from .keys import CurveKeys

CHANNELS_TOPIC = b"@channels"


def message_class(schema_name: str, schema: bytes):
    """The protobuf class of `schema_name` from a FileDescriptorSet (a channel's schema)."""
    files = descriptor_pb2.FileDescriptorSet.FromString(schema)
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(schema_name))


class Telemetry:
    """A subscriber to the daemon's telemetry. `topics`: the channels wanted
    (all when None); each is a ZeroMQ prefix subscription, so "/motors" also
    brings "/motors/decoded", "/motors/sent" and "/motors/named"."""

    def __init__(self, endpoint: str, topics: Optional[Iterable[str]] = None, *, server_key: Optional[bytes] = None,
                 keys: Optional[CurveKeys] = None, insecure: bool = False, context: Optional[zmq.Context] = None):
        self._own_context = context is None
        self._context = context or zmq.Context()
        self._socket = self._context.socket(zmq.SUB)
        _configure(self._socket, endpoint, server_key, keys, insecure)
        self._socket.setsockopt(zmq.RCVHWM, 100_000)
        self._socket.setsockopt(zmq.SUBSCRIBE, CHANNELS_TOPIC)
        for topic in ([""] if topics is None else topics):
            self._socket.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self._socket.connect(endpoint)
        self.endpoint = endpoint
        self.channels: Dict[str, "pb.TelemetryChannel"] = {}
        self._classes: Dict[str, type] = {}

    def close(self) -> None:
        self._socket.close(0)
        if self._own_context:
            self._context.term()

    def __enter__(self) -> "Telemetry":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def receive(self, timeout_ms: int = 1000) -> Optional[Tuple[str, int, bytes]]:
        """The next message as (topic, log time ns, encoded message), or None
        after `timeout_ms`. Channel lists update ``channels`` on the way."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._socket.poll(int(left * 1000) + 1):
                return None
            parts = self._socket.recv_multipart()
            if parts[0] == CHANNELS_TOPIC and len(parts) == 2:
                self._update_channels(pb.TelemetryChannels.FromString(parts[1]))
                continue
            if len(parts) != 3 or len(parts[1]) != 8:
                raise SpikeloopError(f"telemetry on {self.endpoint}: a message of {len(parts)} parts; "
                                     "valid: topic, 8-byte log time, message")
            return parts[0].decode(), int.from_bytes(parts[1], "little"), parts[2]

    def wait_for_channels(self, timeout_ms: int = 3000) -> Dict[str, "pb.TelemetryChannel"]:
        """Waits for the daemon's channel list (sent once a second)."""
        deadline = time.monotonic() + timeout_ms / 1000
        while not self.channels:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(f"no channel list from the daemon's telemetry on {self.endpoint} in {timeout_ms} ms "
                              "(is endpoints.telemetry set and the daemon running?)")
            self.receive(int(left * 1000) + 1)
        return self.channels

    def decode(self, topic: str, data: bytes):
        """`data` of `topic` as a protobuf message of its channel's schema."""
        cls = self._classes.get(topic)
        if cls is None:
            channel = self.channels.get(topic)
            if channel is None:
                raise SpikeloopError(f"telemetry: no channel {topic} in the daemon's channel list")
            cls = self._classes[topic] = message_class(channel.schema_name, channel.schema)
        return cls.FromString(data)

    def messages(self, timeout_ms: int = 1000) -> Iterator[Tuple[str, int, object]]:
        """Decoded messages as (topic, log time ns, message) until none came for `timeout_ms`."""
        while True:
            got = self.receive(timeout_ms)
            if got is None:
                return
            topic, log_time, data = got
            if topic not in self.channels:
                continue  # sent before the channel list reached us
            yield topic, log_time, self.decode(topic, data)

    def _update_channels(self, announcement: "pb.TelemetryChannels") -> None:
        channels = {c.topic: c for c in announcement.channel}
        if {t: c.SerializeToString() for t, c in channels.items()} != {t: c.SerializeToString() for t, c in self.channels.items()}:
            self.channels = channels
            self._classes = {}
