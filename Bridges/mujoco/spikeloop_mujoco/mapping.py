"""Which MuJoCo quantity feeds each sensor channel, and which actuator each
motor channel drives.

By default a channel maps to the MuJoCo sensor (or actuator) with the
channel's name, so an MJCF that names its sensors after the robot
description needs no mapping file. A mapping file (YAML) overrides that per
channel:

    robot: ../../Robots/diffdrive.yaml       # relative to the mapping file
    model: ../../Robots/diffdrive.xml
    sensors:
      range.left: {min_of: [range.left.0, range.left.1], no_hit: 2}   # a fan of rangefinders
      light.left: {light: {site: light.left, source: light, intensity: 1, falloff: 1}}
      wheel.left.speed: {sensor: wheel.left.vel, index: 0, scale: 1}
    motors:
      motor.left: {actuator: wheel.left}
    task: {model: diffdrive, body: robot}     # optional, default: the robot file's simulator.model

Every error names the file, the key and what would be valid.
"""

import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import mujoco
import numpy as np

from spikeloop_client.robot import RobotDescription, RobotFileError, load_robot


class MappingError(ValueError):
    """A model or mapping that does not fit the robot description."""


def _names(model: "mujoco.MjModel", kind: "mujoco.mjtObj", count: int) -> List[str]:
    return [mujoco.mj_id2name(model, kind, i) or f"#{i}" for i in range(count)]


def _listing(names: List[str]) -> str:
    return ", ".join(names) if names else "none"


class SensorReader:
    """Reads one channel's value from MjData (after mj_forward)."""

    def read(self, data: "mujoco.MjData") -> float:
        raise NotImplementedError


@dataclass
class SensorValue(SensorReader):
    address: int
    scale: float = 1.0
    offset: float = 0.0
    wrap: bool = False

    def read(self, data):
        v = data.sensordata[self.address] * self.scale + self.offset
        if self.wrap:
            v = math.remainder(v, 2 * math.pi)  # (−π, π], as the built-in simulators report angles
        return v


@dataclass
class MinOf(SensorReader):
    """The shortest of several rangefinders (one range sensor's fan of rays);
    a rangefinder reads −1 when its ray hits nothing within its cutoff."""

    addresses: List[int]
    no_hit: float

    def read(self, data):
        best = self.no_hit
        for a in self.addresses:
            v = data.sensordata[a]
            if 0 <= v < best:
                best = v
        return best


@dataclass
class LightReading(SensorReader):
    """MuJoCo has no light sensor: I·max(0, cos γ)/(1 + (d/d₀)²) from the site's
    pose (axis: its x axis) and the source's position, no occlusion — the
    built-in simulator's formula (docs/simulators.md)."""

    site: int
    source_body: int
    intensity: float
    falloff: float

    def read(self, data):
        p = data.site_xpos[self.site]
        axis = data.site_xmat[self.site].reshape(3, 3)[:, 0]
        delta = data.xpos[self.source_body] - p
        delta[2] = 0.0  # in the plane of the arena: sensor and light heights do not matter
        d = float(np.hypot(delta[0], delta[1]))
        cosine = float(delta[0] * axis[0] + delta[1] * axis[1]) / d if d > 1e-12 else 1.0
        return self.intensity * max(0.0, cosine) / (1 + (d / self.falloff) ** 2)


@dataclass
class BridgeSetup:
    robot: RobotDescription
    model_path: str
    model: "mujoco.MjModel"
    sensors: List[SensorReader]
    actuators: List[int]
    task: Dict[str, Any] = field(default_factory=dict)
    # The joint each scalar sensor channel measures (for tasks that reset or judge by channel).
    channel_joint: Dict[str, int] = field(default_factory=dict)


