"""Runs MuJoCo as the daemon's robot: per tick one frame of the mapped sensors,
one MotorCommand into the mapped actuators' ctrl, then period/timestep
mj_steps with the command held (one step batch per daemon tick)."""

import time
from dataclasses import dataclass
from typing import Callable, List, Optional

import mujoco

from spikeloop_client.bridge import LinkCounters, SimLink

from .mapping import BridgeSetup, MappingError
from .tasks import Statistic, Task


@dataclass
class EpisodeResult:
    episode: int
    seed: int
    steps: int
    simulated_seconds: float
    wall_seconds: float
    failed: bool
    statistics: List[Statistic]
    counters: LinkCounters


def steps_per_tick(setup: BridgeSetup, rate_hz: float) -> int:
    """mj_steps per control period: a whole number, or the configuration is refused."""
    timestep = float(setup.model.opt.timestep)
    n = (1.0 / rate_hz) / timestep
    if abs(n - round(n)) > 1e-6 * max(1.0, n) or round(n) < 1:
        raise MappingError(f"{setup.model_path}: option.timestep {timestep:g} s does not divide the control period "
                           f"{1 / rate_hz:g} s (rate {rate_hz:g} Hz) into whole steps; use e.g. timestep=\"{1 / rate_hz / max(1, round(n)):g}\"")
    return int(round(n))


class MujocoRobot:
    def __init__(self, setup: BridgeSetup, task: Task, rate_hz: float):
        self.setup = setup
        self.task = task
        self.model = setup.model
        self.data = mujoco.MjData(self.model)
        self.rate_hz = rate_hz
        self.period = 1.0 / rate_hz
        self.substeps = steps_per_tick(setup, rate_hz)

    def sensors(self) -> List[float]:
        mujoco.mj_forward(self.model, self.data)  # mj_step leaves sensordata of the state before its last step
        return [reader.read(self.data) for reader in self.setup.sensors]

    def apply(self, motors: List[float]) -> None:
        ctrl = self.data.ctrl
        for index, value in zip(self.setup.actuators, motors):
            ctrl[index] = value
        mj_step, m, d = mujoco.mj_step, self.model, self.data
        for _ in range(self.substeps):
            mj_step(m, d)
        self.task.after_tick(d, motors, self.period)

    def run(self, link: SimLink, *, episodes: int, duration: float, seed: int,
            report: Callable[[EpisodeResult], None] = lambda r: None) -> List[EpisodeResult]:
        ticks = max(1, round(duration * self.rate_hz))
        results = []
        for episode in range(episodes):
            episode_seed = seed + episode
            link.begin_episode()
            self.task.reset(self.data, episode_seed)
            start = time.monotonic()
            reward: Optional[float] = None  # absent on an episode's first frame
            steps = 0
            while steps < ticks:
                motors = link.exchange(self.sensors(), reward)
                self.apply(motors)
                steps += 1
                reward = self.task.reward
                if self.task.failed:
                    break
            result = EpisodeResult(episode, episode_seed, steps, steps * self.period, time.monotonic() - start,
                                   self.task.failed, self.task.statistics(), link.counters)
            results.append(result)
            report(result)
        return results
