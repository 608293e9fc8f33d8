"""What a real robot adds between its physics and the controller, and where an
episode starts: the `simulator:` keys `disturbances`, `initial_state` and
`randomize` of a robot file (docs/simulators.md), for simulator bridges.

The semantics and the random streams are the built-in simulators'
(Sources/Sim/Disturbances.swift, EpisodeConditions.swift, Numerics.swift):
the same seed draws the same noise, push signs and parameters here as there.
Errors name the file (or `--set`), the key and what is valid.
"""

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

_MASK = 0xFFFFFFFFFFFFFFFF


class SimSettingError(ValueError):
    """A `simulator:` setting that cannot be used (where, key, what is valid)."""


class SimRandom:
    """The built-in simulators' generator: SplitMix64 with a scrambled seed."""

    def __init__(self, seed: int):
        self.state = ((seed * 0xD1B54A32D192ED03) & _MASK) ^ 0x5851F42D4C957F2D

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def unit(self) -> float:
        return (self.next() >> 11) * 2.0 ** -53

    def uniform(self, half_width: float, center: float = 0.0) -> float:
        return center + half_width * (2 * self.unit() - 1)

    def normal(self) -> float:
        u = self.unit()
        while u == 0:
            u = self.unit()
        return math.sqrt(-2 * math.log(u)) * math.cos(2 * math.pi * self.unit())


@dataclass
class Settings:
    """A robot file's `simulator:` mapping with `--set KEY=VALUE` applied; knows where each key came from."""
    path: str
    mapping: Dict[str, Any]
    overridden: set = field(default_factory=set)

    def setting(self, assignments: Sequence[str]) -> "Settings":
        import yaml
        mapping, overridden = dict(self.mapping), set(self.overridden)
        for assignment in assignments:
            key, eq, text = assignment.partition("=")
            key = key.strip()
            if not eq or not key:
                raise SimSettingError(f"--set {assignment}: expected KEY=VALUE, e.g. --set init_angle=0.2")
            if key == "model":
                raise SimSettingError("--set model: the model is the robot file's; use another robot file")
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                raise SimSettingError(f"--set {key}: '{text}' is not a YAML value") from None
            if value is None:
                raise SimSettingError(f"--set {key}: the value is empty")
            mapping[key] = value
            overridden.add(key)
        return Settings(self.path, mapping, overridden)

    def location(self, key: str) -> str:
        return f"--set {key}" if key in self.overridden else f"{self.path}: simulator.{key}"


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclass
class Push:
    motor: int
    value: float
    duration: float
    every: float
    first: float
    sign: str   # positive | alternate | random


