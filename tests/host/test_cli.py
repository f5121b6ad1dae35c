"""The `anklet` command's error paths: one actionable line, exit code 2, never a traceback."""

from __future__ import annotations

import inspect
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial
from accounting import assert_every_sample_accounted, lost_on_the_link
from anklet.cli import _load_commands, app
from anklet_protocol.spec import VERSION_MINOR
from anklet_sim.board import FIRMWARE_DIR, SimulatedBoard
from clihelpers import assert_one_line_error
from simhelpers import QUIET_MOTION
from typer.testing import CliRunner

_load_commands()
runner = CliRunner()


def anklet(*args: str):
    return runner.invoke(app, list(args))


def assert_only_an_error(result, pattern: str) -> None:
    """One error line and nothing else on the terminal."""
    assert_one_line_error(result, pattern)
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


def test_missing_port_is_named():
    result = anklet("info", "--device", "serial:/dev/ttyNOPE9")
    assert_only_an_error(result, r"no such port /dev/ttyNOPE9")


def test_busy_port_says_who_to_close():
    master, slave = os.openpty()
    path = os.ttyname(slave)
    holder = serial.Serial(path, exclusive=True)
    try:
        result = anklet("info", "--device", f"serial:{path}")
    finally:
        holder.close()
        os.close(master)
        os.close(slave)
    assert_only_an_error(result, r"port .* is busy")


def test_silent_device_times_out_with_a_hint(monkeypatch):
    # The command asks for the board's whole boot allowance (15 s); the test waits 2 s of it:
    # the hint is the point, not the wait.
    from anklet.device import BOOT_TIMEOUT_S, Device

    real_wait_ready = Device.wait_ready
    asked: list[float] = []

    async def shortened(self, *args, **kwargs):
        call = inspect.signature(real_wait_ready).bind(self, *args, **kwargs)
        call.apply_defaults()
        asked.append(call.arguments["timeout_s"])
        call.arguments["timeout_s"] = 2.0
        return await real_wait_ready(*call.args, **call.kwargs)

    monkeypatch.setattr(Device, "wait_ready", shortened)
    master, slave = os.openpty()  # a port whose other end never answers
    try:
        result = anklet("info", "--device", f"serial:{os.ttyname(slave)}")
    finally:
        os.close(master)
        os.close(slave)
    assert asked == [BOOT_TIMEOUT_S] and BOOT_TIMEOUT_S == 15
    assert_only_an_error(
        result, r"did not answer within 2 s: is it powered and running the Anklet firmware"
    )


def test_unknown_device_name_lists_the_choices(tmp_path, monkeypatch):
    monkeypatch.setenv("ANKLET_CONFIG_DIR", str(tmp_path))
    result = anklet("info", "--device", "kitchen-scale")
    assert_only_an_error(
        result, r"unknown device 'kitchen-scale'.*serial:PATH, ble:NAME_OR_ADDRESS, sim, sim:ble"
    )


def test_unsupported_rate_is_refused_before_connecting():
    result = anklet("log", "--device", "serial:/dev/null", "--rate", "300")
    assert_only_an_error(result, r"--rate 300 Hz is not supported")


def test_board_with_another_major_version_is_refused_naming_both(tmp_path):
    firmware = tmp_path / "firmware"
    shutil.copytree(FIRMWARE_DIR, firmware)
    wire = firmware / "anklet_wire.py"
    wire.write_text(
        wire.read_text().replace("VERSION_MAJOR = const(1)", "VERSION_MAJOR = const(2)")
    )
    board = SimulatedBoard(flash_dir=tmp_path / "flash", motion=QUIET_MOTION, firmware_dir=firmware)
    board.start()
    try:
        result = anklet("info", "--device", f"serial:{board.port}")
    finally:
        board.stop()
    assert_only_an_error(
        result, rf"protocol 2\.{VERSION_MINOR}, this host speaks 1\.{VERSION_MINOR}"
    )


def test_ctrl_c_mid_session_leaves_complete_files(tmp_path):
    env = {**os.environ, "ANKLET_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "anklet.cli",
            "log",
            "--device",
            "sim?psram=1",  # a long ring (simhelpers.LONG_RING): a busy machine loses nothing
            "--quiet",
            "--motion",
            QUIET_MOTION,
            "--out",
            str(tmp_path / "out"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 120  # a hang guard: start, boot and 20 KB of rows
    folder: Path | None = None
    while time.monotonic() < deadline and folder is None:
        time.sleep(0.5)
        found = list((tmp_path / "out").glob("*/samples.csv"))
        if found and found[0].stat().st_size > 20_000:
            folder = found[0].parent
    assert folder is not None, proc.stderr.read() if proc.poll() is not None else "no data"
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "complete " in stdout
    meta = assert_every_sample_accounted(folder)
    assert lost_on_the_link(meta) == 0
    assert meta["complete"] is True
    assert (folder / "samples.csv").read_text().endswith("\n")
    assert (folder / "sets.csv").exists() and (folder / "reps.csv").exists()


@pytest.mark.parametrize("command", [["tare", "--samples", "0"], ["set", "--device", "sim"]])
def test_bad_arguments_are_one_line_errors(command):
    result = anklet(*command)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
