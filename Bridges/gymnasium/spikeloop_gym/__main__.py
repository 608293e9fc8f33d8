"""spikeloop-gym: run a Gymnasium environment as the daemon's robot (Bridges/gymnasium/README.md)."""

import argparse
import sys
import time

from spikeloop_client import SpikeloopError
from spikeloop_client.bridge import SimLink
from spikeloop_client.cli import episode_line, fmt, quantity, total_lines

from .env import GymRobot
from .mapping import GymMappingError, load_mapping
from .runner import run_episodes


def parse(argv):
    ap = argparse.ArgumentParser(
        prog="spikeloop-gym",
        description="Run a Gymnasium environment as the robot of a running spikeloop daemon in lockstep mode. "
                    "Episode k (from 0) resets the environment with seed --seed + k.",
        epilog="Example: spikeloop run --config Config/cartpole.yaml &  Bridges/gymnasium/spikeloop-gym "
               "Bridges/gymnasium/maps/cartpole-v1.yaml --endpoint tcp://127.0.0.1:5571 --control ipc:///tmp/spikeloop-cartpole-control --episodes 10")
    ap.add_argument("mapping", help="mapping file: env, robot, observation -> sensor channels, motor channels -> action")
    ap.add_argument("--robot", help="robot description (default: the mapping file's robot:)")
    ap.add_argument("--endpoint", default="tcp://127.0.0.1:5555", help="the daemon's frames endpoint (its REP)")
    ap.add_argument("--control", help="the daemon's control endpoint; a reset is sent before every episode")
    ap.add_argument("--episodes", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-steps", type=int, help="end an episode after this many env steps (default: the env's limit)")
    ap.add_argument("--rate", default="1kHz", help="the daemon's loop.tick_rate")
    ap.add_argument("--timeout", default="5s", help="give up when the daemon does not answer")
    ap.add_argument("--no-hello", action="store_true", help="skip the Hello handshake")
    args = ap.parse_args(argv)
    if args.episodes < 1:
        ap.error("--episodes must be at least 1")
    try:
        args.rate_hz = quantity(args.rate, "rate", "--rate")
        args.timeout_ms = int(quantity(args.timeout, "time", "--timeout") * 1000)
    except ValueError as e:
        ap.error(str(e))
    return args


def main(argv=None):
    args = parse(argv)
    import gymnasium
    try:
        mapping = load_mapping(args.mapping, args.robot)
        try:
            env = gymnasium.make(mapping.env_id, **mapping.env_kwargs)
        except Exception as e:  # noqa: BLE001 - gymnasium raises several kinds for a bad id or kwargs
            raise GymMappingError(f"{mapping.path}: env: gymnasium cannot make '{mapping.env_id}': {e}") from None
        robot = GymRobot(mapping, env, args.rate_hz)
    except GymMappingError as e:
        sys.exit(f"error: {e}")
    layout = mapping.robot.layout
    kind = mapping.discrete and f"Discrete ({mapping.discrete}, from the {mapping.action_from} command)" \
        or f"Box (from the {mapping.action_from} command)"
    print(f"robot        {layout.robot} as Gymnasium {gymnasium.__version__} {mapping.env_id} (layout {layout.hash:#018x})")
    print(f"loop         lockstep, {args.rate_hz:g} Hz control, {robot.ticks_per_step} ticks per env step of "
          f"{fmt(robot.dt)} s, actions {kind}, {args.episodes} episode{'s' if args.episodes != 1 else ''} "
          f"from seed {args.seed}", flush=True)

    def report(e):
        extra = " ".join(x for x in ("truncated" if e.truncated else "", e.counters.describe(False)) if x)
        print(episode_line(e.episode, e.seed, e.ticks, e.steps * robot.dt, e.terminated, e.statistics, extra), flush=True)

    start = time.monotonic()
    try:
        with SimLink(mapping.robot, rate_hz=args.rate_hz, endpoint=args.endpoint, control=args.control,
                     timeout_ms=args.timeout_ms, hello=not args.no_hello,
                     peer_name=f"spikeloop-gym {mapping.env_id}") as link:
            results = run_episodes(robot, link, episodes=args.episodes, seed=args.seed, max_steps=args.max_steps,
                                   report=report)
    except SpikeloopError as e:
        sys.exit(f"error: {e}")
    finally:
        env.close()
    wall = time.monotonic() - start
    for line in total_lines(sum(e.ticks for e in results), sum(e.steps * robot.dt for e in results), wall,
                            sum(e.terminated for e in results), len(results), [e.statistics for e in results]):
        print(line)


if __name__ == "__main__":
    main()
