"""Records short real sessions for the tests of the recording tools: the
spikeloop daemon on the SNN cart-pole controller, driven in lockstep by the
built-in simulator, with endpoints moved into a temporary folder (IPC)."""

import pathlib
import subprocess
import time

from conftest import ROOT, spikeloop_binary

PROBES = """
recording:
  probes:
    - {population: push, variable: v, neurons: [0, 1, 2]}
    - {population: pull, variable: v, neurons: [0, 1]}
"""


def cartpole_config(folder: pathlib.Path, probes: bool = True) -> pathlib.Path:
    """Config/cartpole.yaml with absolute file paths, IPC endpoints in `folder` and, optionally, probes."""
    text = (ROOT / "Config" / "cartpole.yaml").read_text()
    replacements = {
        "robot: ../Robots/cartpole.yaml": f"robot: {ROOT}/Robots/cartpole.yaml",
        "network: networks/cartpole.yaml": f"network: {ROOT}/Config/networks/cartpole.yaml",
        "tcp://127.0.0.1:5571": f"ipc://{folder}/frames",
        "ipc:///tmp/spikeloop-cartpole-control": f"ipc://{folder}/control",
    }
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = folder / "cartpole.yaml"
    path.write_text(text + (PROBES if probes else ""))
    return path


def record_cartpole(folder: pathlib.Path, duration: str = "2s", probes: bool = True,
                    config: pathlib.Path | None = None, sim_output: list | None = None) -> pathlib.Path:
    """Records `duration` of simulated cart-pole control to folder/session.mcap and returns its path.
    `config`: another controller configuration whose endpoints are folder/frames and folder/control;
    `sim_output` receives the simulator's summary."""
    binary = str(spikeloop_binary())
    config = config or cartpole_config(folder, probes)
    recording = folder / "session.mcap"
    daemon = subprocess.Popen([binary, "run", "--config", str(config), "--record", str(recording)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = daemon.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "ready:" in line:
                break
        else:
            raise AssertionError("daemon did not become ready:\n" + "".join(lines))
        assert "ready:" in lines[-1], "".join(lines)
        sim = subprocess.run([binary, "sim", "--robot", str(ROOT / "Robots" / "cartpole.yaml"), "--endpoint", f"ipc://{folder}/frames",
                              "--control", f"ipc://{folder}/control", "--duration", duration, "--seed", "1"],
                             check=True, capture_output=True, text=True, timeout=120)
        if sim_output is not None:
            sim_output.append(sim.stdout + sim.stderr)
        subprocess.run([binary, "control", "--endpoint", f"ipc://{folder}/control", "shutdown"],
                       check=True, capture_output=True, text=True, timeout=30)
        _, err = daemon.communicate(timeout=30)
        assert daemon.returncode == 0, "".join(lines) + err
        assert "recording: " in err and "closed" in err, err
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    return recording
