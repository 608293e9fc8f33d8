#!/usr/bin/env python3
"""Writes the pendulum SNN controller: Config/networks/pendulum.yaml (the
network) and Config/pendulum.yaml (the controller configuration).

Swing-up and balance of the torque-limited pendulum (|u| <= 5 N m < m g l)
in spikes (docs/controllers.md). The law, with E = w^2/2 + g (1 + cos th) the
energy per unit inertia (E* = 2 g upright at rest):

    outside the upright zone:  u = ke (E* - E) sgn(w)      (energy pumping / braking)
    inside  (|th| < ~0.5 rad): u = -k1 th - k2 w            (linear balance)

Both are made of sums of one function of th and one of w, which
receptive fields compute (fieldnet.py); what is not a sum -- the product
with sgn(w), the switch between zones -- is done by rectifying hidden
populations: a leaky integrate-and-fire population fires at about
max(0, drive), so adding -M (a large inhibition) to a drive whenever a
condition is false gates it. Six hidden populations, each a rectified sum:

    pump+  = [ke (E* - E) - M [w < 0] - M [upright]]+   -> push
    pump-  = [ke (E* - E) - M [w > 0] - M [upright]]+   -> pull
    brake+ = [ke (E - E*) - M [w < 0] - M [upright]]+   -> pull
    brake- = [ke (E - E*) - M [w > 0] - M [upright]]+   -> push
    damp+  = [B - k2 w / 2 - M [not upright]]+          -> push
    damp-  = [B + k2 w / 2 - M [not upright]]+          -> pull

(damp+- carry a common bias B so that both stay in their linear range for
|k2 w / 2| < B, where their difference is exactly -k2 w.)
The angle term -k1 th [upright] goes straight from the angle fields to
push/pull. The torque is decoded push-pull from the two motor populations.

Standard library only. Run from anywhere: python3 Config/networks/pendulum.py
(--out, --name, --frames, --control: a copy of your own elsewhere; --help).
"""
import math

from fieldnet import (DV, MAX_RATE, S, command_line, fmt, input_population, integrator_population, preferred,
                      push_pull_projections, signed_projection, write)

G = 9.81               # m/s^2 (the simulator's m = l = 1, so torque = angular acceleration)
E_UP = 2 * G           # energy upright at rest, J per kg m^2
KE = 2.0               # N m per J of energy error (saturates at the torque limit far from E*)
K1, K2 = 25.0, 12.0    # N m per rad, per rad/s: closed loop th'' = -(k1 - g) th - k2 w (overdamped: the spikes lag)
TORQUE = 5.0           # N m, the actuator's limit: the balance terms are clipped a little above it
UP_IN, UP_OUT = 0.4, 0.6   # rad: upright zone fully on inside UP_IN, off outside UP_OUT
GATE = 30.0            # N m: M, the inhibition that gates a hidden population off
DAMP_BIAS = 3.0        # N m: B, common drive of damp+ and damp- (linear for |w| < 2 B / k2)
HIDDEN_TAU = "10 ms"   # leak of the hidden populations: short, so inhibition wears off fast
HIDDEN_OFFSET = 1.0    # N m added to every hidden drive: a 10 ms leak needs DV/tau to fire at all
ANGLE_FIELDS, RATE_FIELDS, RATE_RANGE = 41, 33, 8.0
HIDDEN = 16            # neurons per hidden population
MOTOR = 16
DECODER_GAIN = 0.02    # N m per Hz of (r_push - r_pull), per neuron; hidden populations use the same scale
FILTER_TAU = 10.0      # ms

BETA = DV / (DECODER_GAIN * S)            # mV per N m, fields -> a population
RELAY = DV / HIDDEN                       # mV: hidden -> motor, rate for rate


def clip(x, lo, hi):
    return min(max(x, lo), hi)


def upright(th):
    """1 inside the upright zone, 0 outside, a cosine ramp between."""
    a = abs(th)
    if a <= UP_IN:
        return 1.0
    if a >= UP_OUT:
        return 0.0
    return 0.5 * (1 + math.cos(math.pi * (a - UP_IN) / (UP_OUT - UP_IN)))


def positive(w):
    """[w > 0], ramped over +-0.5 rad/s (the rate fields are 0.5 rad/s apart)."""
    return clip(0.5 + w, 0, 1)


def potential(th):
    return KE * (E_UP - G * (1 + math.cos(th)))   # ke (E* - potential energy) >= 0


def kinetic(w):
    return KE * 0.5 * min(w * w, RATE_RANGE ** 2)


