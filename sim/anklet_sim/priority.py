"""A simulated board runs ahead of ordinary work: it stands for a real-time device."""

from __future__ import annotations

import contextlib
import os
import threading


def run_ahead(pid: int) -> None:
    """A board is a real-time device (its IMU fills an 85 ms FIFO at 1000 Hz whether or not
    the interpreter gets the CPU), so it runs ahead of the process that drives it, and of
    ordinary work, when allowed to (root or CAP_SYS_NICE); otherwise nothing changes. Ahead
    of this process's main thread, whichever thread asks (Linux keeps a nice value per thread)."""
    with contextlib.suppress(OSError):
        driver = os.getpriority(os.PRIO_PROCESS, os.getpid())
        os.setpriority(os.PRIO_PROCESS, pid, max(-20, driver - 5))


def run_this_thread_ahead() -> None:
    """For a thread the board waits on (a serial board's radio: NimBLE waits for its
    controller's HCI answers) in the process that drives the board (a test, the recorder):
    it runs at the board's priority, not at that of the process."""
    run_ahead(threading.get_native_id())
