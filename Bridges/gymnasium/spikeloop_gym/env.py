"""A Gymnasium environment as a spikeloop robot: the mapping checked against
the environment's spaces, observations turned into sensor values, motor
commands turned into actions.

Time: the daemon ticks at its own rate (1 kHz for the cart-pole), an
environment steps at its own dt (CartPole-v1: 0.02 s). Each env step is
presented for ticks_per_step = dt × rate daemon ticks with the observation
held (sim_time_ns advances by one period per tick, so the network sees the
env's time course at its own rate); the command of the last tick (or the
mean over the step's ticks) chooses the action for that step.
"""

import math
from typing import List, Sequence

import numpy as np

from .mapping import GymMapping, GymMappingError


def env_dt(env) -> float:
    """The environment's step duration in seconds, where it says it."""
    base = env.unwrapped
    for name in ("dt", "tau"):
        value = getattr(base, name, None)
        if isinstance(value, (int, float)) and value > 0:
            return float(value)
    fps = (getattr(base, "metadata", None) or {}).get("render_fps")
    if isinstance(fps, (int, float)) and fps > 0:
        return 1.0 / fps
    raise GymMappingError("the environment does not say its step duration (no dt, tau or render_fps); "
                          "set ticks_per_step in the mapping file")


class GymRobot:
    def __init__(self, mapping: GymMapping, env, rate_hz: float):
        import gymnasium.spaces as spaces

        self.mapping = mapping
        self.env = env
        path = mapping.path
        obs_space = env.observation_space
        if not isinstance(obs_space, spaces.Box) or len(obs_space.shape) != 1:
            raise GymMappingError(f"{path}: env: {mapping.env_id} observes {obs_space}; the bridge maps flat Box "
                                  f"observations (index per channel)")
        size = obs_space.shape[0]
        for source, channel in zip(mapping.observation, mapping.robot.sensors):
            indices = [source.index] if source.index is not None else list(source.atan2 or [])
            for i in indices:
                if i >= size:
                    raise GymMappingError(f"{path}: observation.{channel.name}: index {i} is outside {mapping.env_id}'s "
                                          f"observation of {size} values (0..{size - 1})")
        space = env.action_space
        if mapping.discrete:
            if not isinstance(space, spaces.Discrete):
                raise GymMappingError(f"{path}: action: {mapping.env_id}'s actions are {space}, not Discrete; "
                                      f"use action: {{box: [...]}}")
            n = len(mapping.action_values) if mapping.discrete == "nearest" else len(mapping.argmax_motors)
            if n != int(space.n):
                key = "action.values" if mapping.discrete == "nearest" else "action.motors"
                raise GymMappingError(f"{path}: {key}: {n} actions mapped, {mapping.env_id} has Discrete({int(space.n)})")
            self.start = int(space.start)
        else:
            if not isinstance(space, spaces.Box) or len(space.shape) != 1:
                raise GymMappingError(f"{path}: action: {mapping.env_id}'s actions are {space}; action.box maps a flat Box, "
                                      f"use action: {{discrete: nearest|argmax, ...}} for Discrete")
            if len(mapping.box) != space.shape[0]:
                raise GymMappingError(f"{path}: action.box: {len(mapping.box)} entries, {mapping.env_id}'s actions have "
                                      f"{space.shape[0]} dimensions")
            self.low, self.high, self.dtype = space.low, space.high, space.dtype
        if mapping.ticks_per_step is not None:
            self.ticks_per_step = mapping.ticks_per_step
        else:
            dt = env_dt(env)
            ticks = dt * rate_hz
            if abs(ticks - round(ticks)) > 1e-6 * ticks or round(ticks) < 1:
                raise GymMappingError(f"{path}: ticks_per_step: auto gives {ticks:g} ticks ({mapping.env_id} dt {dt:g} s × "
                                      f"{rate_hz:g} Hz), not a whole number; set ticks_per_step")
            self.ticks_per_step = int(round(ticks))
        self.dt = self.ticks_per_step / rate_hz

    def sensors(self, obs) -> List[float]:
        return [source.read(obs) for source in self.mapping.observation]

    def action(self, commands: Sequence[Sequence[float]]):
        """The action for the commands of one env step's ticks (documented in the README)."""
        m = self.mapping
        if m.action_from == "mean":
            motors = [sum(c[i] for c in commands) / len(commands) for i in range(len(commands[0]))]
        else:
            motors = commands[-1]
        if m.discrete == "nearest":
            # Ties (e.g. a zero force between −10 and +10 N) go to the lower action, deterministically.
            best = min(range(len(m.action_values)),
                       key=lambda a: sum((x - y) ** 2 for x, y in zip(motors, m.action_values[a])))
            return self.start + best
        if m.discrete == "argmax":
            values = [motors[i] for i in m.argmax_motors]
            return self.start + max(range(len(values)), key=lambda a: (values[a], -a))
        action = np.array([scale * motors[i] + offset for i, scale, offset in m.box], dtype=self.dtype)
        return np.clip(action, self.low, self.high)
