"""Runs MuJoCo as the daemon's robot: per tick one frame of the mapped sensors,
one MotorCommand into the mapped actuators' ctrl, then period/timestep
mj_steps with the command held (one step batch per daemon tick)."""

import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import mujoco

from spikeloop_client.bridge import LinkCounters, SimLink
from spikeloop_client.disturbances import Settings

from .conditions import EpisodeConditionsInMujoco
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
    pushes: int = 0
    parameters: List[Tuple[str, float]] = field(default_factory=list)

    def describe(self) -> str:
        """`spikeloop sim`'s ending of an episode line: pushes begun, the parameters drawn."""
        parts = [f"pushes {self.pushes}"] if self.pushes else []
        return "  ".join(parts + [f"{key} {value:.4g}" for key, value in self.parameters])


def steps_per_tick(setup: BridgeSetup, rate_hz: float) -> int:
    """mj_steps per control period: a whole number, or the configuration is refused."""
    timestep = float(setup.model.opt.timestep)
    n = (1.0 / rate_hz) / timestep
    if abs(n - round(n)) > 1e-6 * max(1.0, n) or round(n) < 1:
        raise MappingError(f"{setup.model_path}: option.timestep {timestep:g} s does not divide the control period "
                           f"{1 / rate_hz:g} s (rate {rate_hz:g} Hz) into whole steps; use e.g. timestep=\"{1 / rate_hz / max(1, round(n)):g}\"")
    return int(round(n))


class MujocoRobot:
    def __init__(self, setup: BridgeSetup, task: Task, rate_hz: float, settings: Optional[Settings] = None):
        """settings: the robot file's simulator: with any `--set` (default: the file's)."""
        self.setup = setup
        self.task = task
        self.model = setup.model
        self.data = mujoco.MjData(self.model)
        self.rate_hz = rate_hz
        self.period = 1.0 / rate_hz
        self.substeps = steps_per_tick(setup, rate_hz)
        self.conditions = EpisodeConditionsInMujoco(setup, task, settings)
        self.time = 0.0

    def sensors(self) -> List[float]:
        """The frame's values: the mapped sensors after mj_forward, through the disturbances."""
        mujoco.mj_forward(self.model, self.data)  # mj_step leaves sensordata of the state before its last step
        return self.conditions.sense([reader.read(self.data) for reader in self.setup.sensors])

    def apply(self, motors: List[float]) -> None:
        applied, plant = self.conditions.actuate(self.data, motors, self.time)
        ctrl = self.data.ctrl
        for index, value in zip(self.setup.actuators, applied):
            ctrl[index] = value
        mj_step, m, d = mujoco.mj_step, self.model, self.data
        for _ in range(self.substeps):
            mj_step(m, d)
        self.time += self.period
        self.task.after_tick(d, plant, self.period)

    def run(self, link: SimLink, *, episodes: int, duration: float, seed: int,
            report: Callable[[EpisodeResult], None] = lambda r: None) -> List[EpisodeResult]:
        ticks = max(1, round(duration * self.rate_hz))
        results = []
        for episode in range(episodes):
            episode_seed = seed + episode
            link.begin_episode()
            drawn = self.conditions.begin(self.data, episode_seed)
            self.time = 0.0
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
                                   self.task.failed, self.task.statistics(), link.counters,
                                   self.conditions.state.pushes, drawn)
            results.append(result)
            report(result)
        return results
