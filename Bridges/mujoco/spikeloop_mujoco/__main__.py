"""spikeloop-mujoco: run an MJCF model as the daemon's robot (Bridges/mujoco/README.md)."""

import argparse
import sys
import time

import mujoco

from spikeloop_client import SpikeloopError
from spikeloop_client.bridge import SimLink
from spikeloop_client.cli import episode_line, quantity, total_lines
from spikeloop_client.disturbances import Settings, SimSettingError

from .mapping import MappingError, load_setup
from .runner import MujocoRobot
from .tasks import make_task


def parse(argv):
    ap = argparse.ArgumentParser(
        prog="spikeloop-mujoco",
        description="Run a MuJoCo model as the robot of a running spikeloop daemon (`spikeloop run --config FILE`), "
                    "like `spikeloop sim` does with a built-in simulator. Episode k (from 0) starts from seed --seed + k.",
        epilog="Example: spikeloop run --config Config/cartpole.yaml &  "
               "Bridges/mujoco/spikeloop-mujoco --robot Robots/cartpole.yaml --endpoint tcp://127.0.0.1:5571 "
               "--control ipc:///tmp/spikeloop-cartpole-control --episodes 20 --duration 60s")
    ap.add_argument("--robot", help="robot description Robots/NAME.yaml (channels, ranges, task parameters)")
    ap.add_argument("--model", help="MJCF model (default: the robot file with .xml, e.g. Robots/cartpole.xml)")
    ap.add_argument("--map", help="mapping file: channel -> MuJoCo sensor/actuator, robot and model paths, task")
    ap.add_argument("--endpoint", default="tcp://127.0.0.1:5555",
                    help="the daemon's frames endpoint (lockstep: its REP; realtime: its SUB)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--lockstep", dest="mode", action="store_const", const="lockstep",
                      help="REQ/REP, simulated time, as fast as the daemon answers (default)")
    mode.add_argument("--realtime", dest="mode", action="store_const", const="realtime",
                      help="PUB/SUB, one tick per period of the wall clock (needs --commands)")
    ap.set_defaults(mode="lockstep")
    ap.add_argument("--commands", help="realtime: the daemon's command endpoint (its PUB)")
    ap.add_argument("--control", help="lockstep: the daemon's control endpoint; a reset is sent before every episode")
    ap.add_argument("--duration", default="20s", help="simulated time per episode (an episode also ends on failure)")
    ap.add_argument("--episodes", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", default="1kHz", help="control rate; must equal the daemon's loop.tick_rate")
    ap.add_argument("--timeout", default="5s", help="lockstep: give up when the daemon does not answer")
    ap.add_argument("--no-hello", action="store_true", help="lockstep: skip the Hello handshake")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a simulator: key over the robot file's (YAML value), e.g. "
                         "'disturbances={sensor_delay: 2}', 'initial_state={angle: 0.2}', "
                         "'randomize={pole_mass: {uniform: [0.05, 0.2]}}', init_angle=0.05 (repeatable)")
    args = ap.parse_args(argv)
    if not (args.robot or args.map):
        ap.error("--robot Robots/NAME.yaml (or --map FILE naming it) is required")
    if args.mode == "realtime" and not args.commands:
        ap.error("--realtime needs --commands ENDPOINT, the daemon's command publisher, e.g. tcp://127.0.0.1:5556")
    if args.control and args.mode == "realtime":
        ap.error("--control is for lockstep mode")
    if args.episodes < 1:
        ap.error("--episodes must be at least 1")
    try:
        args.duration_s = quantity(args.duration, "time", "--duration")
        args.rate_hz = quantity(args.rate, "rate", "--rate")
        args.timeout_ms = int(quantity(args.timeout, "time", "--timeout") * 1000)
    except ValueError as e:
        ap.error(str(e))
    return args


def main(argv=None):
    args = parse(argv)
    try:
        setup = load_setup(args.robot, args.model, args.map)
        try:
            settings = Settings(setup.robot.path, dict(setup.robot.simulator)).setting(args.set)
        except SimSettingError as e:
            raise MappingError(str(e)) from None
        setup.robot.simulator = settings.mapping   # the task's parameters too (init_angle, …)
        task = make_task(setup)
        robot = MujocoRobot(setup, task, args.rate_hz, settings)
    except MappingError as e:
        sys.exit(f"error: {e}")
    layout = setup.robot.layout
    print(f"robot        {layout.robot} (MuJoCo {mujoco.__version__}, {setup.model_path}, layout {layout.hash:#018x})")
    print(f"loop         {args.mode}, {args.rate_hz:g} Hz control, {robot.substeps} mj_step{'s' if robot.substeps != 1 else ''} "
          f"of {setup.model.opt.timestep:g} s per tick, task {task.name}, {args.duration_s:g} s × {args.episodes} "
          f"episode{'s' if args.episodes != 1 else ''} from seed {args.seed}")
    for line in robot.conditions.summary():
        print(line)
    sys.stdout.flush()
    realtime = args.mode == "realtime"

    def report(r):
        extra = "  ".join(x for x in (r.counters.describe(realtime), r.describe()) if x)
        print(episode_line(r.episode, r.seed, r.steps, r.simulated_seconds, r.failed, r.statistics, extra), flush=True)

    start = time.monotonic()
    try:
        with SimLink(setup.robot, rate_hz=args.rate_hz, endpoint=args.endpoint, mode=args.mode,
                     commands=args.commands, control=args.control, timeout_ms=args.timeout_ms,
                     hello=not args.no_hello, peer_name=f"spikeloop-mujoco {mujoco.__version__}") as link:
            results = robot.run(link, episodes=args.episodes, duration=args.duration_s, seed=args.seed, report=report)
    except (SpikeloopError, MappingError) as e:
        sys.exit(f"error: {e}")
    wall = time.monotonic() - start
    for line in total_lines(sum(r.steps for r in results), sum(r.simulated_seconds for r in results), wall,
                            sum(r.failed for r in results), len(results), [r.statistics for r in results]):
        print(line)


if __name__ == "__main__":
    main()
