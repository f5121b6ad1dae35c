"""A full disk ends the session cleanly: every completed row intact, no half row, the rows that
could not be written counted, and session.json true (space for it is held in reserve)."""

from __future__ import annotations

import asyncio
import csv
import errno
import json
import os

import numpy as np
import pytest
from accounting import assert_gaps_counted
from anklet import csvlog
from anklet.csvlog import SessionFolder, StorageError
from simhelpers import record, rows_in_file

pytestmark = pytest.mark.timeout(180)


def _disk_with_room_for(monkeypatch, nbytes: int, filled_by: str | None = None) -> None:
    """The session's files may grow by `nbytes` more, then the disk is full: the last write is
    cut short, as a real one is, and the next fails with ENOSPC. With `filled_by`, only that
    file's writes use the room up: the disk fills during its write, whatever the timing."""
    room = {"left": nbytes}

    def write(self, data):
        if filled_by is not None and self.path.name != filled_by:
            # Checked first: once `filled_by` had used the room up, the other file's next write
            # failed too, and came first when `filled_by`'s last write had been cut short
            # (storage_error then rightly named samples.csv, the first file to fail).
            return os.write(self._fd, data)
        if room["left"] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = os.write(self._fd, data[: room["left"]])
        room["left"] -= n
        return n

    monkeypatch.setattr(csvlog._RowFile, "_write", write)


def _rows(path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_a_full_disk_cuts_back_to_the_last_whole_row_and_counts_the_rest(tmp_path, monkeypatch):
    folder = SessionFolder.create(tmp_path, "x")
    imu = np.ones((100, 6))
    folder.write_samples(np.arange(100), np.arange(100) * 0.005, imu, np.full(100, np.nan))
    folder.flush()
    _disk_with_room_for(monkeypatch, 1000)  # a few rows and a half
    folder.write_samples(np.arange(100, 200), np.arange(100) * 0.005, imu, np.full(100, np.nan))
    with pytest.raises(StorageError, match="No space left"):
        folder.flush()
    assert not (folder.path / ".reserve").exists()  # given back for session.json
    folder.write_samples(np.arange(200, 300), np.arange(100) * 0.005, imu, np.full(100, np.nan))
    folder.flush()  # after the failure: counted, not written, no second error
    folder.close()
    data = (folder.path / "samples.csv").read_bytes()
    assert data.endswith(b"\n")
    assert [int(r["index"]) for r in _rows(folder.path / "samples.csv")] == list(range(100))
    assert folder.samples.rows == 100
    assert folder.samples.rows_not_written == 200
    assert "No space left" in folder.failed


# session.json's count of the rows a full disk kept out of each file
_NOT_WRITTEN = {"samples.csv": "samples_not_written", "force.csv": "force_rows_not_written"}


@pytest.mark.parametrize("filled_by", [None, "samples.csv", "force.csv"])
def test_a_disk_that_fills_mid_session_ends_it_with_true_files(
    sim, tmp_path, monkeypatch, filled_by
):
    """Whichever file the disk fills on, every row received is on disk or counted: a saturated
    run filled it during force.csv's write, and session.json said nothing of the force rows."""

    async def fill_disk(recorder):
        while rows_in_file(recorder) < 600:
            await asyncio.sleep(0.05)
        _disk_with_room_for(monkeypatch, 5000, filled_by)

    with pytest.raises(StorageError, match=r"No space left.*whole rows kept"):
        asyncio.run(record(sim, tmp_path / "out", 120.0, 200, during=fill_disk))
    folder = next((tmp_path / "out").iterdir())
    meta = json.loads((folder / "session.json").read_text())
    rows = _rows(folder / "samples.csv")
    force_rows = _rows(folder / "force.csv")
    assert (folder / "samples.csv").read_bytes().endswith(b"\n")
    assert (folder / "force.csv").read_bytes().endswith(b"\n")
    index = [int(r["index"]) for r in rows]
    assert index[0] == 0
    assert_gaps_counted(index, meta)
    assert meta["complete"] is True
    assert meta["samples_written"] == len(rows)
    assert meta["force_rows_written"] == len(force_rows)
    not_written = meta["samples_not_written"] + meta["force_rows_not_written"]
    assert not_written > 0
    assert "No space left" in meta["storage_error"]
    if filled_by is not None:
        assert meta["storage_error"].startswith(filled_by)
        assert meta[_NOT_WRITTEN[filled_by]] > 0
    assert meta["duration_s"] < 60  # ended at once, not at the deadline


def test_rows_held_behind_a_gap_reach_the_disk_within_a_second(tmp_path):
    """kill -9 while a refill is pending used to lose every row received after the gap."""
    from datetime import UTC, datetime

    from anklet.device import DeviceInfo
    from anklet.session import SessionLog
    from anklet_protocol import spec
    from anklet_protocol.decoder import SampleBlock
    from fuzzers import BLOCK, PERIOD_US, info_fields, samples_payload

    def block(i: int, flags: int = 0) -> SampleBlock:
        first = i * BLOCK
        t0 = (1_000_000 + first * PERIOD_US) % spec.TICKS_PERIOD_US
        return SampleBlock(first, t0, PERIOD_US, BLOCK, 0, flags, i, samples_payload(first))

    info = DeviceInfo.from_message(spec.Info.parse(spec.Info.build(info_fields())))
    folder = SessionFolder.create(tmp_path, "x")
    log = SessionLog(folder, info, datetime.now(UTC), 0.0)
    log.new_boot(0.0, 0.0)
    for i in range(40):  # 3 s of rows: the clock fit is warm
        log.add_block(block(i), 1.0)
    log.write_ready(1.0)
    for i in range(41, 60):  # block 40 lost on the link
        log.add_block(block(i), 2.0)
    log.write_ready(2.0)
    assert not (folder.path / "held.csv").exists()  # not yet a second old
    log.write_ready(2.6)
    held = [int(r["index"]) for r in _rows(folder.path / "held.csv")]
    assert held == list(range(41 * BLOCK, 60 * BLOCK))  # on disk, though not yet in order
    assert len(_rows(folder.path / "samples.csv")) == 40 * BLOCK
    log.add_block(block(40, spec.FrameFlag.RESENT), 3.0)  # the refill comes
    log.write_ready(3.0)
    folder.close()
    assert [int(r["index"]) for r in _rows(folder.path / "samples.csv")] == list(range(60 * BLOCK))
    assert not (folder.path / "held.csv").exists()
