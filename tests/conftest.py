"""Shared test helpers: paths, and runners for the real MicroPython interpreter (plain, or on
the simulated board's emulated hardware)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from anklet.transport.ports import PortBusy
from anklet_sim.board import micropython_command, micropython_path
from hypothesis import settings
from simhelpers import holders

# No per-example deadline: a property test checks what is decoded, not how fast; on a busy
# machine (2 cores, several engineers) an example may take 5 s without anything being wrong.
settings.register_profile("anklet", deadline=None)
settings.load_profile("anklet")


def pytest_configure(config: pytest.Config) -> None:
    """The suite drives simulated boards in real time (a board's IMU FIFO holds 85 ms at
    1000 Hz; NimBLE and bumble time out pairings): its processes run ahead of other work on the
    machine when allowed to (root or CAP_SYS_NICE), and each board ahead of its test
    (anklet_sim.priority). Without the privilege nothing changes."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, max(-20, os.getpriority(os.PRIO_PROCESS, 0) - 5))


@pytest.fixture(autouse=True)
def _serial_links_closed():
    """Each test closes the serial links it opened. One left open keeps its port locked and
    its threads alive for the rest of the worker's tests (a helper skipped device.close() when
    the session raised); threads already there before the test are not counted again."""
    before = set(threading.enumerate())
    yield
    left = [
        t for t in threading.enumerate() if t.name.startswith("anklet-serial") and t not in before
    ]
    for thread in left:
        thread.join(2.0)  # a disconnect that timed out its join: the close ends them at once
    alive = sorted(t.name for t in left if t.is_alive())
    assert not alive, f"serial link left open (its threads still run): {alive}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """A test that failed on a busy port says who held it then, before its fixtures close
    anything: another process (a stale path another worker's pty now answers to) or a thread
    of this one (a reader still in select() on a closed port, which holds its lock)."""
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(PortBusy):
        port = str(call.excinfo.value).split(" ")[1]
        threads = []
        frames = sys._current_frames()
        for thread in threading.enumerate():
            frame = frames.get(thread.ident or -1)
            where = f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame else "?"
            threads.append(f"{thread.name} at {where}")
        report.sections.append(
            (
                "busy port",
                f"{port} open in: {holders(port)}\nlocked by: {_lockers(port)}\n"
                "threads: " + "; ".join(threads),
            )
        )
    return report


def _lockers(path: str) -> str:
    """The processes holding a lock on `path` (Linux, /proc/locks: pid, then the file's inode)."""
    try:
        inode = os.stat(path).st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError as exc:
        return f"? ({exc})"
    pids = [line.split()[4] for line in lines if line.split()[5].endswith(f":{inode}")]
    return ", ".join(pids) or "nobody"


ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
SIM_MPY = ROOT / "sim" / "anklet_sim" / "mpy"


def run_micropython(
    script: Path | str,
    *args: str,
    path: list[Path] | None = None,
    heapsize: str | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a MicroPython script with `path` (default: firmware/) as its module path."""
    cmd = [micropython_command()]
    if heapsize:
        cmd += ["-X", f"heapsize={heapsize}"]
    cmd += [str(script), *args]
    full_env = {
        **os.environ,
        "MICROPYPATH": micropython_path(*(path if path is not None else [FIRMWARE])),
        **(env or {}),
    }
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd
    )


# Tests that share a session-scoped fixture too costly to make once per xdist worker (the
# history tests' recordings from the simulated board): they run on one worker.
_ONE_WORKER = ("tests/history/",)


#: `-n auto` (make test): three workers per free core, at most six. The suite's simulated boards
#: run in real time, so a worker mostly waits (idle, four workers kept 2 cores 56 % busy); on a
#: machine that other work keeps busy, many workers' boards and the other work starve each
#: other, so fewer workers take longer instead (docs/ARCHITECTURE.md, "Fast tests").
_WORKERS_PER_FREE_CORE = 3
_MAX_WORKERS = 6


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    free = _free_cores(cores or 1)
    workers = max(1, min(_MAX_WORKERS, round(_WORKERS_PER_FREE_CORE * free)))
    print(f"tests: {workers} worker(s), {free:.1f} of {cores} cores free", file=sys.stderr)
    return workers


def _free_cores(cores: int, sample_s: float = 1.0) -> float:
    """Cores left idle by other work, from /proc/stat over `sample_s` (Linux); elsewhere all."""

    def idle_and_total() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return fields[3] + fields[4], sum(fields[:8])  # idle + iowait; user..steal

    try:
        idle0, total0 = idle_and_total()
        time.sleep(sample_s)
        idle1, total1 = idle_and_total()
    except (OSError, ValueError, IndexError):
        return float(cores)
    if total1 <= total0:
        return float(cores)
    return cores * (idle1 - idle0) / (total1 - total0)


# Folders whose tests run simulated boards in real time (most take 5 to 30 s), in the order the
# workers take them: the long tests first, the quick ones (analysis, protocol) after them, so
# the suite does not end waiting for one worker's long session (longest first, as in LPT
# scheduling). Items keep their order within a folder.
_LONG_FIRST = (
    "tests/history/", "tests/host/", "tests/ble/", "tests/deploy/", "tests/firmware/", "tests/sim/",
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        nodeid = item.nodeid
        return next(
            (n for n, folder in enumerate(_LONG_FIRST) if nodeid.startswith(folder)),
            len(_LONG_FIRST),
        )

    items.sort(key=rank)  # stable: every xdist worker collects the same order


@pytest.hookimpl(optionalhook=True)  # xdist's hook: absent with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`-n N`: xdist's `load` distribution, except that each folder of _ONE_WORKER goes to one
    worker as a whole (its biggest unit, so first). xdist's own `--dist loadgroup` cannot do
    it here: on pytest 9.2 its group marks are silently lost (pytest-xdist issue 1386)."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerFolders(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return next((folder for folder in _ONE_WORKER if nodeid.startswith(folder)), nodeid)

    return OneWorkerFolders(config, log)


@pytest.fixture
def micropython():
    return run_micropython


class SimRun:
    """Writes `code` and a sim config to tmp_path and runs them under MicroPython."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.n = 0

    def __call__(
        self,
        code: str,
        config: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30,
        heapsize: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        self.n += 1
        script = self.tmp_path / f"snippet{self.n}.py"
        script.write_text(textwrap.dedent(code))
        cfg = self.tmp_path / f"sim{self.n}.json"
        cfg.write_text(json.dumps({"i2c_timing": False, **(config or {})}))
        cmd = [micropython_command()]
        if heapsize:
            cmd += ["-X", f"heapsize={heapsize}"]
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("ANKLET_")}
        full_env = {
            **inherited,
            "MICROPYPATH": micropython_path(SIM_MPY, FIRMWARE),
            "ANKLET_SIM_CONFIG": str(cfg),
            **(env or {}),
        }
        return subprocess.run(
            [*cmd, str(script)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=self.tmp_path,
        )

    def json(self, code: str, **kwargs: Any) -> Any:
        """Run `code`, which prints one JSON document as its last line; return it."""
        result = self(code, **kwargs)
        assert result.returncode == 0, result.stderr + result.stdout
        return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def sim_run(tmp_path: Path) -> SimRun:
    return SimRun(tmp_path)
