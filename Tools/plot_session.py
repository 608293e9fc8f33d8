#!/usr/bin/env python3
"""Plots a spikeloop session recording (MCAP) as one PNG.

    Tools/plot_session.py FILE.mcap [-o OUT.png] [--probes push:0,1 pull] [--zoom 5:5.5]

Panels, top to bottom:
  - over the whole session: every sensor channel (/sensors) and every motor
    channel as decoded and as sent after the safety filter (/motors/decoded,
    /motors/sent), ticks where the safety filter held the motors in grey;
  - over a zoomed window (--zoom, default the first 0.5 s; shaded above): a
    spike raster per population (/spikes) and the traces of the probed
    neurons (/probes, e.g. membrane voltages; --probes selects some);
  - a histogram of the daemon's compute time per tick.

Time axis: spikes and probes are stamped with their network step (step × dt);
motor commands carry the same clock in sim_time_ns. Sensor frames use their
sim_time_ns when a simulator sets it, otherwise (robots) their log time mapped
onto network time through the motor commands' (log time, sim time) pairs.

Compute time per tick: the command's sender_time_ns (the daemon's
CLOCK_MONOTONIC right after the network and decoders ran) minus the log time
of the sensor frame it answers (the frame's arrival on the same clock). Publish
times are CLOCK_MONOTONIC shifted to UTC by a constant offset, recovered
exactly from the first /events message (publish_time - time_ns). This is per tick, unlike
/loop_stats, which only has percentiles once a second; those p50/p99 are drawn
as lines for comparison.

Needs matplotlib (Agg backend, no display), numpy, pyyaml, mcap and
mcap-protobuf-support (Tools/requirements.txt).
"""

import argparse
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


class SessionError(Exception):
    pass


class Session:
    """The parts of a recording the plot needs, as numpy arrays."""

    def __init__(self, path):
        from mcap.reader import make_reader
        from mcap_protobuf.decoder import DecoderFactory
        try:
            f = open(path, "rb")
        except OSError as e:
            raise SessionError(f"cannot read {path}: {e.strerror}") from None
        spikes, probes, sensors, decoded, sent, stats, events = {}, {}, [], [], [], [], []
        with f:
            try:
                reader = make_reader(f, validate_crcs=True, decoder_factories=[DecoderFactory()])
                self.metadata = {m.name: dict(m.metadata) for m in reader.iter_metadata()}
                self.robot = self._robot(reader, self.metadata.get("spikeloop", {}))
                for _, channel, message, m in reader.iter_decoded_messages(log_time_order=False):
                    # publish_time: the daemon's clock (UTC) when it received or produced
                    # the message; log_time is simulation time in lockstep recordings.
                    topic, t = channel.topic, message.publish_time
                    if topic == "/spikes":
                        steps = np.asarray(m.step_offset, dtype=np.int64) + m.first_step
                        spikes.setdefault(m.population, []).append((steps * m.dt_ns * 1e-9, np.asarray(m.neuron)))
                    elif topic == "/probes":
                        n = len(m.neuron)
                        values = np.asarray(m.value, dtype=np.float32).reshape(-1, n)
                        times = (m.first_step + np.arange(values.shape[0])) * m.dt_ns * 1e-9
                        for k, neuron in enumerate(m.neuron):
                            probes.setdefault((m.population, m.variable, m.unit, neuron), []).append((times, values[:, k]))
                    elif topic == "/sensors":
                        sensors.append((t, m.sim_time_ns, m.sequence, list(m.values)))
                    elif topic == "/motors/decoded":
                        decoded.append((m.sim_time_ns, list(m.values)))
                    elif topic == "/motors/sent":
                        sent.append((t, m.sim_time_ns, m.sensor_sequence, m.sender_time_ns, m.safe_stop, list(m.values)))
                    elif topic == "/loop_stats":
                        stats.append(m)
                    elif topic == "/events":
                        events.append((t, m.time_ns))
            except SessionError:
                raise
            except Exception as e:  # the mcap library raises many kinds for a damaged file
                raise SessionError(f"cannot read {path}: {type(e).__name__}: {e} (a recording cut short or damaged? `spikeloop recover FILE` writes a readable copy of what is intact)") from None
        if not sent:
            raise SessionError(f"{path}: no motor commands recorded (is it a spikeloop session with at least one tick?)")
        self.spikes = {p: (np.concatenate([t for t, _ in v]), np.concatenate([n for _, n in v])) for p, v in spikes.items()}
        self.probes = {k: (np.concatenate([t for t, _ in v]), np.concatenate([x for _, x in v])) for k, v in probes.items()}
        self.stats = stats
        self._motors(decoded, sent)
        self._sensors(sensors)
        self._compute_times(sensors, sent, events)

    @staticmethod
    def _robot(reader, meta):
        """Sensor and motor channels (name, unit) from the robot description stored in the file."""
        import yaml
        for attachment in reader.iter_attachments():
            if attachment.name == meta.get("robot_file"):
                robot = yaml.safe_load(attachment.data.decode())
                return ([(c["name"], c.get("unit", "")) for c in robot.get("sensors", [])],
                        [(c["name"], c.get("unit", "")) for c in robot.get("motors", [])])
        return None

    def _motors(self, decoded, sent):
        self.motor_log_ns = np.array([s[0] for s in sent], dtype=np.int64)
        self.motor_t = np.array([s[1] for s in sent]) * 1e-9
        self.motor_sent = np.array([s[5] for s in sent], dtype=np.float32)
        self.safe_stop = np.array([s[4] for s in sent])
        # Written in pairs from one record, decoded first: match them by tick time.
        by_time = {t: v for t, v in decoded}
        self.motor_decoded = np.array([by_time.get(s[1], [np.nan] * len(s[5])) for s in sent], dtype=np.float32)
        names = self.robot[1] if self.robot else []
        self.motor_names = [names[i] if i < len(names) else (f"motor{i}", "") for i in range(self.motor_sent.shape[1])]

    def _sensors(self, sensors):
        self.sensor_values = np.array([s[3] for s in sensors], dtype=np.float32).reshape(len(sensors), -1)
        sim = np.array([s[1] for s in sensors], dtype=np.int64)
        if len(sim) and sim.any():
            self.sensor_t = sim * 1e-9
        else:  # robots send no simulation time: map the arrival onto network time
            log = np.array([s[0] for s in sensors], dtype=np.int64)
            self.sensor_t = np.interp(log, self.motor_log_ns, self.motor_t)
        names = self.robot[0] if self.robot else []
        self.sensor_names = [names[i] if i < len(names) else (f"sensor{i}", "") for i in range(self.sensor_values.shape[1])]

    def _compute_times(self, sensors, sent, events):
        self.compute_us = np.array([])
        offsets = [log - t for log, t in events if t]
        if not offsets:
            return
        offset = offsets[0]
        arrival = {seq: log for log, _, seq, _ in sensors}
        pairs = [(s[3] + offset) - arrival[s[2]] for s in sent if s[2] in arrival and s[3]]
        self.compute_us = np.array(pairs, dtype=np.float64) / 1e3


