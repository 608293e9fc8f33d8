"""`make install DESTDIR=…` installs exactly the documented files (Makefile,
docs/service.md), with this installation's paths in the unit, and a default
configuration that `spikeloop check` accepts; `make uninstall` removes them."""

import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from test_service import spikeloop_binary

ROOT = pathlib.Path(__file__).resolve().parents[2]

DOCUMENTED = {
    "usr/local/bin/spikeloop",
    "etc/systemd/system/spikeloop.service",
    "etc/spikeloop/spikeloop.yaml",
    "etc/spikeloop/robots/cartpole.yaml",
    "etc/spikeloop/networks/cartpole.yaml",
    "usr/local/share/doc/spikeloop/service.md",
}


@pytest.fixture
def root():
    folder = pathlib.Path(tempfile.mkdtemp(prefix="sli-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def make(*args) -> subprocess.CompletedProcess:
    # BINARY: the binary the tests use, so that make does not build.
    result = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args,
                             f"BINARY={spikeloop_binary().resolve()}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def files(root: pathlib.Path) -> set:
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()}


def test_install_lists_exactly_the_documented_files(root):
    make("install", f"DESTDIR={root}")
    assert files(root) == DOCUMENTED
    # Every one of them is documented in the Makefile and in docs/service.md.
    makefile = (ROOT / "Makefile").read_text()
    guide = (ROOT / "docs" / "service.md").read_text()
    for f in DOCUMENTED:
        name = f.split("/")[-1]
        assert name in makefile and name in guide, f
    binary = root / "usr/local/bin/spikeloop"
    assert os.access(binary, os.X_OK)
    assert binary.read_bytes() == spikeloop_binary().read_bytes()
    assert (root / "etc/spikeloop/spikeloop.yaml").stat().st_mode & 0o777 == 0o644

    unit = (root / "etc/systemd/system/spikeloop.service").read_text()
    assert "ExecStart=/usr/local/bin/spikeloop run --config /etc/spikeloop/spikeloop.yaml\n" in unit
    assert "Type=notify\n" in unit and "WatchdogSec=" in unit

    # The installed configuration is complete: its robot and network resolve next to it.
    check = subprocess.run([str(spikeloop_binary()), "check", "--config", str(root / "etc/spikeloop/spikeloop.yaml")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "valid" in check.stdout + check.stderr
    assert "control ipc:///run/spikeloop/control" in check.stdout + check.stderr

    make("uninstall", f"DESTDIR={root}")
    assert files(root) == set()
    assert not (root / "etc/spikeloop").exists()


def test_prefix_and_sysconfdir_reach_the_unit(root):
    make("install", f"DESTDIR={root}", "PREFIX=/usr", "SYSCONFDIR=/etc/robot")
    assert files(root) == {
        "usr/bin/spikeloop",
        "etc/robot/systemd/system/spikeloop.service",
        "etc/robot/spikeloop/spikeloop.yaml",
        "etc/robot/spikeloop/robots/cartpole.yaml",
        "etc/robot/spikeloop/networks/cartpole.yaml",
        "usr/share/doc/spikeloop/service.md",
    }
    unit = (root / "etc/robot/systemd/system/spikeloop.service").read_text()
    assert "ExecStart=/usr/bin/spikeloop run --config /etc/robot/spikeloop/spikeloop.yaml\n" in unit
    assert "file:///usr/share/doc/spikeloop/service.md" in unit
    make("uninstall", f"DESTDIR={root}", "PREFIX=/usr", "SYSCONFDIR=/etc/robot")
    assert files(root) == set()


def test_an_edited_configuration_survives_reinstall_and_uninstall(root):
    make("install", f"DESTDIR={root}")
    config = root / "etc/spikeloop/spikeloop.yaml"
    edited = config.read_text().replace("seed: 1", "seed: 2")
    config.write_text(edited)
    out = make("install", f"DESTDIR={root}").stdout
    assert "kept" in out and config.read_text() == edited
    make("uninstall", f"DESTDIR={root}")
    assert files(root) == {"etc/spikeloop/spikeloop.yaml"}
    assert config.read_text() == edited


def test_install_cpu_latency_adds_the_drop_in_and_the_udev_rule(root):
    """`make install-cpu-latency`: the drop-in beside the unit and the udev rule, and the
    unit with the drop-in is what docs/service.md describes (the device, the group)."""
    make("install", f"DESTDIR={root}")
    make("install-cpu-latency", f"DESTDIR={root}")
    added = {"etc/systemd/system/spikeloop.service.d/cpu-latency.conf", "etc/udev/rules.d/60-spikeloop-cpu-latency.rules"}
    assert files(root) == DOCUMENTED | added
    drop_in = (root / "etc/systemd/system/spikeloop.service.d/cpu-latency.conf").read_text()
    assert "DeviceAllow=/dev/cpu_dma_latency rw" in drop_in and "SupplementaryGroups=spikeloop-rt" in drop_in
    rule = (root / "etc/udev/rules.d/60-spikeloop-cpu-latency.rules").read_text()
    assert 'KERNEL=="cpu_dma_latency", GROUP="spikeloop-rt", MODE="0660"' in rule
    guide = (ROOT / "docs" / "service.md").read_text()
    assert "make install-cpu-latency" in guide and "cpu-latency.conf" in guide
    make("uninstall-cpu-latency", f"DESTDIR={root}")
    make("uninstall", f"DESTDIR={root}")
    assert files(root) == set()
