"""Shared test helpers: paths and a runner for the real MicroPython interpreter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
SIM_MPY = ROOT / "hil" / "sim" / "anklet_sim" / "mpy"


def micropython_binary() -> str:
    here = Path(sys.executable).parent / "micropython"
    found = str(here) if here.exists() else shutil.which("micropython")
    if not found:
        raise RuntimeError("the `micropython` command is missing: run `make setup`")
    return found


def run_micropython(
    script: Path | str,
    *args: str,
    path: list[Path] | None = None,
    heapsize: str | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a MicroPython script with `path` (default: firmware/) as its module path."""
    dirs = [str(p) for p in (path if path is not None else [FIRMWARE])] + [".frozen"]
    cmd = [micropython_binary()]
    if heapsize:
        cmd += ["-X", f"heapsize={heapsize}"]
    cmd += [str(script), *args]
    full_env = {**os.environ, "MICROPYPATH": ":".join(dirs), **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env)


@pytest.fixture
def micropython():
    return run_micropython
