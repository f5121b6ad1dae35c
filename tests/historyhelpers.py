"""Helpers for the history tests: the `anklet` command in-process, the recordings made from the
simulated board, and a week of labelled sessions made from them."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from anklet.cli import _load_commands, app
from anklet.logsession import DeviceOptions, LogOptions, LogSession
from typer.testing import CliRunner

_load_commands()
runner = CliRunner()

# Sets of 5 quick reps, 1 s apart, for as long as the board runs (loop=1): the session sees
# reps whenever its stream starts, however long the board took to boot.
_MOTION = (
    "leg-raise:sets=1,reps=5,up=0.5,hold=0.2,down=0.5,pause=0.3,rest=1,lead=1,loop=1,"
    "rom={rom},seed={seed}"
)
# (name, device, range of motion deg, seed)
RECORDINGS = (
    ("ana-knee-left", "sim", 60, 3),
    ("ana-knee-right", "sim:ble", 45, 4),
    ("ben-hip-left", "sim", 35, 5),
)


def anklet(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


def record_all(root: Path) -> dict[str, Path]:
    """Sessions recorded from the simulated boards as `anklet log` records them (its
    LogSession), one folder each. Each ends on its event, 4 reps seen live, never after a fixed
    time: however long a busy machine takes to boot a board, the session holds the reps the
    tests need. One after the other: three boards booting at once starve each other."""
    return {
        name: asyncio.run(asyncio.wait_for(_record_one(root, name, device, rom, seed), 120))
        for name, device, rom, seed in RECORDINGS
    }  # 120 s: a hang guard, not a deadline


async def _record_one(root: Path, name: str, device: str, rom: int, seed: int) -> Path:
    board = DeviceOptions(device, _MOTION.format(rom=rom, seed=seed), root / "flash" / name)
    session = LogSession(LogOptions(board, out_dir=root / name))
    task = asyncio.create_task(session.run())
    while not task.done() and session.live.reps < 4:
        await asyncio.wait({task}, timeout=0.05)
    session.stop()
    summary = await task
    assert summary.training.reps >= 3, (name, summary)
    return summary.folder


# (recording, athlete, exercise, side, load kg) x the days of the weeks they are copied to
WEEK_PLAN = (
    ("ana-knee-left", "Ana", "seated knee extension", "left", "2.5"),
    ("ana-knee-right", "Ana", "seated knee extension", "right", "2.5"),
    ("ben-hip-left", "Ben", "standing hip abduction", "left", "1.5"),
    ("ana-knee-left", "Ben", "seated knee extension", "left", "1.5"),
)
MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # ISO week 2026-W45
DAYS = (0, 2, 4, 7, 9, 14)  # three weeks: W45, W46, W47


def make_week(recordings: dict[str, Path], sessions: Path) -> list[Path]:
    """Copies of the recordings, labelled with `anklet label` and re-dated (session.json's
    start) over three weeks: each copy is a session folder as `anklet log` leaves it."""
    sessions.mkdir(parents=True, exist_ok=True)
    made = []
    for n, (source, athlete, exercise, side, load) in enumerate(WEEK_PLAN):
        for day in DAYS:
            started = MONDAY + timedelta(days=day, minutes=10 * n)
            folder = sessions / f"{source}-{athlete}-{started:%Y%m%d-%H%M%S}"
            shutil.copytree(recordings[source], folder)
            meta_path = folder / "session.json"
            meta = json.loads(meta_path.read_text())
            meta["started_utc"] = started.isoformat()
            meta_path.write_text(json.dumps(meta))
            result = anklet(
                "label", str(folder), "--exercise", exercise, "--side", side,
                "--athlete", athlete, "--load-kg", load,
            )  # fmt: skip
            assert result.exit_code == 0, result.output
            made.append(folder)
    return made
