"""Issue #14, a new user's first hour: every README step works, every mistake is one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from anklet.cli import _load_commands, app
from anklet.device import CommandFailed, Device
from anklet_protocol import spec
from clihelpers import assert_one_line_error
from simhelpers import QUIET_MOTION
from typer.testing import CliRunner

_load_commands()
runner = CliRunner()


def anklet(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def user_dirs(tmp_path, monkeypatch):
    """A fresh user: no remembered devices, the simulated board's flash in a temp folder."""
    monkeypatch.setenv("ANKLET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ANKLET_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path


def test_tare_then_calibrate_as_the_readme_says_succeeds(user_dirs):
    tared = anklet("tare", "--device", "sim")
    assert tared.exit_code == 0, tared.output
    calibrated = anklet("calibrate", "--device", "sim", "--mass-kg", "5")
    assert calibrated.exit_code == 0, calibrated.output
    scale = float(calibrated.output.split("calibrated: ")[1].split()[0])
    # The simulated HX711 gives 9000 counts per newton (hx711_chip.py): within its noise.
    assert scale == pytest.approx(9000, rel=0.01)


def test_calibrate_with_nothing_on_the_strap_says_what_to_do(user_dirs, monkeypatch):
    async def no_load(self, mass_kg):
        # What the firmware answers when it sees no load since its tare (commands.py). Faked:
        # the simulated HX711 can misread a conversion under heavy CPU load, which on an empty
        # strap can pass the firmware's 200-count threshold.
        raise CommandFailed(spec.Opcode.CALIBRATE, spec.StatusCode.INVALID_STATE)

    monkeypatch.setattr(Device, "calibrate", no_load)
    result = anklet("calibrate", "--device", "sim", "--mass-kg", "5")
    assert_one_line_error(result, r"no load on the strap", r"tare with the strap empty, hang")


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("--rate", "333", "100, 200, 400 or 1000"),
        ("--accel-g", "3", "2, 4, 8 or 16"),
        ("--gyro-dps", "300", "250, 500, 1000 or 2000"),
        ("--load-rate", "20", "10 or 80"),
    ],
)
def test_set_out_of_range_names_the_allowed_values_before_connecting(option, value, allowed):
    result = anklet("set", "--device", "serial:/dev/ttyNOPE9", option, value)
    assert_one_line_error(result, f"{option} {value} .*not supported: use {allowed}")


@pytest.mark.parametrize("duration", ["-5", "0"])
def test_impossible_duration_is_refused_before_connecting(duration, tmp_path):
    result = anklet("log", "--device", "serial:/dev/ttyNOPE9", "--duration", duration,
                    "--out", str(tmp_path / "out"))  # fmt: skip
    assert_one_line_error(result, rf"--duration {duration}: give seconds above 0")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("motion", "why"),
    [
        ("bogus:x=1", r"unknown kind 'bogus' \(use leg-raise, still, jumps, csv\)"),
        ("leg-raise:sets=two", r"sets='two' is not a number"),
        ("leg-raise:size=3", r"leg-raise has no key 'size' \(keys: sets, reps"),
        ("leg-raise:sets", r"'sets' is not KEY=VALUE"),
    ],
)
def test_bad_simulated_motion_is_one_line_before_the_board_runs(motion, why, user_dirs):
    for command in (["log", "--duration", "3"], ["sim"]):
        result = anklet(*command, "--motion", motion)
        assert_one_line_error(result, "motion spec: " + why)


@pytest.mark.parametrize(
    ("device", "why"),
    [
        ("ble:", r"'ble:' names no board: give a board's name or address"),
        ("serial:", r"'serial:' names no board: give a port path"),
        (
            "kitchen",
            r"unknown device 'kitchen': use serial:PATH, ble:NAME_OR_ADDRESS, sim, sim:ble",
        ),
    ],
)
def test_device_strings_naming_no_board_are_one_line(device, why, user_dirs):
    assert_one_line_error(anklet("info", "--device", device), why)