def parse_probe_selection(items):
    """['push:0,1', 'pull'] -> {'push': {0, 1}, 'pull': None} (None = every probed neuron)."""
    selection = {}
    for item in items or []:
        population, _, neurons = item.partition(":")
        selection[population] = {int(n) for n in neurons.split(",")} if neurons else None
    return selection


def plot(session, output, probes=None, zoom=None, title=None):
    selection = parse_probe_selection(probes)
    traces = {k: v for k, v in sorted(session.probes.items())
              if not selection or (k[0] in selection and (selection[k[0]] is None or k[3] in selection[k[0]]))}
    if selection and not traces:
        recorded = ", ".join(f"{p}:{n}" for p, _, _, n in sorted(session.probes)) or "none"
        raise SessionError(f"no probe matches {' '.join(probes)}; recorded: {recorded}")
    groups = sorted({(p, var, unit) for p, var, unit, _ in traces})
    meta = session.metadata.get("spikeloop", {})
    sizes = dict(item.split(":") for item in meta.get("populations", "").split(",") if ":" in item)
    populations = [p for p in sizes if p in session.spikes] + [p for p in session.spikes if p not in sizes]
    start, end = session.motor_t.min() - 1e-3, session.motor_t.max()
    # Spikes and membrane voltages at 10 kHz are unreadable over a whole
    # session: they get a zoomed window, marked on the whole-session panels.
    lo, hi = zoom if zoom else (start, min(end, start + 0.5))

    channels = [("sensor", i) for i in range(len(session.sensor_names))] + [("motor", i) for i in range(len(session.motor_names))]
    detail = [("raster", p) for p in populations] + [("probe", g) for g in groups]
    ratios = [len(channels) * 1.1, max(1, len(detail)) * 1.0, 2.2]
    fig = plt.figure(figsize=(11, 0.85 * sum(ratios) + 1.2), dpi=110)
    outer = fig.add_gridspec(3, 1, height_ratios=ratios, hspace=0.22)

    def label(ax, text):
        ax.set_ylabel(text, rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(labelsize=7)

    axes = []
    for i, (kind, what) in enumerate(channels):
        ax = fig.add_subplot(outer[0].subgridspec(len(channels), 1, hspace=0.1)[i], sharex=axes[0] if axes else None)
        axes.append(ax)
        if kind == "sensor":
            name, unit = session.sensor_names[what]
            ax.plot(session.sensor_t, session.sensor_values[:, what], linewidth=0.8, color="tab:blue")
        else:
            name, unit = session.motor_names[what]
            t = session.motor_t
            # Sent on top: the decoded line shows only where the safety filter changed a value.
            ax.plot(t, session.motor_decoded[:, what], linewidth=0.9, color="tab:orange", label="decoded")
            ax.plot(t, session.motor_sent[:, what], linewidth=0.5, color="tab:red", label="sent")
            if session.safe_stop.any():
                ax.fill_between(t, 0, 1, where=session.safe_stop, transform=ax.get_xaxis_transform(), color="0.8",
                                label="safe stop", step="mid")
            ax.legend(loc="upper right", fontsize=6, ncol=3, frameon=False)
        ax.axvspan(lo, hi, color="tab:purple", alpha=0.12, linewidth=0)
        label(ax, f"{name}\n({unit})")
        ax.tick_params(labelbottom=(i == len(channels) - 1))
    if axes:
        axes[0].set_xlim(start, end)
        axes[-1].set_xlabel("network time (s); shaded: the window below", fontsize=8)

    zoomed = []
    for i, (kind, what) in enumerate(detail):
        ax = fig.add_subplot(outer[1].subgridspec(len(detail), 1, hspace=0.1)[i], sharex=zoomed[0] if zoomed else None)
        zoomed.append(ax)
        if kind == "raster":
            t, n = session.spikes[what]
            keep = (t >= lo) & (t <= hi)
            ax.plot(t[keep], n[keep], "|", color="k", markersize=3, markeredgewidth=0.6)
            size = int(sizes.get(what, n.max() + 1 if len(n) else 1))
            ax.set_ylim(-0.5, size - 0.5)
            ax.set_yticks([])
            label(ax, f"{what}\n({size} neurons)")
        else:
            population, variable, unit = what
            for (p, var, _, neuron), (t, x) in traces.items():
                if (p, var) == (population, variable):
                    keep = (t >= lo) & (t <= hi)
                    ax.plot(t[keep], x[keep], linewidth=0.7, label=f"#{neuron}")
            ax.legend(loc="upper right", fontsize=6, ncol=6, frameon=False)
            label(ax, f"{population}.{variable}\n({unit})")
        ax.tick_params(labelbottom=(i == len(detail) - 1))
    if zoomed:
        zoomed[0].set_xlim(lo, hi)
        zoomed[-1].set_xlabel("network time (s): spikes per population and probed state variables", fontsize=8)

    ax = fig.add_subplot(outer[2])
    compute = session.compute_us
    if len(compute):
        top = np.percentile(compute, 99.9)
        ax.hist(np.clip(compute, 0, top), bins=120, color="tab:gray")
        ax.set_yscale("log")
        p50, p99 = np.percentile(compute, [50, 99])
        ax.axvline(p50, color="tab:green", linewidth=1, label=f"p50 {p50:.1f} µs")
        ax.axvline(p99, color="tab:red", linewidth=1, label=f"p99 {p99:.1f} µs")
        ax.legend(fontsize=7, frameon=False)
        ax.set_xlabel(f"compute time per tick, frame arrival → command computed (µs; {len(compute)} ticks; "
                      f"above the 99.9th percentile: last bin)", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no per-tick compute times (no /events message to align the clocks)", ha="center",
                transform=ax.transAxes)
    label(ax, "ticks")
    ax.yaxis.set_label_coords(-0.03, 0.5)

    fig.suptitle(title or (f"spikeloop session: {meta.get('robot', '?')}, {meta.get('mode', '?')} {meta.get('tick_hz', '?')} Hz, "
                           f"seed {meta.get('seed', '?')}, {len(session.motor_t)} ticks"), fontsize=10)
    fig.subplots_adjust(left=0.13, right=0.98, top=0.97, bottom=0.04)
    fig.savefig(output)
    plt.close(fig)


def parse_window(text):
    try:
        start, end = (float(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected START:END in seconds, e.g. 5:7, not {text!r}") from None
    if end <= start:
        raise argparse.ArgumentTypeError(f"the window {text!r} ends before it starts")
    return start, end


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="the session recording (MCAP)")
    parser.add_argument("-o", "--output", help="the PNG to write (default: FILE with .png)")
    parser.add_argument("--probes", nargs="+", metavar="POPULATION[:N,N]",
                        help="membrane traces to draw, e.g. push:0,1 pull (default: every probed neuron)")
    parser.add_argument("--zoom", type=parse_window, metavar="START:END",
                        help="network-time window of the spike rasters and traces, seconds (default: the first 0.5 s)")
    parser.add_argument("--title", help="figure title")
    args = parser.parse_args(argv)
    output = args.output or (args.file[:-5] if args.file.endswith(".mcap") else args.file) + ".png"
    try:
        session = Session(args.file)
        plot(session, output, probes=args.probes, zoom=args.zoom, title=args.title)
    except SessionError as e:
        print(f"plot_session: {e}", file=sys.stderr)
        return 1
    print(f"{output}: {len(session.motor_t)} ticks, {sum(len(t) for t, _ in session.spikes.values())} spikes, "
          f"{len(session.probes)} probe traces, compute time p50/p99 "
          + (f"{np.percentile(session.compute_us, 50):.1f}/{np.percentile(session.compute_us, 99):.1f} µs"
             if len(session.compute_us) else "n/a"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
