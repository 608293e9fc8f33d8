"""The mapping between a Gymnasium environment and a robot description.

    env: CartPole-v1                 # gymnasium.make id
    env_kwargs: {}                   # optional keyword arguments of gymnasium.make
    robot: ../../../Robots/cartpole.yaml   # relative to this file
    ticks_per_step: auto             # daemon ticks per env step; auto = env dt × tick rate
    action_from: last                # last | mean: the command(s) of the step's ticks that choose the action
    observation:                     # every sensor channel: where its value comes from
      cart.x: 0                      #   observation index
      pole.angle: {index: 2, scale: 1, offset: 0}
      # pendulum.angle: {atan2: [1, 0]}   # angle from (sin, cos) components
      # light: {value: 0}                 # a constant (a channel the env lacks)
    action:                          # Discrete(n): one of
      discrete: nearest              #   the action whose motor values are nearest (Euclidean) to the command
      values: {0: [-10], 1: [10]}    #   motor values (robot order) each action stands for
      # discrete: argmax             #   or the action whose motor channel is largest
      # motors: [left, right]        #   one motor channel per action, in action order
      # box: [{motor: torque, scale: 0.4}]  # Box(k): action[i] = scale × motor + offset, clipped to the bounds

Every error names the file, the key and what would be valid.
"""

import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from spikeloop_client.robot import RobotDescription, RobotFileError, load_robot


class GymMappingError(ValueError):
    """A mapping file that does not fit the environment or the robot description."""


@dataclass
class ObservationSource:
    index: Optional[int] = None
    scale: float = 1.0
    offset: float = 0.0
    atan2: Optional[Tuple[int, int]] = None
    value: Optional[float] = None

    def read(self, obs) -> float:
        if self.value is not None:
            return self.value
        if self.atan2 is not None:
            return math.atan2(float(obs[self.atan2[0]]), float(obs[self.atan2[1]]))
        return float(obs[self.index]) * self.scale + self.offset


@dataclass
class GymMapping:
    path: str
    env_id: str
    env_kwargs: Dict[str, Any]
    robot: RobotDescription
    ticks_per_step: Optional[int]  # None: from the environment's dt
    action_from: str
    observation: List[ObservationSource]
    discrete: Optional[str] = None                     # nearest | argmax | None (Box)
    action_values: List[List[float]] = field(default_factory=list)   # nearest: per action, motor values
    argmax_motors: List[int] = field(default_factory=list)          # argmax: motor index per action
    box: List[Tuple[int, float, float]] = field(default_factory=list)  # Box: (motor index, scale, offset) per action dim


KEYS = {"env", "env_kwargs", "robot", "ticks_per_step", "action_from", "observation", "action"}


