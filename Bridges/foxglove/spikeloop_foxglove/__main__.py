"""Foxglove live bridge: the daemon's telemetry stream as a Foxglove WebSocket server.

Subscribes to the daemon's telemetry (``endpoints.telemetry``), advertises each
of its channels with the channel's own topic, protobuf schema and metadata (the
same as in a session recording, so one Foxglove layout serves both), and
forwards every message with its log time. Open Foxglove, "Open connection",
Foxglove WebSocket, ws://HOST:PORT.
"""
import argparse
import signal
import sys
import time

import foxglove

from spikeloop_client import SpikeloopError, Telemetry, Timeout, load_public_key, load_secret_key


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="spikeloop-foxglove", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--telemetry", required=True,
                    help="the daemon's endpoints.telemetry, e.g. ipc:///run/spikeloop/telemetry or tcp://robot:5580")
    ap.add_argument("--host", default="127.0.0.1", help="address the WebSocket server listens on (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=8765, help="WebSocket port (default 8765; 0 picks a free one)")
    ap.add_argument("--server-key", help="the daemon's CURVE public key file (a CURVE telemetry endpoint)")
    ap.add_argument("--client-key", help="this client's CURVE secret key file (listed in the daemon's curve_client_keys)")
    ap.add_argument("--insecure", action="store_true", help="allow a remote tcp:// endpoint without CURVE")
    ap.add_argument("--wait", type=float, default=10, help="seconds to wait for the daemon's channel list (default 10)")
    ap.add_argument("--duration", type=float, help="stop after this many seconds (default: until interrupted)")
    return ap.parse_args(argv)


def advertise(telemetry):
    """A Foxglove channel for each telemetry channel, by topic."""
    return {
        c.topic: foxglove.Channel(c.topic, message_encoding=c.message_encoding, metadata=dict(c.metadata),
                                  schema=foxglove.Schema(name=c.schema_name, encoding=c.schema_encoding, data=bytes(c.schema)))
        for c in telemetry.channels.values()
    }


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    server_key = load_public_key(args.server_key) if args.server_key else None
    keys = load_secret_key(args.client_key) if args.client_key else None
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        telemetry = Telemetry(args.telemetry, server_key=server_key, keys=keys, insecure=args.insecure)
    except SpikeloopError as e:
        sys.exit(f"spikeloop-foxglove: {e}")
    with telemetry:
        try:
            telemetry.wait_for_channels(int(args.wait * 1000))
        except Timeout as e:
            sys.exit(f"spikeloop-foxglove: {e}")
        channels = advertise(telemetry)
        server = foxglove.start_server(name="spikeloop", host=args.host, port=args.port)
        # The port line is what scripts (and the tests) read.
        print(f"spikeloop-foxglove: ws://{args.host}:{server.port} serves {len(channels)} channels of {args.telemetry}", flush=True)
        announced = telemetry.channels
        end = None if args.duration is None else time.monotonic() + args.duration
        forwarded = 0
        try:
            while not stop and (end is None or time.monotonic() < end):
                got = telemetry.receive(200)
                if telemetry.channels is not announced:
                    # The daemon restarted with other channels: advertise them anew.
                    for c in channels.values():
                        c.close()
                    channels = advertise(telemetry)
                    announced = telemetry.channels
                if got is None:
                    continue
                topic, log_time, data = got
                channel = channels.get(topic)
                if channel is not None:
                    channel.log(data, log_time=log_time)
                    forwarded += 1
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
        print(f"spikeloop-foxglove: forwarded {forwarded} messages", flush=True)


if __name__ == "__main__":
    main()
