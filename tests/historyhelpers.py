"""Helpers for the history tests: the `anklet` command in-process, the recordings made from the
simulated board, and a week of labelled sessions made from them."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from anklet.cli import _load_commands, app
from typer.testing import CliRunner

_load_commands()
runner = CliRunner()

# One set of 5 quick reps after 1 s of stillness: ~10 s of recording each.
_MOTION = "leg-raise:sets=1,reps=5,up=0.5,hold=0.2,down=0.5,pause=0.3,lead=1,rom={rom},seed={seed}"
# (name, device, range of motion deg, seed)
RECORDINGS = (
    ("ana-knee-left", "sim", 60, 3),
    ("ana-knee-right", "sim:ble", 45, 4),
    ("ben-hip-left", "sim", 35, 5),
)


def anklet(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(args), env=env)


def record_all(root: Path) -> dict[str, Path]:
    """Sessions recorded by `anklet log` from the simulated board, one folder each."""
    env = {"ANKLET_DATA_DIR": str(root / "data")}
    folders = {}
    for name, device, rom, seed in RECORDINGS:
        out = root / name
        result = anklet(
            "log", "--device", device, "--duration", "10", "--json",
            "--motion", _MOTION.format(rom=rom, seed=seed), "--out", str(out), env=env,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        summary = json.loads(result.output.strip().splitlines()[-1])
        assert summary["reps"] >= 3, summary
        folders[name] = Path(summary["session"])
    return folders


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
