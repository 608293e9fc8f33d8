"""What the Python bridges' command lines share with `spikeloop sim`:
quantities with units, and the episode lines and totals in its format (so
Tools/eval reads every simulator's output the same way)."""

import re
from typing import Iterable, List, Tuple

_TIME = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0}
_RATE = {"hz": 1.0, "khz": 1e3}


def quantity(text: str, kind: str, option: str) -> float:
    """'60s', '20 s', '500 ms' (time, in s) or '1kHz', '50 Hz' (rate, in Hz)."""
    units = _TIME if kind == "time" else _RATE
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([A-Za-z]+)\s*", text)
    if not m or m.group(2).lower() not in units:
        example = "20s or 500ms" if kind == "time" else "1kHz or 50Hz"
        raise ValueError(f"{option}: '{text}' is not a {kind} with a unit ({', '.join(units)}), e.g. {example}")
    try:
        value = float(m.group(1)) * units[m.group(2).lower()]
    except ValueError:
        raise ValueError(f"{option}: '{m.group(1)}' is not a number") from None
    if not value > 0:
        raise ValueError(f"{option}: must be positive")
    return value


def fmt(x: float) -> str:
    """Numbers as `spikeloop sim` prints them."""
    if x == round(x) and abs(x) < 1e12:
        return str(int(x))
    return f"{x:.1f}" if abs(x) >= 100 else (f"{x:.3f}" if abs(x) >= 1 else f"{x:.4f}")


def episode_line(episode: int, seed: int, steps: int, seconds: float, failed: bool,
                 statistics: Iterable[Tuple[str, float, str]], extra: str = "") -> str:
    line = f"episode {episode + 1}  seed {seed}  {steps} ticks  {fmt(seconds)} s"
    line += "  FAILED" if failed else ""
    for key, value, unit in statistics:
        line += f"  {key} {fmt(value)}" + (f" {unit}" if unit else "")
    return line + (f"  {extra}" if extra else "")


def total_lines(steps: int, simulated: float, wall: float, failed: int, episodes: int,
                statistics: List[List[Tuple[str, float, str]]]) -> List[str]:
    lines = [f"total        {steps} ticks, {fmt(simulated)} s simulated in {wall:.3f} s wall: "
             f"{int(steps / max(wall, 1e-9))} ticks/s, {simulated / max(wall, 1e-9):.1f}× real time"
             + (f"; {failed} of {episodes} episodes failed" if failed else "")]
    if episodes > 1 and statistics:
        for i, (key, _, unit) in enumerate(statistics[0]):
            mean = sum(s[i][1] for s in statistics) / len(statistics)
            lines.append("  mean " + key.ljust(17) + " " + fmt(mean) + (f" {unit}" if unit else ""))
    return lines
