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

    monkeypatch.setattr("anklet.logsession.open_device", fake_open)
    monkeypatch.setattr("anklet.cli.device_cmds.open_device", fake_open)
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
