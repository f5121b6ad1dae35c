"""bootguard (firmware slots and the boot counter) under the real MicroPython interpreter."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_bootguard_commit_count_revert_and_power_cut_recovery(micropython, tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    result = micropython(HERE / "mpy_bootguard.py", str(flash))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if not line.startswith("bootguard:")]
    assert [line for line in lines if not line.startswith("ok ")] == []
    assert len(lines) == 18
