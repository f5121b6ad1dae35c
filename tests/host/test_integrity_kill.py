"""kill -9 of `anklet log --device sim`: every row on disk is whole, the files stay readable,
the received rows reach the disk within a second, and the simulated board dies with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)

ANKLET = str(Path(sys.executable).parent / "anklet")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out.extend(int(c) for c in text)
    return out


def _rows(path: Path) -> int:
    try:
        return max(0, path.read_bytes().count(b"\n") - 1)
    except FileNotFoundError:
        return 0


def _wait(predicate, what: str, timeout_s: float = 90.0) -> None:
    """Poll for an event; the bound only stops a hang."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find the board process")
def test_kill_9_of_the_recorder_leaves_whole_rows_and_no_orphan_board(tmp_path):
    env = {
        **os.environ,
        "ANKLET_DATA_DIR": str(tmp_path / "data"),
        "ANKLET_CONFIG_DIR": str(tmp_path / "config"),
    }
    out = tmp_path / "sessions"
    proc = subprocess.Popen(
        [ANKLET, "log", "--device", "sim", "--duration", "120", "--out", str(out), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: any(out.glob("*/samples.csv")), "the session folder")
        samples = next(out.glob("*/samples.csv"))
        _wait(lambda: _rows(samples) >= 800, "800 rows on disk")
        board = _children(proc.pid)
        assert board, "the simulated board runs as a child process"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        _wait(
            lambda: all(
                not Path(f"/proc/{pid}").exists()
                or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
                for pid in board
            ),
            "the board process ending",
        )
    finally:
        if proc.poll() is None:
            proc.kill()
    data = samples.read_text()
    assert data.endswith("\n")
    lines = data.splitlines()
    assert all(len(line.split(",")) == 9 for line in lines)
    indices = [int(line.split(",")[0]) for line in lines[1:]]
    # In order, each once (a gap is the board's own drop on a starved PC: session.json, saved
    # every few seconds, may not name it yet).
    assert all(b > a for a, b in pairwise(indices))
    meta = json.loads(next(out.glob("*/session.json")).read_text())
    assert meta["complete"] is False
