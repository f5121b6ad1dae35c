"""Session folders: never overwritten, whole rows only, readable after a crash."""

from __future__ import annotations

import csv
import json
import os
from datetime import UTC, datetime

import numpy as np
from anklet.csvlog import SessionFolder


def test_folders_are_never_overwritten(tmp_path):
    when = datetime(2026, 11, 27, 10, 15, 0, tzinfo=UTC)
    first = SessionFolder.create(tmp_path, "Anklet C0FE", when)
    second = SessionFolder.create(tmp_path, "Anklet C0FE", when)
    assert first.path.name == "Anklet_C0FE-20261127-101500"
    assert second.path.name == "Anklet_C0FE-20261127-101500-2"
    first.close()
    second.close()


def test_rows_flushed_are_on_disk_before_close(tmp_path):
    folder = SessionFolder.create(tmp_path, "x")
    imu = np.arange(12.0).reshape(2, 6)
    folder.write_samples(np.array([0, 1]), np.array([0.0, 0.005]), imu, np.array([np.nan, 2.5]))
    folder.flush()
    # Read as another process would after a crash (the writer never closed its files).
    with open(folder.path / "samples.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["index"] for r in rows] == ["0", "1"]
    assert rows[0]["force_n"] == ""
    assert float(rows[1]["force_n"]) == 2.5
    assert float(rows[1]["gz_dps"]) == 11.0
    os.close(folder.samples._fd)
    os.close(folder.force._fd)


def test_json_is_replaced_atomically(tmp_path):
    folder = SessionFolder.create(tmp_path, "x")
    folder.write_json({"complete": False})
    folder.write_json({"complete": True})
    assert json.loads((folder.path / "session.json").read_text()) == {"complete": True}
    # No temp file left; only the space held for the last session.json, until close.
    assert [p.name for p in folder.path.iterdir() if p.name.startswith(".")] == [".reserve"]
    folder.close()
    assert [p.name for p in folder.path.iterdir() if p.name.startswith(".")] == []
