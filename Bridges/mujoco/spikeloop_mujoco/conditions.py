"""An episode's conditions in MuJoCo: the robot file's `simulator.disturbances`,
`initial_state` and `randomize` (docs/simulators.md), as the built-in
simulators apply them, from the same streams of the episode's seed.

Parameters that vary are the task's named ones (the cart-pole's `pole_mass`,
…) and MuJoCo's own, by element name: `body.NAME.mass` (inertia scaled with
it), `joint.NAME.damping`, `joint.NAME.frictionloss`, `joint.NAME.armature`,
`geom.NAME.friction` (sliding), `actuator.NAME.gear`. Each episode starts
from the model as loaded, then sets its draws.
"""

from typing import List, Optional, Tuple

import mujoco
import numpy as np

from spikeloop_client.disturbances import (NATIVE, DisturbanceState, Disturbances, EpisodeConditions, Settings,
                                           SimSettingError)

from .mapping import BridgeSetup, MappingError
from .tasks import Task

_FIELDS = ("body_mass", "body_inertia", "body_ipos", "dof_damping", "dof_frictionloss", "dof_armature",
           "geom_friction", "actuator_gear")
_KINDS = {"body": mujoco.mjtObj.mjOBJ_BODY, "joint": mujoco.mjtObj.mjOBJ_JOINT, "geom": mujoco.mjtObj.mjOBJ_GEOM,
          "actuator": mujoco.mjtObj.mjOBJ_ACTUATOR}


class ModelParameters:
    """The model's varying fields as loaded, restored before each episode's draws."""

    def __init__(self, model: "mujoco.MjModel", where: str):
        self.model, self.where = model, where
        self.original = {f: np.array(getattr(model, f)) for f in _FIELDS}
        self.gravity = np.array(model.opt.gravity)

    def restore(self) -> None:
        for f, values in self.original.items():
            getattr(self.model, f)[...] = values
        self.model.opt.gravity[:] = self.gravity

    def set_mass(self, body: int, mass: float) -> None:
        ratio = mass / self.original["body_mass"][body]
        self.model.body_mass[body] = mass
        self.model.body_inertia[body] = self.original["body_inertia"][body] * ratio

    def set_length(self, body: int, length: float) -> None:
        """The body's centre of mass at `length` from its joint, inertia scaled as a rod's (∝ length²)."""
        ipos = self.original["body_ipos"][body]
        ratio = length / np.linalg.norm(ipos)
        self.model.body_ipos[body] = ipos * ratio
        self.model.body_inertia[body] = self.model.body_inertia[body] * ratio ** 2

    def element(self, key: str) -> Tuple[str, int, str]:
        kind, _, rest = key.partition(".")
        name, _, attribute = rest.rpartition(".")
        index = mujoco.mj_name2id(self.model, _KINDS[kind], name)
        if index < 0:
            raise SimSettingError(f"{key}: {self.where} has no {kind} named '{name}'")
        return kind, index, attribute

    def set_native(self, key: str, value: float) -> None:
        kind, index, attribute = self.element(key)
        m = self.model
        if kind == "body":
            self.set_mass(index, value)
        elif kind == "joint":
            getattr(m, f"dof_{attribute}")[m.jnt_dofadr[index]] = value
        elif kind == "geom":
            m.geom_friction[index, 0] = value
        else:
            m.actuator_gear[index, 0] = value


class EpisodeConditionsInMujoco:
    """What `simulator:` asks of each episode, for a MuJoCo robot; refuses what it cannot do by name."""

    def __init__(self, setup: BridgeSetup, task: Task, settings: Optional[Settings] = None):
        robot = setup.robot
        try:
            self.settings = settings or Settings(robot.path, dict(robot.simulator))
            sensors, motors = [c.name for c in robot.sensors], [m.name for m in robot.motors]
            self.disturbances = Disturbances.read(self.settings, sensors, motors)
            self.conditions = EpisodeConditions.read(
                self.settings, task.state_keys, task.parameter_keys, f"MuJoCo {task.name} task",
                "; or MuJoCo's own: " + ", ".join(f"{k}.NAME.{a}" for k, attrs in NATIVE.items() for a in attrs))
            self.parameters = ModelParameters(setup.model, setup.model_path)
            here = self.settings.location("randomize") if self.conditions.randomized else ""
            for key, lo, hi in self.conditions.randomized:
                if key not in task.parameter_keys:
                    try:
                        self.parameters.element(key)
                    except SimSettingError as e:
                        raise SimSettingError(f"{here}.{e}") from None
                if key.endswith(".mass") or key in ("cart_mass", "pole_mass", "pole_half_length"):
                    if lo <= 0:
                        raise SimSettingError(f"{here}.{key}: the bound {lo} makes no valid model (must be positive)")
            self.push = self._push_force(setup)
        except SimSettingError as e:
            raise MappingError(str(e)) from None
        self.setup, self.task = setup, task
        self.state = DisturbanceState(self.disturbances, len(robot.motors))
        self.safe = [m.safe for m in robot.motors]

    def _push_force(self, setup: BridgeSetup) -> Optional[Tuple[int, float]]:
        """(dof, generalized force per unit of the pushed motor): a push acts on the actuator's joint
        as the actuator would for that command, without its control range."""
        p = self.disturbances.push
        if p is None:
            return None
        m, a = setup.model, setup.actuators[p.motor]
        name = setup.robot.motors[p.motor].name
        if m.actuator_trntype[a] != mujoco.mjtTrn.mjTRN_JOINT or m.actuator_gaintype[a] != mujoco.mjtGain.mjGAIN_FIXED:
            raise SimSettingError(f"{self.settings.location('disturbances')}.push.motor: {name}'s actuator does not "
                                  f"drive a joint with a fixed gain; pushes need one (a motor on a hinge or slide)")
        return int(m.jnt_dofadr[m.actuator_trnid[a, 0]]), float(m.actuator_gear[a, 0] * m.actuator_gainprm[a, 0])

    def begin(self, data: "mujoco.MjData", seed: int) -> List[Tuple[str, float]]:
        """Restores the model, sets the episode's draws, resets the task and the disturbances."""
        drawn = self.conditions.draw(seed)
        self.parameters.restore()
        for key, value in drawn:
            if key in self.task.parameter_keys:
                self.task.set_parameter(self.parameters, key, value)
            else:
                self.parameters.set_native(key, value)
        self.task.reset(data, seed)
        if self.conditions.initial_state:
            self.task.set_state(data, self.conditions.initial_state)
        data.qfrc_applied[:] = 0
        self.state.reset(seed, self.safe)
        return drawn

    def sense(self, values: List[float]) -> List[float]:
        return self.state.sense(values) if not self.disturbances.empty else values

    def actuate(self, data: "mujoco.MjData", commands: List[float], time: float) -> Tuple[List[float], List[float]]:
        """(the values the actuators apply, what the plant gets per motor: applied + push, for the
        task's statistics); a push goes into qfrc_applied."""
        if self.disturbances.empty:
            return commands, commands
        applied, push = self.state.actuate(commands, time)
        if self.push is not None:
            dof, per_unit = self.push
            data.qfrc_applied[dof] = push[self.disturbances.push.motor] * per_unit
        return applied, [a + p for a, p in zip(applied, push)]

    def summary(self) -> List[str]:
        robot = self.setup.robot
        lines = []
        d = self.disturbances.summary([c.name for c in robot.sensors], [m.name for m in robot.motors])
        if d:
            lines.append(f"disturbances {d}")
        c = self.conditions.summary()
        if c:
            lines.append(f"episodes     {c}")
        return lines
