"""The fault soak (Tools/soak), short: a lockstep simulator delaying, dropping and garbling frames
beside an operator pausing, resetting, reloading, recording, saving weights and sending garbage.
Every request answered, memory flat, every recording replays identical. `Tools/soak --minutes 30`
is the long run."""

import re
import subprocess
import sys

from conftest import ROOT


def test_short_fault_soak_answers_everything_and_every_recording_replays():
    result = subprocess.run([sys.executable, str(ROOT / "Tools" / "soak"), "--minutes", "0.5", "--seed", "7"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "ok", result.stdout
    recordings = next(l for l in lines if l.startswith("recordings"))
    count, identical = map(int, re.match(r"recordings +(\d+), (\d+) replay identical", recordings).groups())
    assert count >= 2 and identical == count, recordings
