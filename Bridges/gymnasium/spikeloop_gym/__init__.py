"""Any Gymnasium environment as a spikeloop robot: observation -> sensor
channels, motor channels -> action, reward -> the frame's reward field."""

from .env import GymRobot, env_dt
from .mapping import GymMapping, GymMappingError, load_mapping
from .runner import GymEpisode, run_episodes

__all__ = ["GymRobot", "env_dt", "GymMapping", "GymMappingError", "load_mapping", "GymEpisode", "run_episodes"]
