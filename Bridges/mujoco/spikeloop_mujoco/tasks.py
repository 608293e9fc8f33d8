"""Tasks: how an episode starts, when it fails, its reward and its statistics —
the built-in simulators' (docs/simulators.md), with their parameters read from
the robot description's `simulator:` mapping, so that one robot file and one
seed give the same task in both simulators. The physics is MuJoCo's.
"""

import math
from typing import Any, Dict, List, Tuple

import mujoco
import numpy as np

from spikeloop_client.disturbances import SimRandom

from .mapping import BridgeSetup, MappingError

Statistic = Tuple[str, float, str]


class Task:
    """No task: the model's initial state (keyframe 0 if there is one), no failure, reward 0."""

    name = "none"
    # initial_state components this task sets after drawing a start, and its named
    # parameters for randomize (besides MuJoCo's own: body.NAME.mass, …; ModelParameters).
    state_keys: Tuple[str, ...] = ()
    parameter_keys: Tuple[str, ...] = ()

    def set_state(self, data: "mujoco.MjData", values: Dict[str, float]) -> None:
        pass

    def set_parameter(self, parameters: "ModelParameters", key: str, value: float) -> None:
        raise MappingError(f"{self.setup.robot.path}: no parameter '{key}' in the task {self.name}")

    def __init__(self, setup: BridgeSetup, params: Dict[str, Any]):
        self.setup = setup
        self.model = setup.model
        self.reward = 0.0
        self.failed = False
        self.steps = 0

    def reset(self, data: "mujoco.MjData", seed: int) -> None:
        if self.model.nkey > 0:
            mujoco.mj_resetDataKeyframe(self.model, data, 0)
        else:
            mujoco.mj_resetData(self.model, data)
        self.reward = 0.0
        self.failed = False
        self.steps = 0

    def after_tick(self, data: "mujoco.MjData", motors: List[float], period: float) -> None:
        self.steps += 1

    def statistics(self) -> List[Statistic]:
        return []


def _param(params: Dict[str, Any], path: str, key: str, default: float) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MappingError(f"{path}: simulator.{key}: expected a number; got {value!r}")
    return float(value)


class CartPoleTask(Task):
    """Failure at |angle| > fail_angle_deg or |x| > fail_x; reward +1 per tick that
    ends upright; the initial angle, x, v and rate uniform in ±init_* drawn in
    the built-in simulator's order."""

    name = "cartpole"
    state_keys = ("x", "v", "angle", "rate")
    parameter_keys = ("cart_mass", "pole_mass", "pole_half_length", "gravity", "cart_friction", "pole_friction",
                      "fail_angle_deg", "fail_x")

    def __init__(self, setup, params):
        super().__init__(setup, params)
        path = setup.robot.path
        self.fail_angle = math.radians(_param(params, path, "fail_angle_deg", 12))
        self.fail_x = _param(params, path, "fail_x", 2.4)
        self.init = [_param(params, path, k, d) for k, d in
                     (("init_angle", 0.1), ("init_x", 0), ("init_v", 0), ("init_rate", 0))]
        joints = setup.channel_joint
        for channel in ("cart.x", "pole.angle"):
            if channel not in joints:
                raise MappingError(f"{setup.model_path}: the cart-pole task needs the channel {channel} from a jointpos "
                                   f"sensor (it finds the cart's slide and the pole's hinge through it)")
        self.x_joint, self.angle_joint = joints["cart.x"], joints["pole.angle"]
        self.x_qpos = int(self.model.jnt_qposadr[joints["cart.x"]])
        self.x_dof = int(self.model.jnt_dofadr[joints["cart.x"]])
        self.angle_qpos = int(self.model.jnt_qposadr[joints["pole.angle"]])
        self.angle_dof = int(self.model.jnt_dofadr[joints["pole.angle"]])

    def set_state(self, data, values):
        for key, value in values.items():
            index = {"x": self.x_qpos, "angle": self.angle_qpos}.get(key)
            if index is not None:
                data.qpos[index] = value
            else:
                data.qvel[self.x_dof if key == "v" else self.angle_dof] = value

    def set_parameter(self, parameters, key, value):
        """The built-in cart-pole's parameters in the MJCF: the bodies of the slide and the hinge,
        the pole's centre of mass at its half-length (inertia scaled as a rod's), Coulomb
        friction of the cart as the slide's frictionloss, viscous friction of the pole as the
        hinge's damping."""
        m = self.model
        cart, pole = int(m.jnt_bodyid[self.x_joint]), int(m.jnt_bodyid[self.angle_joint])
        if key == "cart_mass":
            parameters.set_mass(cart, value)
        elif key == "pole_mass":
            parameters.set_mass(pole, value)
        elif key == "pole_half_length":
            parameters.set_length(pole, value)
        elif key == "gravity":
            m.opt.gravity[:] = (0.0, 0.0, -value)
        elif key == "cart_friction":
            m.dof_frictionloss[self.x_dof] = value
        elif key == "pole_friction":
            m.dof_damping[self.angle_dof] = value
        elif key == "fail_angle_deg":
            self.fail_angle = math.radians(value)
        elif key == "fail_x":
            self.fail_x = value

    def reset(self, data, seed):
        super().reset(data, seed)
        random = SimRandom(seed)
        angle, x, v, rate = (random.uniform(w) for w in self.init)
        data.qpos[self.angle_qpos] = angle
        data.qpos[self.x_qpos] = x
        data.qvel[self.x_dof] = v
        data.qvel[self.angle_dof] = rate
        self.balanced = 0.0
        self.sum_angle = self.sum_x = self.max_angle = self.sum_force = self.total_reward = 0.0

    def after_tick(self, data, motors, period):
        self.steps += 1
        angle = abs(data.qpos[self.angle_qpos])
        x = abs(data.qpos[self.x_qpos])
        self.sum_angle += angle
        self.sum_x += x
        self.sum_force += abs(motors[0])
        self.max_angle = max(self.max_angle, angle)
        if not self.failed and (angle > self.fail_angle or x > self.fail_x):
            self.failed = True
        self.reward = 0.0 if self.failed else 1.0
        self.total_reward += self.reward
        if not self.failed:
            self.balanced = self.steps * period

    def statistics(self):
        n = max(self.steps, 1)
        return [("balanced", self.balanced, "s"), ("mean|angle|", math.degrees(self.sum_angle / n), "deg"),
                ("max|angle|", math.degrees(self.max_angle), "deg"), ("mean|x|", self.sum_x / n, "m"),
                ("mean|force|", self.sum_force / n, "N"), ("reward", self.total_reward, "")]


