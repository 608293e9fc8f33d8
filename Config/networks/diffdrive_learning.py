#!/usr/bin/env python3
"""Writes the differential-drive controller that learns to seek the light:
Config/networks/diffdrive-learning.yaml and Config/diffdrive-learning.yaml
(docs/learning.md).

It is the Braitenberg vehicle of diffdrive.py with its light-seeking part
taken out and learned instead:
  - innate (fixed, as in diffdrive.py): go(F) + turn(F) and side(L), side(R),
    the cruise and the obstacle reflexes;
  - learned: the light fields project onto two steering populations,
    seek_left and seek_right, through reward_stdp synapses whose initial
    weights are drawn uniformly in [0, W_MAX] from the configuration's seed,
    so the vehicle starts without any preference for the light;
  - the steering populations inhibit each other (winner takes all, so a
    choice of direction is credited to the synapses that made it) and turn
    the robot: seek_left speeds up the right wheel and slows the left one.
The reward (Robots/diffdrive.yaml with `heading_gain`) is the rotation towards
the light in each tick: a turn the right way is rewarded, the wrong way
punished, and the eligibility traces tie it to the synapses that chose it.

Standard library only. Run from anywhere: python3 Config/networks/diffdrive_learning.py
"""
import os

from diffdrive import BETA, CHANNELS, MOTOR, WHEELS, decoders
from fieldnet import (MAX_RATE, V_RESET, V_REST, V_THRESHOLD, fmt, input_population, integrator_population,
                      preferred, push_pull_projections)

HERE = os.path.dirname(os.path.abspath(__file__))

INNATE = CHANNELS[:3]        # the range channels: cruise and obstacle reflexes
# The light channels, learned: rate coded over [0, 0.5] (readings fall as 1/(1 + d²), so
# what there is to learn from lies below 0.5; brighter saturates), so that no light
# means no drive and the steering is silent, and the drive grows with the light.
LIGHT_SPAN = (0.0, 0.5)
LIGHT_SIZE, LIGHT_RATE = 20, 500.0     # neurons per light sensor, Hz at 0.5
LIGHTS = [(sensor, pop.replace("_fields", "_rates"), LIGHT_SPAN, LIGHT_SIZE, left, right)
          for sensor, pop, _, _, left, right in CHANNELS[3:]]
STEER = 8                    # neurons per steering population
BIAS = 12.0                  # mV of constant drive (threshold: 20 mV above rest), so that a faint light steers
W_MAX = 1.0                  # mV, bound of the learned weights (initial: uniform in [0, W_MAX])
INHIBITION = -5.0            # mV, each steering neuron onto every neuron of the other population
# Exploration: each steering population gets its own slow noise, Poisson trains through
# exponential synapses of 200 ms, excitatory and inhibitory so that the mean is 0
# (standard deviation about 20 mV), so the losing direction wins now and then for long
# enough to turn the robot and be judged.
NOISE_SIZE, NOISE_RATE, NOISE_WEIGHT, NOISE_TAU = 10, 50.0, 2.0, 200.0   # neurons, Hz, mV, ms
# Avoidance takes over near obstacles (subsumption): range fields below these readings
# silence both steering populations, so the reflexes' turns are never credited to them.
SUPPRESS = {"range.front": 0.3, "range.left": 0.2, "range.right": 0.2}   # m: close, so that lights near walls stay in reach
SUPPRESS_WEIGHT = -10.0   # mV
TURN_WEIGHT = 2.5            # mV, steering neuron -> wheel integrator (0.1 m/s per wheel at 100 Hz per steering neuron)
RULE = {"a_pre": "0.0001 mV", "a_post": "-0.00005 mV", "tau_pre": "20 ms", "tau_post": "20 ms",
        "tau_c": "200 ms", "tau_d": "100 ms", "baseline_tau": "10 s"}
# (steering population, the wheel it speeds up, the wheel it slows down)
STEERING = [("seek_left", "right_forward", "left_backward"), ("seek_right", "left_forward", "right_backward")]


def steering_population(name):
    return [f"  - name: {name}",
            "    model: lif",
            f"    size: {STEER}",
            f"    params: {{tau_m: 20 ms, v_rest: {fmt(V_REST)} mV, v_threshold: {fmt(V_THRESHOLD)} mV, "
            f"v_reset: {fmt(V_RESET)} mV, t_ref: 2 ms, tau_e: {fmt(NOISE_TAU)} ms, tau_i: {fmt(NOISE_TAU)} ms, "
            f"i_ext: {fmt(BIAS)} nA}}"]


def noise_populations(name):
    return [f"  - {{name: {name}_noise_{sign}, model: poisson, size: {NOISE_SIZE}, params: {{rate: {fmt(NOISE_RATE)} Hz}}}}"
            for sign in ("e", "i")]


def all_to_all(name, source, target, weight, comment="", plastic=False, variable="v"):
    out = [f"  - name: {name}" + (f"   # {comment}" if comment else ""),
           f"    from: {source}",
           f"    to: {target}",
           f"    target: {variable}",
           "    connect: {rule: all_to_all}",
           f"    weight: {weight}"]
    if plastic:
        keys = ", ".join(f"{k}: {v}" for k, v in RULE.items())
        out.append(f"    plasticity: {{rule: reward_stdp, {keys}, w_min: 0 mV, w_max: {fmt(W_MAX)} mV}}")
    return out


def fields_onto(name, source, fields, target, weight, comment):
    pairs = ", ".join(f"[{j}, {i}]" for j in fields for i in range(STEER))
    return [f"  - name: {name}   # {comment}",
            f"    from: {source}",
            f"    to: {target}",
            "    target: v",
            f"    connect: {{rule: list, pairs: [{pairs}]}}",
            f"    weight: {fmt(weight)} mV"]


