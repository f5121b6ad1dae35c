"""Ports for the error paths: a pty nobody answers on, and one another program holds."""

from __future__ import annotations

import os
import tty
from collections.abc import Iterator

import pytest
import serial


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    """A pseudo-terminal: the board's end (a file descriptor) and the host's port name."""
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        yield master, os.ttyname(slave)
    finally:
        os.close(slave)
        os.close(master)


@pytest.fixture
def silent_port(pty_pair: tuple[int, str]) -> str:
    """A serial port with nothing behind it: like a board that never answers."""
    return pty_pair[1]


@pytest.fixture
def busy_port(silent_port: str) -> Iterator[str]:
    """A port another program has opened exclusively (a serial monitor, `anklet log`)."""
    holder = serial.Serial(silent_port, exclusive=True)
    try:
        yield silent_port
    finally:
        holder.close()