class DiffDriveTask(Task):
    """The robot body moves in the plane on slide x, slide y and hinge z joints
    (named in the mapping's task section). Start: uniform in the arena with
    init_clearance of free space (MuJoCo's own geom distances, so the MJCF's
    geometry decides) and init_light_distance from the light, heading uniform,
    drawn like the built-in simulator. A collision is the start of a contact
    between the robot's geoms and any other; reward: progress_gain × metres
    approached to the light − collision_penalty per collision."""

    name = "diffdrive"
    state_keys = ("x", "y", "heading")

    def __init__(self, setup, params):
        super().__init__(setup, params)
        path, where = setup.robot.path, setup.model_path
        m = self.model
        task = setup.task
        body = task.get("body", "robot")
        self.body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, body)
        if self.body < 0:
            raise MappingError(f"{where}: task.body: no body named '{body}' (the robot) in {setup.model_path}")
        light = task.get("light", "light")
        self.light = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, light)
        if self.light < 0:
            raise MappingError(f"{where}: task.light: no body named '{light}' (the light) in {setup.model_path}")
        self.qpos, self.dofs = [], []
        for key, default in (("x_joint", "robot.x"), ("y_joint", "robot.y"), ("yaw_joint", "robot.yaw")):
            name = task.get(key, default)
            j = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, name)
            if j < 0:
                raise MappingError(f"{where}: task.{key}: no joint named '{name}' in {setup.model_path}")
            self.qpos.append(int(m.jnt_qposadr[j]))
            self.dofs.append(int(m.jnt_dofadr[j]))
        self.robot_geoms = {g for g in range(m.ngeom) if m.geom_bodyid[g] == self.body}
        if not self.robot_geoms:
            raise MappingError(f"{where}: task.body: the body '{body}' has no geom to collide with")
        # What the robot can collide with (MuJoCo's contype/conaffinity rule).
        self.obstacle_geoms = [g for g in range(m.ngeom) if g not in self.robot_geoms and any(
            m.geom_contype[g] & m.geom_conaffinity[r] or m.geom_conaffinity[g] & m.geom_contype[r]
            for r in self.robot_geoms)]
        arena = params.get("arena", [4, 4])
        self.half = (float(arena[0]) / 2, float(arena[1]) / 2)
        self.radius = _param(params, path, "robot_radius", 0.1)
        self.init_clearance = _param(params, path, "init_clearance", 0.3)
        self.init_light_distance = _param(params, path, "init_light_distance", 1)
        self.progress_gain = _param(params, path, "progress_gain", 10)
        self.collision_penalty = _param(params, path, "collision_penalty", 1)
        self.cell = _param(params, path, "coverage_cell", 0.2)
        self.columns = max(1, math.ceil(2 * self.half[0] / self.cell - 1e-9))
        self.rows = max(1, math.ceil(2 * self.half[1] / self.cell - 1e-9))
        self._probe = mujoco.MjData(m)

    def light_distance(self, data) -> float:
        p, q = data.xpos[self.body], data.xpos[self.light]
        return math.hypot(p[0] - q[0], p[1] - q[1])

    def _clearance(self, x: float, y: float) -> float:
        """Free space around the robot placed at (x, y): the smallest MuJoCo geom distance."""
        d = self._probe
        mujoco.mj_resetData(self.model, d)
        d.qpos[self.qpos[0]], d.qpos[self.qpos[1]] = x, y
        mujoco.mj_forward(self.model, d)
        best = math.inf
        for r in self.robot_geoms:
            for g in self.obstacle_geoms:
                best = min(best, mujoco.mj_geomDistance(self.model, d, r, g, 10.0, None))
        return best

    def reset(self, data, seed):
        super().reset(data, seed)
        random = SimRandom(seed)
        mujoco.mj_forward(self.model, data)
        lx, ly = data.xpos[self.light][0], data.xpos[self.light][1]
        span = (self.half[0] - self.radius, self.half[1] - self.radius)
        for _ in range(100_000):
            x, y = random.uniform(span[0]), random.uniform(span[1])
            heading = random.uniform(math.pi)
            if math.hypot(x - lx, y - ly) >= self.init_light_distance and self._clearance(x, y) >= self.init_clearance:
                break
        else:
            raise MappingError(f"{self.setup.robot.path}: simulator: no start position with init_clearance "
                               f"{self.init_clearance} m in {self.setup.model_path}")
        self._start(data, x, y, heading)

    def set_state(self, data, values):
        x, y, heading = (values.get(k, float(data.qpos[q])) for k, q in zip(self.state_keys, self.qpos))
        self._start(data, x, y, heading)

    def _start(self, data, x, y, heading):
        data.qpos[self.qpos[0]], data.qpos[self.qpos[1]], data.qpos[self.qpos[2]] = x, y, heading
        mujoco.mj_forward(self.model, data)
        self.collisions = 0
        self.contact_ticks = 0
        self.in_contact = False
        self.distance = 0.0
        self.total_reward = 0.0
        self.covered = set()
        self._mark(x, y)
        self.position = (x, y)
        self.before = self.light_distance(data)
        self.start_distance = self.before
        self.closest = self.before

    def _mark(self, x, y):
        c = min(self.columns - 1, max(0, int((x + self.half[0]) / self.cell)))
        r = min(self.rows - 1, max(0, int((y + self.half[1]) / self.cell)))
        self.covered.add((r, c))

    def touching(self, data) -> bool:
        for i in range(data.ncon):
            c = data.contact[i]
            if c.dist < 0 and ((c.geom1 in self.robot_geoms) != (c.geom2 in self.robot_geoms)):
                return True
        return False

    def after_tick(self, data, motors, period):
        self.steps += 1
        x, y = float(data.xpos[self.body][0]), float(data.xpos[self.body][1])
        self.distance += math.hypot(x - self.position[0], y - self.position[1])
        self.position = (x, y)
        contact = self.touching(data)
        new = contact and not self.in_contact
        self.collisions += new
        self.contact_ticks += contact
        self.in_contact = contact
        self._mark(x, y)
        d = self.light_distance(data)
        self.reward = self.progress_gain * (self.before - d) - (self.collision_penalty if new else 0)
        self.before = d
        self.closest = min(self.closest, d)
        self.total_reward += self.reward
        self._period = period

    def statistics(self):
        period = getattr(self, "_period", 0.0)
        return [("collisions", float(self.collisions), ""), ("contact", self.contact_ticks * period, "s"),
                ("distance", self.distance, "m"), ("covered", len(self.covered) * self.cell ** 2, "m²"),
                ("start light distance", self.start_distance, "m"), ("light distance", self.before, "m"),
                ("closest to light", self.closest, "m"),
                ("reward", self.total_reward, "")]


TASKS = {"cartpole": CartPoleTask, "diffdrive": DiffDriveTask, "none": Task}


def make_task(setup: BridgeSetup) -> Task:
    name = setup.task.get("model") or setup.robot.simulator.get("model") or "none"
    if name not in TASKS:
        raise MappingError(f"{setup.robot.path}: simulator.model: no MuJoCo task '{name}'; one of {', '.join(TASKS)} "
                           f"(or set task: {{model: none}} in a mapping file)")
    params = {k: v for k, v in setup.robot.simulator.items() if k != "model"}
    return TASKS[name](setup, params)
