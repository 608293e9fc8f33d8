"""Python peer of the spikeloop.v1 protocol (ZeroMQ + protobuf).

Speaks to the spikeloop daemon as a simulator (lockstep REQ/REP), a robot
(realtime PUB/SUB) or an operator (control requests)::

    from spikeloop_client import Layout, Channel, LockstepClient

    layout = Layout("cartpole", sensors=[Channel("x", "m", -2.4, 2.4), ...], motors=[...])
    with LockstepClient("tcp://127.0.0.1:5555", layout) as sim:
        command = sim.step([0.0, 0.1, 0.0, 0.0], sim_time_ns=0)
        print(command.values, command.safe_stop)

The generated messages are in ``spikeloop_client.pb`` (``spikeloop_pb2``).
"""

from .gen.spikeloop.v1 import spikeloop_pb2 as pb
from .layout import Channel, Layout, fnv1a64
from .keys import CurveKeys, generate_keys, load_public_key, load_secret_key
from .client import (
    PROTOCOL_VERSION,
    LockstepClient,
    Operator,
    RealtimeRobot,
    SpikeloopError,
    Timeout,
    is_local_endpoint,
    make_sensor_frame,
)
from .telemetry import Telemetry, message_class

__all__ = [
    "pb",
    "Telemetry",
    "message_class",
    "Channel",
    "Layout",
    "fnv1a64",
    "CurveKeys",
    "generate_keys",
    "load_public_key",
    "load_secret_key",
    "PROTOCOL_VERSION",
    "LockstepClient",
    "Operator",
    "RealtimeRobot",
    "SpikeloopError",
    "Timeout",
    "is_local_endpoint",
    "make_sensor_frame",
]
