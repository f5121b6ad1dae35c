"""Issue #14 item 2: Bluetooth failures are one line saying what to do, never a traceback."""

from __future__ import annotations

import pytest
import usb1
from anklet.cli import _load_commands, app
from anklet.cli.ble_errors import ble_failure
from clihelpers import assert_one_line_error
from typer.testing import CliRunner

_load_commands()
runner = CliRunner()


async def _no_bluez(*args, **kwargs):
    # What bleak raises on Linux when BlueZ's D-Bus socket is absent.
    raise FileNotFoundError(2, "No such file or directory")


async def _no_dongle(*args, **kwargs):
    raise usb1.USBErrorOther(-99)  # what bumble's usb transport raises with no dongle


@pytest.mark.parametrize("command", [["scan"], ["pair"], ["info", "--device", "ble:Anklet-C0FE"]])
def test_unknown_ble_backend_is_one_line_naming_the_choices(command):
    result = runner.invoke(app, [*command, "--ble-backend", "foo"] if command[0] != "info"
                           else ["log", "--device", "ble:x", "--ble-backend", "foo"])  # fmt: skip
    assert_one_line_error(result, r"unknown BLE backend 'foo': use 'default' or 'bumble:TRANSPORT'")


def test_scan_without_a_system_bluetooth_stack_says_what_to_do(monkeypatch):
    monkeypatch.setattr("anklet.transport.ble.scan", _no_bluez)
    result = runner.invoke(app, ["scan", "--timeout", "1"])
    assert_one_line_error(
        result, r"system's Bluetooth is not available", r"systemctl start bluetooth",
        r"--ble-backend bumble:usb:0",
    )  # fmt: skip


def test_scan_without_a_dongle_says_plug_one_in(monkeypatch):
    monkeypatch.setattr("anklet.transport.ble.scan", _no_dongle)
    result = runner.invoke(app, ["scan", "--timeout", "1", "--ble-backend", "bumble:usb:0"])
    assert_one_line_error(result, r"cannot open the USB Bluetooth dongle usb:0", r"plug one in")


def test_ble_failure_leaves_other_errors_alone():
    assert ble_failure(ValueError("a bug"), None) is None
    assert ble_failure(FileNotFoundError(2, "gone", "/dev/ttyUSB0"), None) is None  # a file
    assert ble_failure(FileNotFoundError(2, "gone"), "bumble:usb:0") is None


def test_empty_ble_device_is_one_line():
    assert_one_line_error(runner.invoke(app, ["info", "--device", "ble:"]), r"names no board")
