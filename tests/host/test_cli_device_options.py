"""The device options every board command shares are read once and reach the device: issue 16's
`--ble-backend` (and ANKLET_BLE_BACKEND) that `anklet log` declared and never passed on."""

from __future__ import annotations

import contextlib

import pytest
from anklet.cli import _load_commands, app
from anklet.transport import TransportError
from clihelpers import assert_one_line_error
from typer.testing import CliRunner

_load_commands()
runner = CliRunner()
BACKEND = "bumble:usb:0"


@pytest.fixture
def opened(monkeypatch):
    """Every open_device call's arguments; the open itself fails with one line."""
    calls: list[dict] = []

    @contextlib.asynccontextmanager
    async def fake_open(dev, **kwargs):
        calls.append({"dev": dev, **kwargs})
        raise TransportError("no board here (test)")
        yield  # pragma: no cover

    monkeypatch.setattr("anklet.logsession.open_device", fake_open)  # DeviceOptions.open
    return calls


@pytest.mark.parametrize(
    "command",
    [["log"], ["info"], ["tare"], ["calibrate", "--mass-kg", "5"], ["set", "--name", "L"]],
)
def test_ble_backend_option_reaches_the_device_for_every_board_command(command, opened):
    result = runner.invoke(app, [*command, "--device", "ble:Anklet-C0FE", "--ble-backend", BACKEND])
    assert_one_line_error(result, "no board here")
    assert [(c["dev"], c["ble_backend"]) for c in opened] == [("ble:Anklet-C0FE", BACKEND)]


def test_ble_backend_from_the_environment_reaches_anklet_log(opened):
    result = runner.invoke(
        app, ["log", "--device", "ble:Anklet-C0FE"], env={"ANKLET_BLE_BACKEND": BACKEND}
    )
    assert_one_line_error(result, "no board here")
    assert opened[0]["ble_backend"] == BACKEND


def test_demo_is_log_on_the_simulated_board_with_its_workout(opened, tmp_path):
    from anklet.connect import DEFAULT_SIM_MOTION

    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--duration", "5"])
    assert_one_line_error(result, "no board here")
    (call,) = opened
    assert call["dev"] == "sim" and call["sim_motion"] == DEFAULT_SIM_MOTION
    assert call["sim_flash"].name == "demo-flash"


def test_log_with_two_devices_records_them_as_left_and_right(monkeypatch, tmp_path):
    from anklet.cli import device_cmds

    def anklet(*args: str):
        return runner.invoke(app, list(args))

    calls = []
    monkeypatch.setattr(
        device_cmds, "run_pair", lambda devs, motions, **kw: calls.append((devs, kw))
    )
    out = str(tmp_path / "out")
    result = anklet("log", "--device", "sim?id=1", "--device", "sim?id=2", "--out", out,
                    "--exercise", "straight-leg raise", "--duration", "5")  # fmt: skip
    assert result.exit_code == 0, result.output
    ((devs, kw),) = calls
    assert devs == {"left": "sim?id=1", "right": "sim?id=2"}
    assert kw["labels"].exercise == "straight-leg-raise" and kw["duration"] == 5.0
    three = anklet("log", "-d", "sim", "-d", "sim?id=2", "-d", "sim?id=3", "--out", out)
    assert_one_line_error(three, "given 3 times")
    sided = anklet("log", "-d", "sim", "-d", "sim?id=2", "--side", "left", "--out", out)
    assert_one_line_error(sided, "first --device is left")
    assert len(calls) == 1
