"""`anklet flash` keeps what a user would hate to lose: config (settings + calibration) and
bond keys are saved from the simulated board before an erase and put back by the next deploy;
a board that cannot be read is said plainly to lose them, with how to redo each."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from anklet.deploy import FIRMWARE_DIR, Target, deploy
from anklet.keep import KEPT_FILES, save_from_board
from anklet_sim.board import SimulatedBoard

pytestmark = pytest.mark.timeout(300)

CONFIG = {"name": "Left ankle", "load_offset": -51990, "load_scale": 9123.5}
SECRETS = [[1, "a2V5", "dmFsdWU="]]


def test_flash_saves_config_and_bonds_and_deploy_puts_them_back(tmp_path: Path) -> None:
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "config.json").write_text(json.dumps(CONFIG))
    (flash / "ble_secrets.json").write_text(json.dumps(SECRETS))
    backups = tmp_path / "backups"
    with SimulatedBoard(flash_dir=flash, unique_id="24a160c0ffee", fast=True) as sim:
        kept = save_from_board(sim.port, root=backups, repl_timeout_s=10.0, listen_s=1.5)
    assert kept.why_not == ""
    assert kept.device_id == "24a160c0ffee"
    assert kept.files == list(KEPT_FILES)
    assert json.loads((backups / "24a160c0ffee" / "config.json").read_text()) == CONFIG
    assert "anklet deploy` puts them back" in kept.describe()

    shutil.rmtree(flash)  # erase_flash: the filesystem is gone
    flash.mkdir()
    with SimulatedBoard(flash_dir=flash, unique_id="24a160c0ffee", fast=True) as sim:
        target = Target(sim.port, f"sim:{flash}", power_cycle=sim.power_cycle)
        result = deploy(target, FIRMWARE_DIR, listen_s=1.5, repl_timeout_s=10.0, backups=backups)
    assert result.restored == list(KEPT_FILES)
    assert result.config_written is False
    assert result.info is not None and result.info["name"] == "Left ankle"
    assert json.loads((flash / "config.json").read_text()) == CONFIG
    # The bond is back (the booted firmware may add its own identity key beside it).
    stored = json.loads((flash / "ble_secrets.json").read_text())
    assert all(entry in stored for entry in SECRETS)


def test_another_board_does_not_get_the_saved_files(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    (backups / "24a160000001").mkdir(parents=True)
    (backups / "24a160000001" / "config.json").write_text(json.dumps(CONFIG))
    flash = tmp_path / "flash"
    flash.mkdir()
    with SimulatedBoard(flash_dir=flash, unique_id="24a160c0ffee", fast=True) as sim:
        target = Target(sim.port, f"sim:{flash}", power_cycle=sim.power_cycle)
        result = deploy(target, FIRMWARE_DIR, listen_s=1.5, repl_timeout_s=10.0, backups=backups)
    assert result.restored == []
    assert result.config_written is True
    assert json.loads((flash / "config.json").read_text())["name"] != "Left ankle"


def test_a_board_that_does_not_answer_is_said_to_lose_its_settings(silent_port: str) -> None:
    kept = save_from_board(silent_port, repl_timeout_s=1.0, listen_s=0.5)
    assert kept.files == []
    text = kept.describe()
    assert text.startswith(
        f"could not save the board's files (no MicroPython answered on {silent_port}"
    )
    assert "anklet tare" in text and "anklet calibrate" in text and "anklet pair" in text
