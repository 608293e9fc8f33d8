"""Tools/plot_session.py on a session recorded from a real daemon: a PNG with
content, and clear errors for files it cannot plot."""

import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

from conftest import ROOT
from sessions import record_cartpole

SCRIPT = ROOT / "Tools" / "plot_session.py"


@pytest.fixture(scope="module")
def session():
    folder = pathlib.Path(tempfile.mkdtemp(prefix="slp-", dir="/tmp"))
    yield record_cartpole(folder, duration="2s")
    shutil.rmtree(folder, ignore_errors=True)


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120)


def test_plots_a_non_trivial_png(session, tmp_path):
    import matplotlib.image
    import numpy as np
    out = tmp_path / "session.png"
    result = run(session, "-o", out, "--probes", "push:0,2", "pull")
    assert result.returncode == 0, result.stderr
    assert "2000 ticks" in result.stdout and "5 probe traces" in result.stdout, result.stdout
    image = matplotlib.image.imread(out)
    height, width = image.shape[:2]
    assert width >= 1000 and height >= 1200, image.shape
    assert out.stat().st_size > 60_000
    # Not blank: many distinct colours and a real share of non-white pixels.
    pixels = image[..., :3].reshape(-1, 3)
    assert pixels.std() > 0.05
    assert (pixels.min(axis=1) < 0.9).mean() > 0.05
    assert len(np.unique((pixels * 255).astype(np.uint8), axis=0)) > 50


def test_default_output_next_to_the_recording(session):
    result = run(session)
    assert result.returncode == 0, result.stderr
    assert session.with_suffix(".png").stat().st_size > 60_000


@pytest.mark.parametrize("content", [None, b"", b"\x89MCAP0\r\n garbage after the magic", "half"])
def test_missing_or_invalid_file_is_a_clear_error(session, tmp_path, content):
    path = tmp_path / "bad.mcap"
    if content == "half":
        data = session.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif content is not None:
        path.write_bytes(content)
    result = run(path, "-o", tmp_path / "out.png")
    assert result.returncode == 1
    assert result.stderr.startswith(f"plot_session: cannot read {path}") or result.stderr.startswith(f"plot_session: {path}"), result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.png").exists()


def test_unknown_probe_selection_names_the_recorded_ones(session, tmp_path):
    result = run(session, "-o", tmp_path / "out.png", "--probes", "x_fields:3")
    assert result.returncode == 1
    assert "no probe matches x_fields:3; recorded: pull:0, pull:1, push:0, push:1, push:2" in result.stderr, result.stderr