def test_log_rate_is_for_the_session_and_leaves_the_saved_rate(user_dirs):
    before = json.loads(anklet("info", "--device", "sim", "--json").output)
    assert before["imu_rate_hz"] != 400
    logged = anklet("log", "--device", "sim", "--rate", "400", "--duration", "3", "--quiet",
                    "--motion", QUIET_MOTION, "--out", str(user_dirs / "out"))  # fmt: skip
    assert logged.exit_code == 0, logged.output
    meta = json.loads(next((user_dirs / "out").glob("*/session.json")).read_text())
    assert meta["rates"]["imu_hz"] == 400
    assert f"duration {meta['duration_s']:.1f} s" in logged.output  # one duration, both places
    after = json.loads(anklet("info", "--device", "sim", "--json").output)
    assert after["imu_rate_hz"] == before["imu_rate_hz"]


def test_a_rate_the_link_refuses_leaves_the_saved_rate_and_no_empty_session(user_dirs):
    before = json.loads(anklet("info", "--device", "sim", "--json").output)
    refused = anklet("log", "--device", "sim", "--rate", "1000", "--duration", "3", "--quiet",
                     "--motion", QUIET_MOTION, "--out", str(user_dirs / "out"))  # fmt: skip
    assert_one_line_error(refused, r"1000 Hz needs .* 400 Hz at most, or use BLE")
    assert not list((user_dirs / "out").glob("*/session.json"))  # nothing recorded, no folder
    after = json.loads(anklet("info", "--device", "sim", "--json").output)
    assert after["imu_rate_hz"] == before["imu_rate_hz"]
    logged = anklet("log", "--device", "sim", "--duration", "3", "--quiet",
                    "--motion", QUIET_MOTION, "--out", str(user_dirs / "out"))  # fmt: skip
    assert logged.exit_code == 0, logged.output  # the next session is not refused