@dataclass
class Disturbances:
    noise: List[float]
    bias: List[float]
    quantum: List[float]
    sensor_delay: int = 0
    actuator_delay: int = 0
    push: Optional[Push] = None

    KEYS = ("sensor_noise", "sensor_bias", "quantization", "sensor_delay", "actuator_delay", "push")
    PUSH_KEYS = ("motor", "value", "duration", "every", "first", "sign")
    SIGNS = ("positive", "alternate", "random")

    @property
    def empty(self) -> bool:
        return not (any(self.noise) or any(self.bias) or any(self.quantum) or self.sensor_delay
                    or self.actuator_delay or self.push)

    @classmethod
    def read(cls, settings: Settings, sensors: List[str], motors: List[str]) -> "Disturbances":
        d = cls([0.0] * len(sensors), [0.0] * len(sensors), [0.0] * len(sensors))
        node = settings.mapping.get("disturbances")
        if node is None:
            return d
        here = settings.location("disturbances")
        if not isinstance(node, dict):
            raise SimSettingError(f"{here}: expected a mapping of {', '.join(cls.KEYS)}")
        for key in node:
            if key not in cls.KEYS:
                raise SimSettingError(f"{here}.{key}: unknown; valid: {', '.join(cls.KEYS)}")

        def per_channel(key, non_negative):
            values = [0.0] * len(sensors)
            entry = node.get(key)
            if entry is None:
                return values
            if not isinstance(entry, dict):
                raise SimSettingError(f"{here}.{key}: expected {{channel: value, …}}, e.g. {{{sensors[0]}: 0.01}}")
            for name, x in entry.items():
                if name not in sensors:
                    raise SimSettingError(f"{here}.{key}.{name}: no such sensor; the robot's sensors: {', '.join(sensors)}")
                if not _finite(x) or (non_negative and x < 0):
                    raise SimSettingError(f"{here}.{key}.{name}: '{x}' must be a{' non-negative' if non_negative else ''} "
                                          f"number in the channel's unit")
                values[sensors.index(name)] = float(x)
            return values

        def ticks(key):
            n = node.get(key, 0)
            if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 10_000:
                raise SimSettingError(f"{here}.{key}: '{n}' must be a whole number of ticks in 0…10000")
            return n
        d.noise, d.bias, d.quantum = (per_channel("sensor_noise", True), per_channel("sensor_bias", False),
                                      per_channel("quantization", True))
        d.sensor_delay, d.actuator_delay = ticks("sensor_delay"), ticks("actuator_delay")
        if "push" in node:
            at, q = f"{here}.push", node["push"]
            if not isinstance(q, dict):
                raise SimSettingError(f"{at}: expected {{motor: NAME, value: X, duration: S, every: S}}, e.g. "
                                      f"{{motor: {motors[0]}, value: 10, duration: 0.1, every: 2}}")
            for key in q:
                if key not in cls.PUSH_KEYS:
                    raise SimSettingError(f"{at}.{key}: unknown; valid: {', '.join(cls.PUSH_KEYS)}")
            if q.get("motor") not in motors:
                raise SimSettingError(f"{at}.motor: one of the robot's motors: {', '.join(motors)}")

            def number(key, fallback, positive):
                if key not in q:
                    if fallback is not None:
                        return fallback
                    raise SimSettingError(f"{at}.{key}: missing (seconds, or the motor's unit for value)")
                x = q[key]
                if not _finite(x) or not (x > 0 if positive else x >= 0):
                    raise SimSettingError(f"{at}.{key}: '{x}' must be a {'positive' if positive else 'non-negative'} number")
                return float(x)
            value, duration, every = number("value", None, False), number("duration", None, True), number("every", None, True)
            if duration >= every:
                raise SimSettingError(f"{at}.duration: {duration} s must be shorter than every ({every} s)")
            first = number("first", every, False)
            sign = q.get("sign", "alternate")
            if sign not in cls.SIGNS:
                raise SimSettingError(f"{at}.sign: one of {', '.join(cls.SIGNS)}")
            d.push = Push(motors.index(q["motor"]), value, duration, every, first, sign)
        return d

    def summary(self, sensors: List[str], motors: List[str]) -> Optional[str]:
        """The built-in simulator's line (`spikeloop sim`), None if there is nothing."""
        if self.empty:
            return None
        parts = []
        for label, values in (("noise sd", self.noise), ("bias", self.bias), ("quantum", self.quantum)):
            chosen = [f"{sensors[i]} {_g(v)}" for i, v in enumerate(values) if v]
            if chosen:
                parts.append(f"{label} " + ", ".join(chosen))
        if self.sensor_delay:
            parts.append(f"sensor delay {self.sensor_delay} ticks")
        if self.actuator_delay:
            parts.append(f"actuator delay {self.actuator_delay} ticks")
        if self.push:
            p = self.push
            parts.append(f"push {motors[p.motor]} {_g(p.value)} for {_g(p.duration)} s every {_g(p.every)} s "
                         f"from {_g(p.first)} s ({p.sign})")
        return "; ".join(parts)


def _g(x: float) -> str:
    """A number as Swift prints a Double (3.0, 0.001)."""
    return repr(float(x))


class DisturbanceState:
    """One episode's delay lines and generator (the built-in order of operations)."""

    def __init__(self, spec: Disturbances, motors: int):
        self.spec, self.motors = spec, motors
        self.reset(0, [0.0] * motors)

    def reset(self, seed: int, safe: Sequence[float]) -> None:
        self.random = SimRandom(seed ^ 0x6469737475726221)   # "disturb!": not the model's stream
        self.sensor_line: List[List[float]] = []
        self.motor_line = [list(safe) for _ in range(self.spec.actuator_delay)]
        self.push_index, self.push_sign, self.pushes = -1, 1.0, 0

    def sense(self, values: Sequence[float]) -> List[float]:
        """The frame's values for this tick's true reading: `sensor_delay` ticks old, biased, noisy, quantised."""
        s = self.spec
        reading = []
        for i, v in enumerate(values):
            x = float(v) + s.bias[i]
            if s.noise[i] > 0:
                x += s.noise[i] * self.random.normal()
            if s.quantum[i] > 0:
                x = _round_half_away(x / s.quantum[i]) * s.quantum[i]
            reading.append(x)
        if not self.sensor_line:   # the episode's first reading fills the line
            self.sensor_line = [list(reading) for _ in range(s.sensor_delay)]
        self.sensor_line.append(reading)
        return self.sensor_line.pop(0)

    def actuate(self, commands: Sequence[float], time: float) -> Tuple[List[float], List[float]]:
        """(the values the actuators apply: commanded `actuator_delay` ticks ago; the push on each motor
        at `time` s, an external force beyond the actuators' range)."""
        self.motor_line.append(list(commands))
        applied = self.motor_line.pop(0)
        push = [0.0] * self.motors
        p = self.spec.push
        if p is None or time < p.first:
            return applied, push
        k = math.floor((time - p.first) / p.every)
        if time - p.first - k * p.every >= p.duration:
            return applied, push
        if k != self.push_index:
            self.push_index = k
            self.pushes += 1
            if p.sign == "positive":
                self.push_sign = 1.0
            elif p.sign == "alternate":
                self.push_sign = 1.0 if k % 2 == 0 else -1.0
            else:
                self.push_sign = 1.0 if self.random.unit() < 0.5 else -1.0
        push[p.motor] = self.push_sign * p.value
        return applied, push


