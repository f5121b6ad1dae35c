"""What a session's files must say of every sample, whatever a busy machine did to the timing:
shared by the unit tests and the hardware-in-the-loop suite."""

from __future__ import annotations

import csv
import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from anklet.reassembly import FIFO_OVERFLOW


def assert_every_sample_accounted(folder: Path) -> dict[str, Any]:
    """Every index from the session's first to its last is written once or listed as lost with
    its reason, and session.json's counts add up; returns session.json.

    Sessions assert this rather than zero loss: whether a busy test machine starves the
    simulated board long enough to overflow its IMU FIFO is up to the scheduler, and zero loss
    at rate is a benchmark figure (bench/bench_end_to_end.py), not a test."""
    meta = json.loads((folder / "session.json").read_text())
    loss = meta["loss"]
    index = _indices(folder)
    ranges = loss["lost_ranges"]
    assert all(r["why"] and r["to_index"] > r["from_index"] for r in ranges), ranges
    lost = np.concatenate(
        [np.arange(r["from_index"], r["to_index"]) for r in ranges] + [np.empty(0, np.int64)]
    )
    covered = np.sort(np.concatenate([index, lost]))
    assert len(covered), "no sample at all"
    assert np.array_equal(covered, np.arange(covered[0], covered[0] + len(covered))), (
        "an index written twice, or missing without a lost range"
    )
    assert np.all(np.diff(index) > 0), "rows out of order"
    assert len(index) == loss["samples_received"] == meta["samples_written"]
    assert loss["samples_lost"] == len(lost)
    # Blocks refused as implausible (their indices untrusted) are counted, not placed.
    assert loss["samples_expected"] == len(covered) + loss.get("samples_refused", 0)
    return meta


def lost_on_the_link(meta: dict[str, Any]) -> int:
    """Samples lost other than the ones the board itself dropped (IMU FIFO overflow: the board
    flags the block after its gap, and the session names the range so): what the link and the
    recorder are answerable for. Not the board's STATUS count: that is since boot, so a second
    session on the same boot had the first's drops in it, and a final STATUS can be late."""
    return sum(
        r["to_index"] - r["from_index"]
        for r in meta["loss"]["lost_ranges"]
        if r["why"] != FIFO_OVERFLOW
    )


def _indices(folder: Path) -> np.ndarray:
    with open(folder / "samples.csv") as f:
        return np.array([int(row["index"]) for row in csv.DictReader(f)], dtype=np.int64)


def assert_gaps_counted(index: list[int], meta: dict[str, Any]) -> None:
    """Rows in order, and every index missing between the first and the last row is in a lost
    range with its reason (the board may drop samples itself when a busy PC starves it)."""
    assert all(b > a for a, b in pairwise(index)), "rows out of order"
    missing = set(range(index[0], index[-1] + 1)) - set(index)
    assert missing <= lost_indices(meta), sorted(missing - lost_indices(meta))[:10]


def lost_indices(meta: dict[str, Any]) -> set[int]:
    """Every index session.json lists as lost, whatever the reason."""
    return {i for r in meta["loss"]["lost_ranges"] for i in range(r["from_index"], r["to_index"])}
