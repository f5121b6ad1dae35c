"""A simulated board runs ahead of ordinary work: it stands for a real-time device."""

from __future__ import annotations

import contextlib
import os
import threading


def ahead_of_this_process() -> int:
    """The nice value a board started from this process runs at: 5 ahead of its main thread."""
    return max(-20, os.getpriority(os.PRIO_PROCESS, os.getpid()) - 5)


def run_this_thread_ahead() -> None:
    """A board is a real-time device (its IMU fills an 85 ms FIFO at 1000 Hz whether or not
    the interpreter gets the CPU). A thread the board waits on (a serial board's radio: NimBLE
    waits for its controller's HCI answers), in the process that drives the board (a test, the
    recorder), runs at the board's priority when allowed to (root or CAP_SYS_NICE); otherwise
    nothing changes. Linux keeps a nice value per thread."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ahead_of_this_process())
