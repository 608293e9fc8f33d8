"""Weights files (`.slw`, docs/weights.md): what the daemon saves and
`spikeloop simulate --save-weights` writes, read from their layout."""

import struct
import zlib
from array import array
from pathlib import Path


def read_weights(path):
    """{projection name: list of weights in CSR order}; ValueError if the file
    is not an intact weights file."""
    data = Path(path).read_bytes()
    if len(data) < 20 or data[:8] != b"SLWEIGHT" or zlib.crc32(data[:-4]) != struct.unpack_from("<I", data, len(data) - 4)[0]:
        raise ValueError(f"{path}: not an intact weights file (docs/weights.md)")
    (count,) = struct.unpack_from("<I", data, 12)
    at, out = 16, {}
    for _ in range(count):
        (length,) = struct.unpack_from("<I", data, at)
        name = data[at + 4:at + 4 + length].decode()
        _, _, n, _ = struct.unpack_from("<QQQQ", data, at + 4 + length)
        at += 4 + length + 32
        weights = array("f")
        weights.frombytes(data[at:at + 4 * n])
        out[name] = weights.tolist()
        at += 4 * n
    return out
