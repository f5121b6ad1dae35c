"""Fixtures for host tests against the simulated board (the real firmware in MicroPython)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from anklet_sim.board import SimulatedBoard
from simhelpers import LONG_RING, QUIET_MOTION


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatedBoard]:
    # Fast mode (no UART model: bytes as fast as the pty moves them): these test the host's
    # session logic; the ESP32 model's serial port is tested in tests/sim/test_uart_model.py.
    # A long ring: what a busy machine keeps the host from reading is still there to re-send.
    board = SimulatedBoard(
        flash_dir=tmp_path / "flash", motion=QUIET_MOTION, fast=True, sim_options={**LONG_RING}
    )
    board.start()
    try:
        yield board
    finally:
        board.stop()
