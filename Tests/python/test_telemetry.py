"""Live telemetry (docs/wire.md, "Telemetry") and the Foxglove live bridge.

The stream is read here with raw pyzmq and protobuf from the spec alone
(three-part messages, the channel list on "@channels"); the bridge with a
WebSocket client speaking Foxglove's protocol (foxglove.websocket.v1) from its
specification, decoding with the schemas the bridge advertises.
"""

import asyncio
import base64
import json
import os
import pathlib
import struct
import subprocess
import sys
import threading
import time

import pytest
import zmq
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from mcap.reader import make_reader

from conftest import ARM
from spikeloop_client import LockstepClient, Operator, Telemetry
from spikeloop_client.gen.spikeloop.v1 import spikeloop_pb2 as pb
from test_daemon import Daemon, config_copy, scripted, tmp  # noqa: F401 (fixture)

ROOT = pathlib.Path(__file__).resolve().parents[2]
TICKS = 400


def telemetry_config(tmp, probes=True):
    config = config_copy(tmp, "telemetry.yaml", **{
        f"control: ipc://{tmp}/control": f"control: ipc://{tmp}/control\n  telemetry: ipc://{tmp}/telemetry",
    })
    if probes:
        config.write_text(config.read_text() + "recording:\n  probes:\n    - {population: flexor, variable: v, neurons: [0, 3]}\n")
    return config


def message_class(name, schema):
    pool = descriptor_pool.DescriptorPool()
    for f in descriptor_pb2.FileDescriptorSet.FromString(schema).file:
        pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


class RawSubscriber:
    """Reads the whole stream into a list on a thread: (topic, log time, bytes)."""

    def __init__(self, endpoint):
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.SUB)
        self.socket.setsockopt(zmq.RCVHWM, 0)
        self.socket.setsockopt(zmq.SUBSCRIBE, b"")
        self.socket.connect(endpoint)
        self.messages, self.channels, self.malformed = [], None, []
        self.running = True
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while self.running:
            if not self.socket.poll(50):
                continue
            parts = self.socket.recv_multipart()
            if parts[0] == b"@channels":
                if len(parts) != 2:
                    self.malformed.append(parts)
                self.channels = pb.TelemetryChannels.FromString(parts[1])
            elif len(parts) == 3 and len(parts[1]) == 8:
                self.messages.append((parts[0].decode(), struct.unpack("<Q", parts[1])[0], parts[2]))
            else:
                self.malformed.append(parts)

    def wait_for_channels(self, seconds=5):
        deadline = time.monotonic() + seconds
        while self.channels is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.channels is not None, "no @channels within 5 s"

    def close(self):
        self.running = False
        self.thread.join()
        self.socket.close(0)
        self.context.term()