def _round_half_away(x: float) -> float:
    """Swift's rounded(): to nearest, ties away from zero (Python's round() ties to even)."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


@dataclass
class EpisodeConditions:
    """`initial_state` (components set exactly) and `randomize` (parameters drawn per episode)."""
    initial_state: Dict[str, float] = field(default_factory=dict)
    randomized: List[Tuple[str, float, float]] = field(default_factory=list)

    @classmethod
    def read(cls, settings: Settings, state_keys: Sequence[str], parameter_keys: Sequence[str],
             model_name: str, parameter_hint: str = "") -> "EpisodeConditions":
        c = cls()
        node = settings.mapping.get("initial_state")
        if node is not None:
            here, valid = settings.location("initial_state"), ", ".join(state_keys)
            if not state_keys:
                raise SimSettingError(f"{here}: a {model_name} has no initial state to set")
            if not isinstance(node, dict):
                raise SimSettingError(f"{here}: expected {{component: value, …}} of {valid}, e.g. {{{state_keys[0]}: 0.1}}")
            for key, x in node.items():
                if key not in state_keys:
                    raise SimSettingError(f"{here}.{key}: unknown; a {model_name} starts from {valid}")
                if not _finite(x):
                    raise SimSettingError(f"{here}.{key}: '{x}' is not a number (SI units: m, m/s, rad, rad/s)")
                c.initial_state[key] = float(x)
        node = settings.mapping.get("randomize")
        if node is not None:
            here = settings.location("randomize")
            example = parameter_keys[0] if parameter_keys else "body.NAME.mass"
            if not isinstance(node, dict):
                raise SimSettingError(f"{here}: expected {{parameter: {{uniform: [lo, hi]}}, …}}, e.g. "
                                      f"{{{example}: {{uniform: [0.9, 1.1]}}}}")
            for key, spec in node.items():
                if key not in parameter_keys and not _native(key):
                    raise SimSettingError(f"{here}.{key}: not a parameter that can vary; this model's: "
                                          f"{', '.join(parameter_keys) or 'none'}{parameter_hint}")
                bounds = spec.get("uniform") if isinstance(spec, dict) and len(spec) == 1 else None
                if not (isinstance(bounds, list) and len(bounds) == 2 and all(_finite(b) for b in bounds)
                        and bounds[0] <= bounds[1]):
                    raise SimSettingError(f"{here}.{key}: expected {{uniform: [lo, hi]}} with lo ≤ hi, e.g. {{uniform: [0.9, 1.1]}}")
                c.randomized.append((key, float(bounds[0]), float(bounds[1])))
        return c

    def draw(self, seed: int) -> List[Tuple[str, float]]:
        """The parameters of the episode with this seed, from a stream of their own."""
        random = SimRandom(seed ^ 0x706172616D73)   # "params"
        return [(key, lo + (hi - lo) * random.unit()) for key, lo, hi in self.randomized]

    def summary(self) -> Optional[str]:
        parts = []
        if self.initial_state:
            parts.append("initial state " + ", ".join(f"{k} = {_g(v)}" for k, v in sorted(self.initial_state.items())))
        if self.randomized:
            parts.append("per episode " + ", ".join(f"{k} in [{_g(lo)}, {_g(hi)}]" for k, lo, hi in self.randomized))
        return "; ".join(parts) or None


NATIVE = {"body": ("mass",), "joint": ("damping", "frictionloss", "armature"), "geom": ("friction",),
          "actuator": ("gear",)}


def _native(key: str) -> bool:
    """A simulator's own parameter named KIND.NAME.FIELD (e.g. body.pole.mass); the simulator resolves NAME."""
    kind, _, rest = key.partition(".")
    name, _, attribute = rest.rpartition(".")
    return kind in NATIVE and bool(name) and attribute in NATIVE[kind]
