"""MuJoCo as a spikeloop robot: an MJCF model's named sensors and actuators
mapped to a robot description's channels, in lockstep or realtime."""

from .mapping import BridgeSetup, MappingError, load_setup
from .runner import EpisodeResult, MujocoRobot, steps_per_tick
from .conditions import EpisodeConditionsInMujoco
from .tasks import SimRandom, make_task

__all__ = ["BridgeSetup", "MappingError", "load_setup", "EpisodeResult", "MujocoRobot", "steps_per_tick",
           "SimRandom", "make_task", "EpisodeConditionsInMujoco"]
