"""The network `spikeloop bench cuba|coba --network-out FILE` drew, as the
peers read it (`--network FILE`): every neuron's initial v (mV, excitatory
neurons first) and each projection's (pre, post) indices over the whole group."""

import json
import sys


def read(path, neurons, peer):
    """The file's contents; exits naming `peer` and the file if its size is not `neurons`."""
    with open(path) as f:
        drawn = json.load(f)
    if len(drawn["v0"]) != neurons:
        sys.exit(f"{peer}: {path} has {len(drawn['v0'])} neurons, not --neurons {neurons}")
    return drawn