def test_telemetry_streams_the_recording_channels_live(tmp):
    session = tmp / "live.mcap"
    daemon = Daemon(telemetry_config(tmp), "--record", session)
    sub = RawSubscriber(f"ipc://{tmp}/telemetry")
    sent, commands = [], []
    try:
        sub.wait_for_channels()
        # The session's data is for the service's user and group, as control is.
        assert os.stat(tmp / "telemetry").st_mode & 0o777 == 0o660
        with LockstepClient(f"ipc://{tmp}/frames", ARM) as sim:
            for t in range(1, TICKS + 1):
                values = scripted(t)
                sent.append(values)
                commands.append(list(sim.step(values, sim_time_ns=t * 1_000_000).values))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sum(m[0] == "/motors/named" for m in sub.messages) < TICKS:
            time.sleep(0.05)
        Operator(f"ipc://{tmp}/control").shutdown()
    finally:
        status, log = daemon.finish()
        sub.close()
    assert status == 0, log
    assert not sub.malformed

    # The channels: the recording's, with the same schemas and metadata.
    channels = {c.topic: c for c in sub.channels.channel}
    with open(session, "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        recorded = {c.topic: (summary.schemas[c.schema_id], c.metadata) for c in summary.channels.values()}
        file_messages = [(ch.topic, m.log_time, m.data) for _, ch, m in reader.iter_messages(log_time_order=False)]
    assert set(channels) == set(recorded)
    for topic, (schema, metadata) in recorded.items():
        c = channels[topic]
        assert (c.schema_name, c.schema_encoding, c.schema, c.message_encoding) == (schema.name, schema.encoding, schema.data, "protobuf"), topic
        assert dict(c.metadata) == metadata, topic
    for topic in ["/sensors", "/motors/decoded", "/motors/sent", "/spikes", "/probes", "/events", "/log", "/loop_stats",
                  "/sensors/named", "/motors/named", "/spikes/counts", "/probes/named"]:
        assert topic in channels, topic

    # Every per-tick message of the recording came live too, byte for byte, in order.
    def per_tick(messages, topic):
        return [(t, d) for top, t, d in messages if top == topic]
    for topic in ["/sensors", "/motors/decoded", "/motors/sent", "/spikes", "/probes", "/sensors/named", "/motors/named",
                  "/spikes/counts", "/probes/named"]:
        live = [d for _, d in per_tick(sub.messages, topic)]
        recorded_data = [d for _, d in per_tick(file_messages, topic)]
        assert live == recorded_data and len(live) > 0, topic

    # Values by name: what the simulator sent, what it got.
    Sensors = message_class(channels["/sensors/named"].schema_name, channels["/sensors/named"].schema)
    named = [Sensors.FromString(d) for _, d in per_tick(sub.messages, "/sensors/named")]
    assert [[m.joint1.angle, m.joint2.angle] for m in named] == sent
    Motors = message_class(channels["/motors/named"].schema_name, channels["/motors/named"].schema)
    motors = [Motors.FromString(d) for _, d in per_tick(sub.messages, "/motors/named")]
    assert [[m.sent.joint1.torque, m.sent.joint2.torque] for m in motors] == commands
    assert channels["/sensors/named"].metadata["unit.joint1.angle"] == "rad"

    # Spike counts per population agree with the spike batches.
    Counts = message_class(channels["/spikes/counts"].schema_name, channels["/spikes/counts"].schema)
    counts = [Counts.FromString(d) for _, d in per_tick(sub.messages, "/spikes/counts")]
    batches = [pb.SpikeBatch.FromString(d) for _, d in per_tick(sub.messages, "/spikes")]
    for population in ["flexor", "extensor", "noise"]:
        assert sum(getattr(c, population) for c in counts) == sum(len(b.neuron) for b in batches if b.population == population)
    assert sum(c.noise for c in counts) > 0

    # Probes by name: one message per network step (10 per tick), the /probes values.
    Probes = message_class(channels["/probes/named"].schema_name, channels["/probes/named"].schema)
    steps = [Probes.FromString(d) for _, d in per_tick(sub.messages, "/probes/named")]
    flat = [v for _, d in per_tick(sub.messages, "/probes") for v in pb.StateProbe.FromString(d).value]
    assert len(steps) == 10 * TICKS
    assert [x for s in steps for x in (s.flexor.v.n0, s.flexor.v.n3)] == flat

    # Lockstep log times: simulation time, one period per tick, a step's dt within it.
    times = [t for t, _ in per_tick(sub.messages, "/motors/named")]
    assert all(b - a == 1_000_000 for a, b in zip(times, times[1:]))
    probe_times = [t for t, _ in per_tick(sub.messages, "/probes/named")]
    assert all(b - a == 100_000 for a, b in zip(probe_times, probe_times[1:]))

    # Events in Foxglove's log, loop statistics once a second.
    Log = message_class("foxglove.Log", channels["/log"].schema)
    logs = [Log.FromString(d) for _, d in per_tick(sub.messages, "/log")]
    assert any(m.name == "recording_started" for m in logs)
    stats = [pb.LoopStats.FromString(d) for _, d in per_tick(sub.messages, "/loop_stats")]
    assert stats and stats[-1].mode == "lockstep"


def test_telemetry_without_recording_and_a_recording_started_later(tmp):
    """Telemetry alone taps the loop; a recording started later begins between
    two ticks, says it cannot be replayed from there, and holds whole ticks."""
    # The endpoint from the command line (run --telemetry), not the file.
    daemon = Daemon(config_copy(tmp, "plain.yaml"), "--telemetry", f"ipc://{tmp}/telemetry")
    control = f"ipc://{tmp}/control"
    try:
        with Telemetry(f"ipc://{tmp}/telemetry", topics=["/sensors/named", "/motors/named"]) as live:
            live.wait_for_channels()
            with LockstepClient(f"ipc://{tmp}/frames", ARM) as sim:
                for t in range(1, 201):
                    sim.step(scripted(t))
                named = [(topic, m) for topic, _, m in live.messages(timeout_ms=500)]
                assert sum(topic == "/sensors/named" for topic, _ in named) == 200
                assert sum(topic == "/motors/named" for topic, _ in named) == 200
                assert named[0][1].joint1.angle == scripted(1)[0]
                Operator(control).start_recording("later.mcap")
                for t in range(201, 401):
                    sim.step(scripted(t))
                Operator(control).stop_recording()
        Operator(control).shutdown()
    finally:
        status, log = daemon.finish()
    assert status == 0, log
    with open(tmp / "later.mcap", "rb") as f:
        reader = make_reader(f)
        topics = [ch.topic for _, ch, _ in reader.iter_messages()]
        f.seek(0)
        events = [pb.Event.FromString(m.data) for _, ch, m in make_reader(f).iter_messages(topics=["/events"])]
    assert topics.count("/sensors") == topics.count("/motors/sent") == topics.count("/sensors/named") > 0
    assert topics.count("/sensors") <= 200
    started = [e for e in events if e.kind == "recording_started"]
    assert len(started) == 1 and "after 200 ticks" in started[0].message, started


def ws_client(url, wanted, until):
    """A Foxglove WebSocket client from the protocol's spec: reads serverInfo
    and advertise, subscribes to `wanted` topics, collects binary message data
    until `until(collected)` or 20 s."""
    import websockets

    async def run():
        collected = {t: [] for t in wanted}
        # foxglove.sdk.v1 is the SDK's name for the protocol the app speaks
        # (foxglove.websocket.v1 with the same messages).
        async with websockets.connect(url, subprotocols=["foxglove.sdk.v1", "foxglove.websocket.v1"], max_size=None) as ws:
            assert ws.subprotocol in ("foxglove.sdk.v1", "foxglove.websocket.v1")
            advertised, subscribed = {}, {}
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not until(collected):
                try:
                    frame = await asyncio.wait_for(ws.recv(), timeout=1)
                except asyncio.TimeoutError:
                    continue
                if isinstance(frame, str):
                    op = json.loads(frame)
                    if op["op"] == "advertise":
                        for c in op["channels"]:
                            advertised[c["id"]] = c
                        todo = [c for c in advertised.values() if c["topic"] in wanted and c["id"] not in subscribed.values()]
                        if todo:
                            subs = [{"id": len(subscribed) + i + 1, "channelId": c["id"]} for i, c in enumerate(todo)]
                            for s, c in zip(subs, todo):
                                subscribed[s["id"]] = c["id"]
                            await ws.send(json.dumps({"op": "subscribe", "subscriptions": subs}))
                    continue
                assert frame[0] == 0x01  # message data
                subscription, log_time = struct.unpack_from("<IQ", frame, 1)
                channel = advertised[subscribed[subscription]]
                collected[channel["topic"]].append((log_time, frame[13:]))
            return advertised, collected

    return asyncio.run(run())


def test_run_refuses_a_bad_telemetry_endpoint(tmp):
    from conftest import spikeloop_binary
    config = config_copy(tmp, "plain.yaml")
    for endpoint, says in [("udp://x", "valid: tcp://ADDRESS:PORT"), ("tcp://0.0.0.0:5599", "CURVE")]:
        result = subprocess.run([str(spikeloop_binary()), "run", "--config", str(config), "--telemetry", endpoint],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode != 0 and "--telemetry" in result.stderr and says in result.stderr, result.stderr


def test_foxglove_bridge_shows_the_daemon_live(tmp):
    daemon = Daemon(telemetry_config(tmp))
    bridge = subprocess.Popen([str(ROOT / "Bridges" / "foxglove" / "spikeloop-foxglove"), "--telemetry", f"ipc://{tmp}/telemetry",
                               "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sent = []
    try:
        line = bridge.stdout.readline()
        assert "ws://" in line, line + bridge.stderr.read()
        url = line.split()[1]
        wanted = ["/sensors/named", "/spikes/counts", "/log", "/probes/named", "/loop_stats"]
        result = {}

        def simulate():
            time.sleep(1.5)  # the client has subscribed by then (it waits for advertise)
            with LockstepClient(f"ipc://{tmp}/frames", ARM) as sim:
                for t in range(1, TICKS + 1):
                    sent.append(scripted(t))
                    sim.step(sent[-1])
            Operator(f"ipc://{tmp}/control").request(pb.CONTROL_COMMAND_PAUSE)
        runner = threading.Thread(target=simulate)
        runner.start()
        result["advertised"], result["collected"] = ws_client(
            url, wanted, lambda c: len(c["/sensors/named"]) >= TICKS and any(c["/log"]) and any(c["/loop_stats"]))
        runner.join()
    finally:
        Operator(f"ipc://{tmp}/control").shutdown()
        status, log = daemon.finish()
        bridge.terminate()
        out, err = bridge.communicate(timeout=20)
    assert status == 0, log
    advertised = {c["topic"]: c for c in result["advertised"].values()}
    collected = result["collected"]
    assert advertised["/sensors/named"]["encoding"] == "protobuf"
    assert advertised["/sensors/named"]["schemaName"] == "spikeloop.robot.test_arm.Sensors"
    Sensors = message_class("spikeloop.robot.test_arm.Sensors", base64.b64decode(advertised["/sensors/named"]["schema"]))
    values = [Sensors.FromString(d) for _, d in collected["/sensors/named"]]
    assert [[m.joint1.angle, m.joint2.angle] for m in values][:TICKS] == sent
    Log = message_class("foxglove.Log", base64.b64decode(advertised["/log"]["schema"]))
    assert any(Log.FromString(d).name == "control" for _, d in collected["/log"])
    assert len(collected["/probes/named"]) >= 10 * TICKS - 10
    times = [t for t, _ in collected["/sensors/named"]]
    assert times == sorted(times)
