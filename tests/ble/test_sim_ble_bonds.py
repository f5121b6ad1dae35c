"""`anklet log --device sim:ble` run again: the board kept its bond in its flash and the host
kept its half beside it, so the second run reconnects on the bond, as a computer does."""

from __future__ import annotations

import json
import stat

from anklet.cli import _load_commands, app
from typer.testing import CliRunner

_load_commands()
runner = CliRunner()


def test_a_second_sim_ble_session_reconnects_on_the_stored_bond(tmp_path):
    env = {"ANKLET_DATA_DIR": str(tmp_path / "data")}
    for run in (1, 2):
        result = runner.invoke(
            app,
            ["log", "--device", "sim:ble", "--duration", "3", "--json", "--out",
             str(tmp_path / f"out{run}"), "--motion", "still:sway=0"],
            env=env,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        summary = json.loads(result.output.strip().splitlines()[-1])
        assert summary["samples"] > 0
    keys = tmp_path / "data" / "sim-flash-host-keys.json"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600  # long-term keys: the user's alone
    assert json.loads(keys.read_text())  # the host's half of the bond