def test_ctrl_c_while_connecting_ends_at_once_without_a_traceback(tmp_path):
    master, slave = os.openpty()  # a board that never answers: the command waits in its connect
    proc = subprocess.Popen(
        [sys.executable, "-m", "anklet.cli", "log", "--device", f"serial:{os.ttyname(slave)}",
         "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        os.read(master, 1)  # the host's first command to the board: it is connecting now
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=10)  # not 15 s of waiting for the board
    finally:
        proc.kill()
        os.close(master)
        os.close(slave)
    assert proc.returncode == 130
    assert stderr == "interrupted\n" and stdout == ""
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_version_and_short_help():
    version = anklet("--version")
    assert version.exit_code == 0 and version.output.startswith("anklet ")
    for args in (["-h"], ["log", "-h"], ["report", "-h"]):
        result = anklet(*args)
        assert result.exit_code == 0 and "Usage: " in result.output
        assert "<bool>" not in result.output and "…" not in result.output


def test_ports_lists_serial_ports_as_json():
    result = anklet("ports", "--json")
    assert result.exit_code == 0
    for port in json.loads(result.output):
        assert {"port", "description", "usb_id", "esp32_bridge"} <= set(port)


def test_devices_json_lists_remembered_devices(user_dirs):
    assert json.loads(anklet("devices", "--json").output) == []


def test_deploy_to_the_simulated_radio_names_the_simulated_serial_board(user_dirs):
    assert_one_line_error(anklet("deploy", "--device", "sim:ble"), r"use --device sim")


def test_log_json_summary_matches_session_json(user_dirs):
    result = anklet("log", "--device", "sim", "--duration", "3", "--json", "--motion",
                    QUIET_MOTION, "--out", str(user_dirs / "out"))  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    meta = json.loads((Path(summary["session"]) / "session.json").read_text())
    assert summary["samples"] == meta["loss"]["samples_received"]
    assert summary["duration_s"] == meta["duration_s"]
    assert summary["completeness_pct"] == meta["loss"]["completeness_pct"]


def test_deploy_into_a_flash_that_is_a_file_is_refused_at_once(user_dirs):
    not_a_folder = user_dirs / "flash.img"
    not_a_folder.write_bytes(b"")
    result = anklet("deploy", "--device", "sim", "--flash", str(not_a_folder))
    assert_one_line_error(result, r"--flash .*flash.img: is a file")


def test_set_defaults_resets_name_rates_and_ranges_but_keeps_calibration(user_dirs):
    fresh = json.loads(anklet("info", "--device", "sim", "--json").output)
    assert anklet("tare", "--device", "sim").exit_code == 0
    assert anklet("calibrate", "--device", "sim", "--mass-kg", "5").exit_code == 0
    changed = anklet("set", "--device", "sim", "--name", "Left ankle", "--rate", "400",
                     "--accel-g", "16", "--gyro-dps", "2000", "--load-rate", "10")  # fmt: skip
    assert changed.exit_code == 0, changed.output
    calibrated = json.loads(anklet("info", "--device", "sim", "--json").output)
    assert calibrated["name"] == "Left ankle" and calibrated["imu_rate_hz"] == 400
    reset = anklet("set", "--device", "sim", "--defaults")
    assert reset.exit_code == 0, reset.output
    after = json.loads(anklet("info", "--device", "sim", "--json").output)
    for key in ("name", "imu_rate_hz", "load_rate_hz", "accel_fs_g", "gyro_fs_dps"):
        assert after[key] == fresh[key], key
    for key in ("load_offset", "load_scale_counts_per_n"):
        assert after[key] == calibrated[key] != fresh[key], key


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["sim", "--flash", "FILE"], r"--flash .*: is a file"),
        (["log", "--out", "FILE", "--duration", "2"], r"--out .*: is a file"),
        (["pair", "--as", ""], r"--as is empty"),
        (["analyze", "DIR", "--planned-sets", "0"], r"no such file|--planned-sets 0"),
    ],
)
def test_paths_and_names_are_checked_before_anything_opens(args, why, user_dirs):
    a_file = user_dirs / "a-file"
    a_file.write_text("")
    args = [str(a_file) if a == "FILE" else str(user_dirs) if a == "DIR" else a for a in args]
    assert_one_line_error(anklet(*args), why)


def test_live_display_names_the_board_once_it_answered():
    from types import SimpleNamespace

    from anklet.logsession import DeviceOptions, LogOptions, LogSession

    session = LogSession(LogOptions(DeviceOptions("serial:/dev/pts/1")))
    assert session.device_line == "serial:/dev/pts/1"
    session.recorder = SimpleNamespace(log=None)  # type: ignore[assignment]  # connecting
    assert session.device_line == "serial:/dev/pts/1"
    answered = SimpleNamespace(info=SimpleNamespace(name="Anklet-FFEE"))
    session.recorder = SimpleNamespace(log=answered)  # type: ignore[assignment]
    assert session.device_line == "Anklet-FFEE on serial:/dev/pts/1"


@pytest.mark.parametrize(
    "command",
    [
        ["sim"],
        ["deploy", "--device", "sim"],
        ["log", "--device", "sim", "--duration", "3"],
        ["log", "--device", "sim:ble", "--duration", "3"],
    ],
)
def test_a_simulated_board_without_micropython_is_one_line(command, user_dirs, monkeypatch):
    """Anklet installed from a wheel runs the simulated board only with MicroPython's unix port
    built: `anklet sim` and `anklet deploy --device sim` printed a traceback where `log` said so
    in one line."""
    missing = user_dirs / "no-micropython"
    monkeypatch.setenv("ANKLET_MICROPYTHON", str(missing))
    result = anklet(*command)
    assert_one_line_error(result, rf"MicroPython with bluetooth is missing \({missing}\)")