def _load_yaml(path: str) -> Dict[str, Any]:
    import yaml
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except OSError as e:
        raise MappingError(f"{path}: cannot read the mapping file: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise MappingError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise MappingError(f"{path}: expected a mapping with robot, model, sensors, motors (and optionally task)")
    unknown = set(doc) - {"robot", "model", "sensors", "motors", "task"}
    if unknown:
        raise MappingError(f"{path}: unknown key '{sorted(unknown)[0]}'; valid keys: robot, model, sensors, motors, task")
    return doc


def load_setup(robot_path: Optional[str] = None, model_path: Optional[str] = None,
               map_path: Optional[str] = None) -> BridgeSetup:
    """The robot description, the MJCF model and the channel mapping.
    Without --model the MJCF beside the robot file (NAME.xml) is used."""
    doc: Dict[str, Any] = {}
    if map_path:
        doc = _load_yaml(map_path)
        base = os.path.dirname(os.path.abspath(map_path))
        for key in ("robot", "model"):
            if key in doc and not isinstance(doc[key], str):
                raise MappingError(f"{map_path}: {key}: expected a path (relative to the mapping file)")
        robot_path = robot_path or (os.path.join(base, doc["robot"]) if "robot" in doc else None)
        model_path = model_path or (os.path.join(base, doc["model"]) if "model" in doc else None)
    if not robot_path:
        raise MappingError("no robot description: pass --robot Robots/NAME.yaml (or name it as robot: in the mapping file)")
    try:
        robot = load_robot(robot_path)
    except RobotFileError as e:
        raise MappingError(str(e)) from None
    model_path = model_path or os.path.splitext(robot_path)[0] + ".xml"
    try:
        model = mujoco.MjModel.from_xml_path(model_path)
    except (ValueError, OSError) as e:
        raise MappingError(f"{model_path}: MuJoCo cannot load this model: {e}".strip()) from None
    where = map_path or model_path
    sensor_map = doc.get("sensors") or {}
    motor_map = doc.get("motors") or {}
    for key, table, channels in (("sensors", sensor_map, robot.sensors), ("motors", motor_map, robot.motors)):
        if not isinstance(table, dict):
            raise MappingError(f"{map_path}: {key}: expected a mapping from channel name to its MuJoCo source")
        names = [c.name for c in channels]
        for name in table:
            if name not in names:
                raise MappingError(f"{map_path}: {key}.{name}: {robot.path} has no such {key[:-1]} channel; "
                                   f"its {key}: {_listing(names)}")
    task = doc.get("task") or {}
    if not isinstance(task, dict):
        raise MappingError(f"{map_path}: task: expected a mapping, e.g. {{model: diffdrive, body: robot}}")

    sensor_names = _names(model, mujoco.mjtObj.mjOBJ_SENSOR, model.nsensor)
    site_names = _names(model, mujoco.mjtObj.mjOBJ_SITE, model.nsite)
    body_names = _names(model, mujoco.mjtObj.mjOBJ_BODY, model.nbody)
    actuator_names = _names(model, mujoco.mjtObj.mjOBJ_ACTUATOR, model.nu)

    def sensor_address(name: Any, key: str, index: int = 0) -> int:
        if name not in sensor_names:
            raise MappingError(f"{where}: {key}: {model_path} has no sensor named '{name}'; its sensors: {_listing(sensor_names)}")
        i = sensor_names.index(name)
        dim = int(model.sensor_dim[i])
        if not isinstance(index, int) or not 0 <= index < dim:
            raise MappingError(f"{where}: {key}.index: sensor '{name}' has {dim} value(s); index must be in 0..{dim - 1}")
        return int(model.sensor_adr[i]) + index

    readers: List[SensorReader] = []
    channel_joint: Dict[str, int] = {}
    for channel in robot.sensors:
        key = f"sensors.{channel.name}"
        spec = sensor_map.get(channel.name, {"sensor": channel.name})
        if isinstance(spec, str):
            spec = {"sensor": spec}
        if not isinstance(spec, dict):
            raise MappingError(f"{where}: {key}: expected {{sensor: NAME}}, {{min_of: [NAMES], no_hit: M}} or {{light: {{...}}}}")
        kinds = [k for k in ("sensor", "min_of", "light") if k in spec]
        if len(kinds) != 1:
            raise MappingError(f"{where}: {key}: expected exactly one of sensor, min_of, light; got {sorted(spec)}")
        if kinds[0] == "sensor":
            _allow(where, key, spec, {"sensor", "index", "scale", "offset", "wrap"})
            address = sensor_address(spec["sensor"], key, spec.get("index", 0))
            readers.append(SensorValue(address, _number(where, key, spec, "scale", 1.0),
                                       _number(where, key, spec, "offset", 0.0), bool(spec.get("wrap", channel.unit == "rad"))))
            i = sensor_names.index(spec["sensor"])
            if model.sensor_objtype[i] == mujoco.mjtObj.mjOBJ_JOINT:
                channel_joint[channel.name] = int(model.sensor_objid[i])
        elif kinds[0] == "min_of":
            _allow(where, key, spec, {"min_of", "no_hit"})
            names = spec["min_of"]
            if not isinstance(names, list) or not names:
                raise MappingError(f"{where}: {key}.min_of: expected a list of rangefinder sensor names")
            readers.append(MinOf([sensor_address(n, key + ".min_of") for n in names],
                                 _number(where, key, spec, "no_hit", channel.max)))
        else:
            light = spec["light"]
            if not isinstance(light, dict):
                raise MappingError(f"{where}: {key}.light: expected {{site, source, intensity, falloff}}")
            _allow(where, key + ".light", light, {"site", "source", "intensity", "falloff"})
            site, source = light.get("site"), light.get("source")
            if site not in site_names:
                raise MappingError(f"{where}: {key}.light.site: {model_path} has no site '{site}'; its sites: {_listing(site_names)}")
            if source not in body_names:
                raise MappingError(f"{where}: {key}.light.source: {model_path} has no body '{source}' (the light); "
                                   f"its bodies: {_listing(body_names)}")
            sim = robot.simulator
            readers.append(LightReading(site_names.index(site), body_names.index(source),
                                        _number(where, key + ".light", light, "intensity", float(sim.get("light_intensity", 1))),
                                        _number(where, key + ".light", light, "falloff", float(sim.get("light_falloff", 1)))))

    actuators = []
    for motor in robot.motors:
        key = f"motors.{motor.name}"
        spec = motor_map.get(motor.name, {"actuator": motor.name})
        if isinstance(spec, str):
            spec = {"actuator": spec}
        if not isinstance(spec, dict) or "actuator" not in spec:
            raise MappingError(f"{where}: {key}: expected {{actuator: NAME}}")
        _allow(where, key, spec, {"actuator"})
        name = spec["actuator"]
        if name not in actuator_names:
            raise MappingError(f"{where}: {key}: {model_path} has no actuator named '{name}'; its actuators: {_listing(actuator_names)}")
        actuators.append(actuator_names.index(name))
    return BridgeSetup(robot, model_path, model, readers, actuators, task, channel_joint)


def _allow(where: str, key: str, spec: Dict[str, Any], allowed: set) -> None:
    unknown = set(spec) - allowed
    if unknown:
        raise MappingError(f"{where}: {key}: unknown key '{sorted(unknown)[0]}'; valid: {', '.join(sorted(allowed))}")


def _number(where: str, key: str, spec: Dict[str, Any], name: str, default: float) -> float:
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MappingError(f"{where}: {key}.{name}: expected a finite number; got {value!r}")
    return float(value)
