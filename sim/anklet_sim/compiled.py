"""The firmware as a board loads it: every module compiled by mpy-cross, as `anklet deploy`
does, for the simulated board's interpreter, cached by content.

A board running firmware/ from the repository used to compile each .py on the board. An ESP32
never does that (`anklet deploy` sends .mpy files, or the image has them frozen), and on the
ESP32's heap model (heap.py) the compiler's transient parse trees would grow the heap at boot
where a real board's does not: loading .mpy costs a board the bytecode alone.

    path = compiled_firmware(firmware_dir)   # a folder of .mpy files for MICROPYPATH
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from anklet.deploy.build import BoardInfo, mpy_cross_args
from anklet.deploy.build import _mpy_cross as run_mpy_cross  # deploy's own mpy-cross call

CACHE = Path(tempfile.gettempdir()) / f"anklet-sim-mpy-{os.getuid()}"


@functools.cache
def interpreter_mpy(command: str) -> int:
    """sys.implementation._mpy of the interpreter at `command`: .mpy version and native arch."""
    done = subprocess.run(
        [command, "-c", "import sys; print(sys.implementation._mpy)"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return int(done.stdout.strip())


def compiled_firmware(firmware_dir: Path, command: str) -> Path:
    """A folder with every module of `firmware_dir` as .mpy for the interpreter `command`."""
    args = mpy_cross_args(BoardInfo(mpy=interpreter_mpy(command)))
    sources = sorted(
        p
        for p in firmware_dir.glob("*.py")
        if p.name != "manifest.py"  # a build file, not code
    )
    digest = hashlib.sha256(" ".join(args).encode())
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    out = CACHE / digest.hexdigest()[:20]
    if out.is_dir():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=CACHE, prefix="staging-"))
    try:
        for source in sources:
            target = staging / (source.stem + ".mpy")
            done = run_mpy_cross(*args, "-s", source.name, "-o", str(target), str(source))
            if done.returncode != 0:
                why = (done.stderr or done.stdout).strip().splitlines()
                raise RuntimeError(f"mpy-cross failed on {source}: {why[-1] if why else '?'}")
        try:
            staging.rename(out)  # whole or not at all; another board may have made it first
        except OSError:
            if not out.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
