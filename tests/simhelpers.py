"""Helpers for tests that record from the simulated board."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from anklet.device import Device
from anklet.recorder import SessionRecorder, SessionSummary
from anklet.transport.serial import SerialTransport
from anklet_sim.board import SimulatedBoard

QUIET_MOTION = "leg-raise:sets=1,reps=3,rom=40,up=1,hold=0.5,down=1,rest=5,seed=3"


#: How long a test's host waits for a command's answer. A user's `anklet` gives up after 2 s
#: (device.DEFAULT_TIMEOUT_S); a test is not about that wait (the timeout tests set their own),
#: and on a machine whose cores are all busy an answer can take longer: the wait only bounds a
#: board that would never answer.
COMMAND_TIMEOUT_S = 10.0

#: Sim options for a board whose test asserts that the link lost nothing: a board with PSRAM,
#: whose ring (68 s at 200 Hz, 17 s at 1000 Hz) outlasts any time a busy machine keeps the
#: test's host from reading, so what the link dropped is still there to re-send however late
#: the host asks. On a DevKitC's heap a starved host lost samples "older than the board's
#: buffer", which is the right account, but not what those tests are about.
LONG_RING = {"psram": 1}


def device_on(board: SimulatedBoard) -> Device:
    """A Device on the board's serial port, waiting COMMAND_TIMEOUT_S for answers."""
    return Device(SerialTransport(board.port), command_timeout_s=COMMAND_TIMEOUT_S)


def holders(path: str) -> str:
    """Which processes have `path` open (Linux, /proc): for a test's message when a port is
    unexpectedly busy."""
    found = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == path for fd in fd_dir.iterdir()):
                pid = fd_dir.parent.name
                cmdline = (fd_dir.parent / "cmdline").read_bytes().replace(b"\0", b" ")
                found.append(f"{pid} {cmdline.decode(errors='replace')[:120]}")
        except OSError:
            continue
    return "; ".join(found) or "nobody"


def reader_state(device: Device) -> str:
    """Where a serial Device's reader thread is and what its port's descriptor now names:
    for a test's message when a board's answers stop arriving while its port is open."""
    transport = device.transport
    if not isinstance(transport, SerialTransport):
        return "not a serial link"
    thread, ser = transport._thread, transport._serial
    fd = getattr(ser, "fd", None)
    try:
        names = os.readlink(f"/proc/self/fd/{fd}") if fd is not None else "no descriptor"
        waiting = ser.in_waiting if ser is not None else "-"
    except (OSError, TypeError, ValueError) as exc:
        names, waiting = f"? ({exc})", "-"
    if thread is None:
        return f"no reader thread; fd {fd} names {names}"
    frame = sys._current_frames().get(thread.ident or -1)
    where = "".join(traceback.format_stack(frame)[-4:]) if frame is not None else "(no frame)"
    return (
        f"reader alive={thread.is_alive()}; fd {fd} names {names}, {waiting} bytes waiting; "
        f"reader at:\n{where}"
    )


def read_samples(folder: Path) -> list[dict[str, str]]:
    with open(folder / "samples.csv") as f:
        return list(csv.DictReader(f))


def read_meta(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "session.json").read_text())


async def record(
    board: SimulatedBoard,
    out: Path,
    duration_s: float,
    rate_hz: int = 200,
    during: Any = None,
) -> SessionSummary:
    """Record from the simulated board; `during(recorder)` runs alongside (faults, stops)."""
    device = device_on(board)
    recorder = SessionRecorder(device, out, imu_rate_hz=rate_hz)
    task = asyncio.create_task(recorder.run(duration_s))
    try:
        if during is not None:
            await during(recorder)
        return await task
    finally:
        await device.close()  # also when the session raised: else the port stays locked


async def record_until(
    board: SimulatedBoard,
    out: Path,
    rate_hz: int,
    done: Callable[[SessionRecorder], bool],
    during: Any = None,
    limit_s: float = 120.0,
    **recorder_args: Any,
) -> SessionSummary:
    """Record from the simulated board until `done(recorder)` holds (an event of the session,
    such as rows written), then stop it as Ctrl-C does. `limit_s` only bounds a test that would
    otherwise hang: on a busy machine the session simply lasts longer, it never ends short of
    what the test needs. `during(recorder)` runs alongside (faults), before `done` is awaited;
    `recorder_args` go to SessionRecorder (keep_raw=True, ...)."""
    device = device_on(board)
    recorder = SessionRecorder(device, out, imu_rate_hz=rate_hz, **recorder_args)
    task = asyncio.create_task(recorder.run(limit_s))
    try:
        if during is not None:
            await during(recorder)
        await eventually(lambda: task.done() or done(recorder), limit_s)
        recorder.request_stop()
        return await task
    finally:
        await device.close()  # also when the session raised: else the port stays locked


def rows_written(count: int) -> Callable[[SessionRecorder], bool]:
    """`done` for record_until: at least `count` rows in samples.csv."""
    return lambda recorder: rows_in_file(recorder) >= count


def rows_in_file(recorder: SessionRecorder) -> int:
    """Rows in samples.csv now. Not `recorder.live.samples_written`, the live view's copy,
    which the recorder's loop refreshes between its steps: while it reconnects the copy stays
    behind, and a test that counts rows from an event (a reset) would count the wrong ones."""
    return recorder.log.samples_written if recorder.log is not None else 0


async def eventually(predicate: Any, timeout_s: float = 60.0) -> bool:
    """Wait until predicate() is true (events of the simulated radio land asynchronously);
    returns its last value, for the test to assert. The timeout only bounds a test that would
    otherwise hang: it returns as soon as the event is seen, however busy the machine."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate() and loop.time() < deadline:
        await asyncio.sleep(0.02)
    return bool(predicate())
