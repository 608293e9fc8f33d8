"""Test pattern and test layout shared with Wire's test peers (Peers.swift)."""

import struct

from .layout import Channel, Layout

_MASK = 0xFFFFFFFFFFFFFFFF


def splitmix64(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def pattern_bits(sequence: int, index: int) -> int:
    """Bit pattern of value `index` of frame `sequence` (a finite float32)."""
    bits = splitmix64((sequence * 1_000_003 + index) & _MASK) >> 32
    if (bits >> 23) & 0xFF == 0xFF:
        bits ^= 0x00800000
    return bits


def pattern_value(sequence: int, index: int) -> float:
    return struct.unpack("<f", struct.pack("<I", pattern_bits(sequence, index)))[0]


def float_bits(value: float) -> int:
    return struct.unpack("<I", struct.pack("<f", value))[0]


def make_test_layout(channels: int, value_range: float = 0.0) -> Layout:
    """Same as Wire.testLayout(channels:range:)."""
    return Layout(
        "wire-test",
        [Channel(f"s{i}", "1", -value_range, value_range) for i in range(channels)],
        [Channel(f"m{i}", "1", -value_range, value_range) for i in range(channels)],
    )