def network():
    out = ["# Generated by Config/networks/diffdrive_learning.py; edit that and rerun it.",
           "# The Braitenberg vehicle of diffdrive.yaml whose light seeking is learned from reward",
           "# (reward_stdp onto two competing steering populations). See docs/learning.md.",
           "name: diffdrive-learning",
           "dt: 0.1 ms",
           "populations:"]
    for sensor, pop, (lo, hi), n, _, _ in INNATE:
        out += input_population(pop, n, f"{sensor}, fields over [{fmt(lo)}, {fmt(hi)}]")
    for sensor, pop, (lo, hi), n, _, _ in LIGHTS:
        out += input_population(pop, n, f"{sensor}, rate over [{fmt(lo)}, {fmt(hi)}]")
    for _, forward, backward in WHEELS:
        out += integrator_population(forward, MOTOR) + integrator_population(backward, MOTOR)
    for name, _, _ in STEERING:
        out += steering_population(name) + noise_populations(name)
    out.append("projections:")
    for sensor, pop, (lo, hi), n, on_left, on_right in INNATE:
        mus = preferred(lo, hi, n)
        for (wheel, forward, backward), function in zip(WHEELS, (on_left, on_right)):
            out += push_pull_projections(pop, mus, function, forward, backward, MOTOR, BETA, f"{sensor} -> {wheel} wheel")
    for sensor, pop, _, _, _, _ in LIGHTS:
        for name, _, _ in STEERING:
            out += all_to_all(f"{pop}->{name}", pop, name, f"{{uniform: [0 mV, {fmt(W_MAX)} mV]}}",
                              f"{sensor}, learned", plastic=True)
    (left, _, _), (right, _, _) = STEERING
    out += all_to_all(f"{left}-|{right}", left, right, f"{fmt(INHIBITION)} mV", "winner takes all")
    out += all_to_all(f"{right}-|{left}", right, left, f"{fmt(INHIBITION)} mV")
    for sensor, pop, (lo, hi), n, _, _ in INNATE:
        fields = [j for j, mu in enumerate(preferred(lo, hi, n)) if mu < SUPPRESS[sensor]]
        for name, _, _ in STEERING:
            out += fields_onto(f"{pop}-|{name}", pop, fields, name, SUPPRESS_WEIGHT,
                               f"{sensor} below {fmt(SUPPRESS[sensor])} m: avoidance takes over")
    for name, _, _ in STEERING:
        out += all_to_all(f"{name}_noise_e->{name}", f"{name}_noise_e", name, f"{fmt(NOISE_WEIGHT)} mV", "exploration",
                          variable="g_e")
        out += all_to_all(f"{name}_noise_i->{name}", f"{name}_noise_i", name, f"{fmt(-NOISE_WEIGHT)} mV", variable="g_i")
    for name, faster, slower in STEERING:
        out += all_to_all(f"{name}->{faster}", name, faster, f"{fmt(TURN_WEIGHT)} mV")
        out += all_to_all(f"{name}->{slower}", name, slower, f"{fmt(TURN_WEIGHT)} mV")
    return "\n".join(out) + "\n"


def configuration():
    enc = [f"  - {{sensor: {sensor}, kind: receptive_fields, population: {pop}, range: [{fmt(lo)}, {fmt(hi)}], "
           f"process: regular, max_rate: {fmt(MAX_RATE)} Hz}}" for sensor, pop, (lo, hi), _, _, _ in INNATE]
    enc += [f"  - {{sensor: {sensor}, kind: rate, population: {pop}, range: [{fmt(lo)}, {fmt(hi)}], "
            f"process: poisson, max_rate: {fmt(LIGHT_RATE)} Hz}}" for sensor, pop, (lo, hi), _, _, _ in LIGHTS]
    dec = decoders()
    return f"""# Generated by Config/networks/diffdrive_learning.py; edit that and rerun it.
# Differential-drive robot that learns to seek the light from reward (docs/learning.md):
#   Tools/learn diffdrive
# or by hand (the light moves when reached; the reward is the rotation towards it):
#   spikeloop run --config Config/diffdrive-learning.yaml &
#   spikeloop sim --robot Robots/diffdrive.yaml --endpoint tcp://127.0.0.1:5574 --control ipc:///tmp/spikeloop-diffdrive-learning-control --set light_reach=0.15 --set heading_gain=1 --set progress_gain=0 --duration 120s --episodes 15
robot: ../Robots/diffdrive.yaml
network: networks/diffdrive-learning.yaml
seed: 1       # draws the initial weights, the light's Poisson trains and the exploration noise
loop:
  mode: lockstep
  tick_rate: 1 kHz
  watchdog_timeout: 1 s
  auto_resume: true
endpoints:
  frames: tcp://127.0.0.1:5574
  control: ipc:///tmp/spikeloop-diffdrive-learning-control
learning: {{rate: 1}}
persistence: {{weights: diffdrive-learning.slw}}   # what was learned, saved on shutdown
encoders:
{chr(10).join(enc)}
  - {{sensor: wheel.left.speed, kind: ignore}}
  - {{sensor: wheel.right.speed, kind: ignore}}
decoders:
{chr(10).join(dec)}
"""


if __name__ == "__main__":
    with open(os.path.join(HERE, "diffdrive-learning.yaml"), "w") as f:
        f.write(network())
    with open(os.path.join(HERE, "..", "diffdrive-learning.yaml"), "w") as f:
        f.write(configuration())