def _number(path, key, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise GymMappingError(f"{path}: {key}: expected a finite number; got {value!r}")
    return float(value)


def _index(path, key, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise GymMappingError(f"{path}: {key}: expected an observation index (0, 1, ...); got {value!r}")
    return value


def _allow(path, key, spec, allowed):
    unknown = set(spec) - set(allowed)
    if unknown:
        raise GymMappingError(f"{path}: {key}: unknown key '{sorted(unknown)[0]}'; valid: {', '.join(sorted(allowed))}")


def load_mapping(path: str, robot_path: Optional[str] = None) -> GymMapping:
    import yaml
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except OSError as e:
        raise GymMappingError(f"{path}: cannot read the mapping file: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise GymMappingError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise GymMappingError(f"{path}: expected a mapping with env, robot, observation and action")
    _allow(path, "(top level)", doc, KEYS)
    for key in ("env", "observation", "action"):
        if key not in doc:
            raise GymMappingError(f"{path}: {key}: missing; the file needs env, robot, observation and action")
    if not isinstance(doc["env"], str):
        raise GymMappingError(f"{path}: env: expected a Gymnasium id such as CartPole-v1")
    kwargs = doc.get("env_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise GymMappingError(f"{path}: env_kwargs: expected a mapping of gymnasium.make keyword arguments")
    if robot_path is None:
        if not isinstance(doc.get("robot"), str):
            raise GymMappingError(f"{path}: robot: expected the robot description's path (relative to this file)")
        robot_path = os.path.join(os.path.dirname(os.path.abspath(path)), doc["robot"])
    try:
        robot = load_robot(robot_path)
    except RobotFileError as e:
        raise GymMappingError(str(e)) from None

    ticks = doc.get("ticks_per_step", "auto")
    if ticks != "auto" and (isinstance(ticks, bool) or not isinstance(ticks, int) or ticks < 1):
        raise GymMappingError(f"{path}: ticks_per_step: expected a whole number of ticks >= 1, or auto; got {ticks!r}")
    action_from = doc.get("action_from", "last")
    if action_from not in ("last", "mean"):
        raise GymMappingError(f"{path}: action_from: '{action_from}' is not one of last, mean")

    obs = doc["observation"]
    if not isinstance(obs, dict):
        raise GymMappingError(f"{path}: observation: expected a mapping from sensor channel to its source")
    names = [c.name for c in robot.sensors]
    for name in obs:
        if name not in names:
            raise GymMappingError(f"{path}: observation.{name}: {robot.path} has no sensor channel '{name}'; "
                                  f"its sensors: {', '.join(names)}")
    sources = []
    for name in names:
        key = f"observation.{name}"
        if name not in obs:
            raise GymMappingError(f"{path}: {key}: missing; every sensor channel of {robot.path} needs a source "
                                  f"(an observation index, {{atan2: [i_sin, i_cos]}} or {{value: constant}})")
        spec = obs[name]
        if not isinstance(spec, dict):
            sources.append(ObservationSource(index=_index(path, key, spec)))
            continue
        _allow(path, key, spec, {"index", "scale", "offset", "atan2", "value"})
        kinds = [k for k in ("index", "atan2", "value") if k in spec]
        if len(kinds) != 1:
            raise GymMappingError(f"{path}: {key}: expected exactly one of index, atan2, value")
        if "value" in spec:
            sources.append(ObservationSource(value=_number(path, key + ".value", spec["value"])))
        elif "atan2" in spec:
            pair = spec["atan2"]
            if not isinstance(pair, list) or len(pair) != 2:
                raise GymMappingError(f"{path}: {key}.atan2: expected [index of sin, index of cos]")
            sources.append(ObservationSource(atan2=(_index(path, key + ".atan2", pair[0]),
                                                    _index(path, key + ".atan2", pair[1]))))
        else:
            sources.append(ObservationSource(index=_index(path, key + ".index", spec["index"]),
                                             scale=_number(path, key + ".scale", spec.get("scale", 1.0)),
                                             offset=_number(path, key + ".offset", spec.get("offset", 0.0))))

    mapping = GymMapping(path, doc["env"], kwargs, robot, None if ticks == "auto" else ticks, action_from, sources)
    _read_action(path, doc["action"], robot, mapping)
    return mapping


def _motor(path, key, robot, name) -> int:
    motors = [m.name for m in robot.motors]
    if name not in motors:
        raise GymMappingError(f"{path}: {key}: {robot.path} has no motor channel '{name}'; its motors: {', '.join(motors)}")
    return motors.index(name)


def _read_action(path, spec, robot, mapping: GymMapping) -> None:
    if not isinstance(spec, dict) or not ({"discrete", "box"} & set(spec)):
        raise GymMappingError(f"{path}: action: expected {{discrete: nearest, values: ...}}, {{discrete: argmax, motors: [...]}} "
                              f"or {{box: [{{motor: NAME, scale: S}}, ...]}}")
    if "box" in spec:
        _allow(path, "action", spec, {"box"})
        items = spec["box"]
        if not isinstance(items, list) or not items:
            raise GymMappingError(f"{path}: action.box: expected a list, one {{motor, scale, offset}} per action dimension")
        for i, item in enumerate(items):
            key = f"action.box[{i}]"
            if not isinstance(item, dict) or "motor" not in item:
                raise GymMappingError(f"{path}: {key}: expected {{motor: NAME, scale: S, offset: O}}")
            _allow(path, key, item, {"motor", "scale", "offset"})
            mapping.box.append((_motor(path, key + ".motor", robot, item["motor"]),
                                _number(path, key + ".scale", item.get("scale", 1.0)),
                                _number(path, key + ".offset", item.get("offset", 0.0))))
        return
    kind = spec["discrete"]
    if kind == "nearest":
        _allow(path, "action", spec, {"discrete", "values"})
        values = spec.get("values")
        if not isinstance(values, dict) or not values:
            raise GymMappingError(f"{path}: action.values: expected {{action: [motor values]}}, e.g. {{0: [-10], 1: [10]}}")
        n = len(robot.motors)
        if sorted(values) != list(range(len(values))):
            raise GymMappingError(f"{path}: action.values: the actions must be 0..{len(values) - 1}; got {sorted(values)}")
        for a in range(len(values)):
            v = values[a]
            if not isinstance(v, list) or len(v) != n:
                raise GymMappingError(f"{path}: action.values.{a}: expected {n} motor value(s) in the order of {robot.path} "
                                      f"({', '.join(m.name for m in robot.motors)}); got {v!r}")
            mapping.action_values.append([_number(path, f"action.values.{a}", x) for x in v])
    elif kind == "argmax":
        _allow(path, "action", spec, {"discrete", "motors"})
        motors = spec.get("motors")
        if not isinstance(motors, list) or len(motors) < 2:
            raise GymMappingError(f"{path}: action.motors: expected one motor channel per action (at least two)")
        mapping.argmax_motors = [_motor(path, f"action.motors[{i}]", robot, m) for i, m in enumerate(motors)]
    else:
        raise GymMappingError(f"{path}: action.discrete: '{kind}' is not one of nearest, argmax")
    mapping.discrete = kind
