"""A simulated board runs ahead of ordinary work: it stands for a real-time device."""

from __future__ import annotations

import contextlib
import os
import threading


def ahead_of_this_process() -> int:
    """The nice value a board started from this process runs at: 5 ahead of its main thread."""
    return max(-20, os.getpriority(os.PRIO_PROCESS, os.getpid()) - 5)


def run_ahead(pid: int) -> None:
    """A board is a real-time device (its IMU fills an 85 ms FIFO at 1000 Hz whether or not
    the interpreter gets the CPU), so it runs ahead of the process that drives it, and of
    ordinary work, when allowed to (root or CAP_SYS_NICE); otherwise nothing changes. Ahead
    of this process's main thread, whichever thread asks (Linux keeps a nice value per thread)."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, ahead_of_this_process())


def run_this_thread_ahead() -> None:
    """For a thread the board waits on (a serial board's radio: NimBLE waits for its
    controller's HCI answers) in the process that drives the board (a test, the recorder):
    it runs at the board's priority, not at that of the process."""
    run_ahead(threading.get_native_id())
