"""Episodes of a Gymnasium environment against the daemon: per env step,
ticks_per_step frames of the held observation, then env.step(action)."""

import time
from dataclasses import dataclass
from typing import Callable, List, Optional

from spikeloop_client.bridge import LinkCounters, SimLink

from .env import GymRobot


@dataclass
class GymEpisode:
    episode: int
    seed: int
    steps: int
    ticks: int
    env_return: float
    terminated: bool
    truncated: bool
    wall_seconds: float
    counters: LinkCounters

    @property
    def statistics(self):
        return [("steps", float(self.steps), ""), ("return", self.env_return, "")]


def run_episodes(robot: GymRobot, link: SimLink, *, episodes: int, seed: int, max_steps: Optional[int] = None,
                 report: Callable[[GymEpisode], None] = lambda e: None) -> List[GymEpisode]:
    results = []
    env = robot.env
    for episode in range(episodes):
        episode_seed = seed + episode
        link.begin_episode()
        obs, _ = env.reset(seed=episode_seed)
        env.action_space.seed(episode_seed)
        start = time.monotonic()
        reward: Optional[float] = None  # absent until the first transition
        steps = ticks = 0
        total = 0.0
        terminated = truncated = False
        while not (terminated or truncated) and (max_steps is None or steps < max_steps):
            values = robot.sensors(obs)
            commands = []
            for _ in range(robot.ticks_per_step):
                # The step's reward rides on the first frame after it; the held frames carry none.
                commands.append(list(link.exchange(values, reward)))
                reward = None
            ticks += robot.ticks_per_step
            obs, r, terminated, truncated, _ = env.step(robot.action(commands))
            reward = float(r)
            total += reward
            steps += 1
        results.append(GymEpisode(episode, episode_seed, steps, ticks, total, bool(terminated), bool(truncated),
                                  time.monotonic() - start, link.counters))
        report(results[-1])
    return results
