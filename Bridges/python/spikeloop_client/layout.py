"""Robot layouts and the layout hash (same rule as Wire's RobotLayout.computedHash)."""

from dataclasses import dataclass, field
from typing import List, Sequence

from .gen.spikeloop.v1 import spikeloop_pb2 as pb


def fnv1a64(data: bytes) -> int:
    """FNV-1a, 64 bit."""
    h = 0xCBF29CE484222325
    for byte in data:
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


@dataclass(frozen=True)
class Channel:
    """One sensor or motor channel: name, unit and valid range (0, 0: any finite value)."""

    name: str
    unit: str = "1"
    min: float = 0.0
    max: float = 0.0


@dataclass
class Layout:
    """Names, units and order of the sensor and motor values."""

    robot: str
    sensors: List[Channel] = field(default_factory=list)
    motors: List[Channel] = field(default_factory=list)

    def canonical_text(self) -> str:
        text = f"spikeloop.v1 layout\nrobot\t{self.robot}\n"
        for c in self.sensors:
            text += f"s\t{c.name}\t{c.unit}\n"
        for c in self.motors:
            text += f"m\t{c.name}\t{c.unit}\n"
        return text

    @property
    def hash(self) -> int:
        """The layout hash (FNV-1a 64 of the canonical text)."""
        return fnv1a64(self.canonical_text().encode("utf-8"))

    def to_proto(self) -> "pb.RobotLayout":
        message = pb.RobotLayout(robot=self.robot, layout_hash=self.hash)
        for c in self.sensors:
            message.sensors.add(name=c.name, unit=c.unit, min=c.min, max=c.max)
        for c in self.motors:
            message.motors.add(name=c.name, unit=c.unit, min=c.min, max=c.max)
        return message

    @classmethod
    def from_proto(cls, message: "pb.RobotLayout") -> "Layout":
        return cls(
            robot=message.robot,
            sensors=[Channel(c.name, c.unit, c.min, c.max) for c in message.sensors],
            motors=[Channel(c.name, c.unit, c.min, c.max) for c in message.motors],
        )

    @classmethod
    def simple(cls, robot: str, sensors: Sequence[str], motors: Sequence[str], unit: str = "1") -> "Layout":
        return cls(robot, [Channel(n, unit) for n in sensors], [Channel(n, unit) for n in motors])
