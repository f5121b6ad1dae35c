"""Deploying to the simulated board end to end: its REPL serves mpremote, the deployed firmware
boots and reports its revision, the user's config survives a redeploy, and a version that fails
three starts gives way to the previous one. The boards run in fast mode (deploy's logic is
under test, not the pace of a 115200-baud UART); `anklet deploy --device sim` runs on the
ESP32 model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from anklet.cli import _load_commands, app
from anklet.deploy import FIRMWARE_DIR, NotStarted, Target, deploy, git_revision, wait_for_info
from anklet_sim.board import EXIT_RESET, SimulatedBoard
from typer.testing import CliRunner

_load_commands()
runner = CliRunner()
# The CLI test boots the deployed firmware in the default heap: it guards the firmware's memory
# budget as deployed (.mpy). The others are about deploying and reverting, and give it room.
ROOMY_HEAP = "512k"


def mpremote(port: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mpremote", "connect", port, *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def deploy_to(sim: SimulatedBoard, firmware_dir: Path = FIRMWARE_DIR, revision: str = ""):
    target = Target(sim.port, f"sim:{sim.flash_dir}", power_cycle=sim.power_cycle)
    # The app sends STATUS every second: 1.5 s of silence means it is not running.
    return deploy(target, firmware_dir, revision or None, listen_s=1.5, repl_timeout_s=10.0)


def wait_for(condition, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_simulated_repl_serves_mpremote_exec_fs_and_soft_reset(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text("print('main ran')\n")  # returns at once: the REPL follows
    with SimulatedBoard(flash_dir=flash, fast=True) as sim:
        done = mpremote(sim.port, "resume", "exec", "print(6 * 7)")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "42"
        local = tmp_path / "notes.txt"
        local.write_text("calibration: 2280\n" * 200)  # several raw-paste windows
        done = mpremote(sim.port, "resume", "fs", "cp", str(local), ":notes.txt")
        assert done.returncode == 0, done.stderr
        assert (flash / "notes.txt").read_text() == local.read_text()
        done = mpremote(sim.port, "resume", "fs", "ls", ":")
        assert "notes.txt" in done.stdout
        done = mpremote(sim.port, "resume", "exec", "1/0")
        assert done.returncode == 1
        assert "ZeroDivisionError" in done.stdout + done.stderr
        # Without `resume` mpremote soft-resets first, in the raw REPL: main.py does not run.
        done = mpremote(sim.port, "exec", "import sys; print('fresh' if 'x' not in dir() else 1)")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "fresh"
        assert sim.running


def test_deploy_to_simulated_board_boots_the_revision_and_keeps_the_config(tmp_path):
    flash = tmp_path / "flash"
    # 1. By the CLI, as a user would: a fresh board running firmware/ from the repository.
    result = runner.invoke(app, ["deploy", "--device", "sim", "--flash", str(flash), "--json"])
    assert result.exit_code == 0, result.output
    first = json.loads(result.output.strip().splitlines()[-1])
    revision = git_revision(FIRMWARE_DIR)
    assert first["revision"] == revision
    assert first["info"]["fw_git"] == revision  # GET_INFO / INFO from the deployed version
    assert first["reached_repl_by"] == "exit-to-repl"  # the app was streaming
    assert first["config_written"] is True
    assert first["board"]["arch"] == "x86"  # the simulated board is a 32-bit interpreter
    assert (flash / "main.py").read_text().endswith("bootguard.run()\n")
    assert sorted(p.suffix for p in (flash / "fw").iterdir()) == [".mpy"] * len(
        list((flash / "fw").iterdir())
    )

    # 2. The user calibrates; a redeploy keeps it and keeps the first version as the previous.
    config = json.loads((flash / "config.json").read_text())
    config["load_scale"] = 1234.5
    (flash / "config.json").write_text(json.dumps(config))
    with SimulatedBoard(flash_dir=flash, fast=True) as sim:
        second = deploy_to(sim, revision="e2e00002")
        assert second.info is not None
        assert second.info["fw_git"] == "e2e00002"
        assert second.info["load_scale"] == pytest.approx(1234.5)
        assert second.config_written is False
        assert json.loads((flash / "config.json").read_text())["load_scale"] == 1234.5
        assert revision.encode() in (flash / "fw_prev" / "version.mpy").read_bytes()


def test_a_version_failing_three_starts_gives_way_to_the_previous(tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(FIRMWARE_DIR, broken)
    (broken / "main.py").write_text("raise RuntimeError('deliberately broken')\n")
    flash = tmp_path / "flash"
    with SimulatedBoard(flash_dir=flash, heapsize=ROOMY_HEAP, fast=True) as sim:
        good = deploy_to(sim, revision="good0001")
        assert good.info is not None
        assert good.info["fw_git"] == "good0001"
        boots_before = len(sim.boots)
        with pytest.raises(NotStarted, match=r"runs revision 'good0001', not 'bad00002'.*"
                           r"printed: RuntimeError: deliberately broken"):  # fmt: skip
            deploy_to(sim, broken, "bad00002")
        assert wait_for(lambda: (flash / "boot_reverted").exists(), 10)
        assert "failed 3 starts" in (flash / "boot_reverted").read_text()
        assert b"bad00002" in (flash / "fw_bad" / "version.mpy").read_bytes()
        assert b"good0001" in (flash / "fw" / "version.mpy").read_bytes()
        assert not (flash / "boot_trial").exists()
        # The deploy's power cycle, three failed starts that reset the board, then the revert.
        assert sim.exit_codes.count(EXIT_RESET) >= 3
        assert len(sim.boots) - boots_before >= 4
        boot, port = wait_for_info(sim.port, 10)
        port.close()
        assert boot.info is not None
        assert boot.info["fw_git"] == "good0001"


def test_deploy_keeps_nothing_of_a_failed_upload_in_the_active_slot(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text("print('at the REPL')\n")
    (flash / "fw_new").mkdir()
    (flash / "fw_new" / "stale.mpy").write_bytes(b"M\x06")  # left by an interrupted deploy
    with SimulatedBoard(flash_dir=flash, heapsize=ROOMY_HEAP, fast=True) as sim:
        result = deploy_to(sim, revision="clean001")
        assert result.reached_repl_by == "ctrl-c"  # no app was streaming
        assert not (flash / "fw" / "stale.mpy").exists()
        assert not (flash / "fw_new").exists()
        assert result.info is not None
        assert result.info["fw_git"] == "clean001"
