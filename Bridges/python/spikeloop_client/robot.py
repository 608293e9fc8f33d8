"""Robot descriptions (Robots/NAME.yaml) for Python peers: the channels a
simulator bridge must send and apply, in wire order, with their ranges.

The daemon's reader (Control.RobotDescription) is the full validator; this
one reads what a peer needs and refuses what it cannot use, naming the file
and the key, so that a bridge never sends a layout the daemon would refuse.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .layout import Channel, Layout


class RobotFileError(ValueError):
    """A robot description that cannot be used (file, key, what is valid)."""


@dataclass(frozen=True)
class MotorChannel:
    name: str
    unit: str
    min: float
    max: float
    safe: float
    max_slew_per_s: Optional[float] = None


@dataclass
class RobotDescription:
    path: str
    robot: str
    sensors: List[Channel]
    motors: List[MotorChannel]
    # The `simulator:` mapping as written (task parameters shared by every simulator).
    simulator: Dict[str, Any] = field(default_factory=dict)

    @property
    def layout(self) -> Layout:
        return Layout(self.robot, list(self.sensors), [Channel(m.name, m.unit, m.min, m.max) for m in self.motors])

    def sensor_index(self, name: str) -> int:
        return [c.name for c in self.sensors].index(name)

    def motor_index(self, name: str) -> int:
        return [c.name for c in self.motors].index(name)


def _range(path: str, where: str, value: Any) -> tuple:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)
            and value[0] <= value[1]):
        raise RobotFileError(f"{path}: {where}.range: expected [min, max] with min <= max, e.g. range: [-1.5, 1.5]; got {value!r}")
    return float(value[0]), float(value[1])


def _unit(path: str, where: str, value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        raise RobotFileError(f"{path}: {where}.unit: expected a unit such as m, rad, N or \"1\"; got {value!r}")
    return str(value)


def load_robot(path: str) -> RobotDescription:
    """Reads a robot description; raises RobotFileError naming file and key."""
    import yaml  # only peers that read robot files need PyYAML

    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except OSError as e:
        raise RobotFileError(f"{path}: cannot read the robot description: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise RobotFileError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise RobotFileError(f"{path}: expected a mapping with robot, sensors and motors")
    robot = doc.get("robot")
    if not isinstance(robot, str) or not robot:
        raise RobotFileError(f"{path}: robot: expected the robot's name, e.g. robot: cartpole")
    sensors, motors = [], []
    for key, out in (("sensors", sensors), ("motors", motors)):
        items = doc.get(key)
        if not isinstance(items, list) or not items:
            raise RobotFileError(f"{path}: {key}: expected a list of channels ({{name, unit, range, ...}})")
        for i, item in enumerate(items):
            where = f"{key}[{i}]"
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise RobotFileError(f"{path}: {where}: expected a mapping with name, unit and range")
            lo, hi = _range(path, where, item.get("range"))
            unit = _unit(path, where, item.get("unit"))
            if key == "sensors":
                out.append(Channel(item["name"], unit, lo, hi))
            else:
                safe = item.get("safe")
                if not isinstance(safe, (int, float)) or not lo <= safe <= hi:
                    raise RobotFileError(f"{path}: {where}.safe: expected the value held while safe-stopped, within [{lo}, {hi}]; got {safe!r}")
                slew = item.get("max_slew_per_s")
                out.append(MotorChannel(item["name"], unit, lo, hi, float(safe), None if slew is None else float(slew)))
    names = [c.name for c in sensors] + [c.name for c in motors]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise RobotFileError(f"{path}: channel '{duplicate}' appears more than once; every channel name must be unique")
    simulator = doc.get("simulator") or {}
    if not isinstance(simulator, dict):
        raise RobotFileError(f"{path}: simulator: expected a mapping (model and its parameters)")
    return RobotDescription(path, robot, sensors, motors, simulator)
