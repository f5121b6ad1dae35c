"""Attacks on the loss account against the simulated board (the real firmware in MicroPython):
back-to-back sessions, a stream stopped behind the recorder's back, a port that disappears.
Each waits for events, never for a time."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from simhelpers import read_meta, read_samples, record

pytestmark = pytest.mark.timeout(240)


def _column(rows: list[dict[str, str]], name: str) -> np.ndarray:
    return np.array([float(r[name]) for r in rows])


def test_second_session_on_the_same_boot_records_only_its_own_samples(sim, tmp_path):
    first = asyncio.run(record(sim, tmp_path / "one", 5.0, 200))
    second = asyncio.run(record(sim, tmp_path / "two", 5.0, 200))
    assert first.samples > 0
    rows = read_samples(second.folder)
    index = _column(rows, "index")
    t_s = _column(rows, "t_s")
    assert second.lost == 0
    assert second.expected == second.samples == len(rows)
    assert index[0] == 0
    assert np.array_equal(index, np.arange(len(index)))
    assert t_s.min() > -0.5  # nothing from before the session started
    assert len(rows) <= 6.0 * 200  # 5 s of samples, not 10
    meta = read_meta(second.folder)
    assert meta["loss"]["completeness_pct"] == 100.0