# hidden population: (function of th, function of w, target motor population)
HIDDEN_POPULATIONS = {
    "pump_pos": (lambda th: potential(th) - GATE * upright(th), lambda w: -kinetic(w) - GATE * (1 - positive(w)), "push"),
    "pump_neg": (lambda th: potential(th) - GATE * upright(th), lambda w: -kinetic(w) - GATE * positive(w), "pull"),
    "brake_pos": (lambda th: -potential(th) - GATE * upright(th), lambda w: kinetic(w) - GATE * (1 - positive(w)), "pull"),
    "brake_neg": (lambda th: -potential(th) - GATE * upright(th), lambda w: kinetic(w) - GATE * positive(w), "push"),
    "damp_pos": (lambda th: -GATE * (1 - upright(th)), lambda w: DAMP_BIAS + clip(-K2 / 2 * w, -2 * TORQUE, 2 * TORQUE), "push"),
    "damp_neg": (lambda th: -GATE * (1 - upright(th)), lambda w: DAMP_BIAS + clip(K2 / 2 * w, -2 * TORQUE, 2 * TORQUE), "pull"),
}


def balance_angle(th):
    return clip(-K1 * th, -1.2 * TORQUE, 1.2 * TORQUE) * upright(th)


def network():
    angle_mus = preferred(-math.pi, math.pi, ANGLE_FIELDS)
    rate_mus = preferred(-RATE_RANGE, RATE_RANGE, RATE_FIELDS)
    out = ["# Generated by Config/networks/pendulum.py; edit that and rerun it.",
           "# Pendulum swing-up and balance: receptive-field inputs, six rectifying hidden",
           "# populations (energy pumping/braking, gated damping), push/pull motor populations.",
           "# See docs/controllers.md.",
           "name: pendulum",
           "dt: 0.1 ms",
           "populations:"]
    out += input_population("angle_fields", ANGLE_FIELDS, f"pendulum.angle, fields over ±{fmt(math.pi)} rad")
    out += input_population("rate_fields", RATE_FIELDS, f"pendulum.rate, fields over ±{fmt(RATE_RANGE)} rad/s")
    for name in HIDDEN_POPULATIONS:
        out += integrator_population(name, HIDDEN, tau_m=HIDDEN_TAU)
    out += integrator_population("push", MOTOR, comment="positive torque")
    out += integrator_population("pull", MOTOR, comment="negative torque")
    out.append("projections:")
    for name, (f_angle, f_rate, target) in HIDDEN_POPULATIONS.items():
        offset = HIDDEN_OFFSET
        out += signed_projection("angle_fields", angle_mus, lambda th: f_angle(th) + offset, name, HIDDEN, BETA,
                                 f"angle part of {name}")
        out += signed_projection("rate_fields", rate_mus, f_rate, name, HIDDEN, BETA, f"rate part of {name}")
        out += [f"  - name: {name}->{target}",
                f"    from: {name}",
                f"    to: {target}",
                "    target: v",
                "    connect: {rule: all_to_all}",
                f"    weight: {fmt(RELAY)} mV"]
    out += push_pull_projections("angle_fields", angle_mus, balance_angle, "push", "pull", MOTOR, BETA,
                                 "-k1 angle in the upright zone")
    return "\n".join(out) + "\n"


def configuration():
    return f"""# Generated by Config/networks/pendulum.py; edit that and rerun it.
# Torque-limited pendulum: swing-up by energy pumping and balance, in spikes (docs/controllers.md):
#   Tools/eval pendulum --episodes 10 --duration 30s
# or by hand:
#   spikeloop run --config Config/pendulum.yaml &
#   spikeloop sim --robot Robots/pendulum.yaml --endpoint tcp://127.0.0.1:5575 --control ipc:///tmp/spikeloop-pendulum-control --duration 30s --episodes 10
robot: ../Robots/pendulum.yaml
network: networks/pendulum.yaml
seed: 1
loop:
  mode: lockstep
  tick_rate: 1 kHz
  watchdog_timeout: 1 s
  auto_resume: true
endpoints:
  frames: tcp://127.0.0.1:5575
  control: ipc:///tmp/spikeloop-pendulum-control
encoders:   # the angle wraps at ±pi (hanging); both end fields stand for hanging
  - {{sensor: pendulum.angle, kind: receptive_fields, population: angle_fields, range: [{fmt(-math.pi)}, {fmt(math.pi)}], process: regular, max_rate: {fmt(MAX_RATE)} Hz}}
  - {{sensor: pendulum.rate, kind: receptive_fields, population: rate_fields, range: [{fmt(-RATE_RANGE)}, {fmt(RATE_RANGE)}], process: regular, max_rate: {fmt(MAX_RATE)} Hz}}
decoders:   # torque = {fmt(DECODER_GAIN)} N m per Hz of (push - pull) rate per neuron
  - {{motor: pendulum.torque, kind: push_pull, population: push, opposing: pull, gain: {fmt(DECODER_GAIN)}, offset: 0, filter: {{tau: {fmt(FILTER_TAU)} ms}}}}
"""


if __name__ == "__main__":
    write(command_line("Write the pendulum swing-up SNN controller (network and configuration).", "pendulum").parse_args(), "pendulum", network(), configuration())
