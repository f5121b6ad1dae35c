"""The session folder: samples.csv, force.csv and session.json, written so a crash loses nothing.

    with SessionFolder.create(out_dir, "Anklet-C0FE") as folder:
        folder.write_samples(index, t_s, imu_si, force_n)   # numpy arrays, one row per sample
        folder.write_force(index, t_s, force_n)
        folder.flush()                                      # at least every second
        folder.write_json(meta)                             # atomically (temp file + rename)

Rows are written whole: each flush appends complete lines with one write and fsyncs, so after
a crash or power cut every completed row is readable. A folder is never overwritten.
A full disk (or any write error) cuts the file back to its last whole row and raises
StorageError; rows after that are counted, not written. Space for the final session.json is
held in reserve from the start (`.reserve`) and given back when the disk fills.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from anklet_protocol.layout import ACCEL, GYRO, IMU_CSV_COLUMNS

SAMPLE_COLUMNS = (
    "index",
    "t_s",
    *IMU_CSV_COLUMNS,
    "force_n",
)
FORCE_COLUMNS = ("index", "t_s", "force_n")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RESERVE_BYTES = 256 * 1024  # room for session.json (≤ ~40 KB) and the files' last blocks


# Decimals of samples.csv's columns (the formats in write_samples): t_s, accel, gyro, force.
_T_DECIMALS, _ACCEL_DECIMALS, _GYRO_DECIMALS, _FORCE_DECIMALS = 6, 4, 3, 3


def as_written(
    t_s: np.ndarray, imu_si: np.ndarray, force_n: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The values samples.csv holds for these rows. numpy rounds k = rint(x * 10**d) and
    divides by 10**d: the nearest double to k / 10**d, which prints as k's digits and parses
    back to itself."""
    imu = np.empty_like(imu_si, dtype=np.float64)
    imu[:, ACCEL] = np.round(imu_si[:, ACCEL], _ACCEL_DECIMALS)
    imu[:, GYRO] = np.round(imu_si[:, GYRO], _GYRO_DECIMALS)
    return (
        np.round(np.asarray(t_s, dtype=np.float64), _T_DECIMALS),
        imu,
        np.round(np.asarray(force_n, dtype=np.float64), _FORCE_DECIMALS),
    )


class StorageError(OSError):
    """The session's files cannot grow (disk full, removed, read-only): the session must end."""


def folder_name(device_name: str, started: datetime) -> str:
    safe = _SAFE.sub("_", device_name).strip("_") or "anklet"
    return f"{safe}-{started.strftime('%Y%m%d-%H%M%S')}"


class _RowFile:
    """Appends whole rows; nothing reaches the file until flush(), which writes complete lines."""

    def __init__(self, path: Path, columns: tuple[str, ...], failures: list[str]) -> None:
        self.path = path
        self._failures = failures  # the folder's, in the order its files failed
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        self._pending = io.StringIO()
        self._pending.write(",".join(columns) + "\n")
        self._pending_rows = 0
        self._size = 0  # bytes on disk, all whole lines
        self.rows = 0  # rows on disk
        self.rows_not_written = 0  # rows dropped after a write error
        self.failed = ""  # why the file stopped growing

    def add(self, text: str, rows: int) -> None:
        if self.failed:
            self.rows_not_written += rows
            return
        self._pending.write(text)
        self._pending_rows += rows

    def flush(self) -> None:
        data = self._pending.getvalue().encode()
        rows = self._pending_rows
        self._pending = io.StringIO()
        self._pending_rows = 0
        if not data or self.failed:
            return
        view = memoryview(data)
        try:
            while view:
                view = view[self._write(view) :]
            os.fsync(self._fd)
        except OSError as exc:
            # Cut back to the last whole row: a half row is worse than none.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            self.rows_not_written += rows
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            self.failed = f"{self.path.name}: {why}"
            self._failures.append(self.failed)
            raise StorageError(exc.errno or errno.EIO, self.failed) from None
        self._size += len(data)
        self.rows += rows

    def _write(self, data: memoryview) -> int:
        return os.write(self._fd, data)

    def close(self) -> None:
        with contextlib.suppress(StorageError):
            self.flush()
        os.close(self._fd)


class SessionFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._reserve = path / ".reserve"
        with open(self._reserve, "wb") as f:
            f.write(bytes(_RESERVE_BYTES))  # written, not sparse: the blocks are really held
        self._failures: list[str] = []
        self.samples = _RowFile(path / "samples.csv", SAMPLE_COLUMNS, self._failures)
        self.force = _RowFile(path / "force.csv", FORCE_COLUMNS, self._failures)
        # Rows received but held behind a gap the board is refilling: on disk within a second
        # all the same; removed when the session closes (they are in samples.csv by then).
        self.held: _RowFile | None = None

    @property
    def failed(self) -> str:
        """Why the files stopped growing (the first file to fail: the others follow it), or ''."""
        return self._failures[0] if self._failures else ""

    @classmethod
    def create(
        cls, out_dir: Path, device_name: str, started: datetime | None = None
    ) -> SessionFolder:
        started = started or datetime.now(UTC)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        base = folder_name(device_name, started)
        for attempt in range(1, 1000):
            path = out_dir / (base if attempt == 1 else f"{base}-{attempt}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return cls(path)
        raise FileExistsError(f"cannot find a free folder name for {base} in {out_dir}")

    def __enter__(self) -> SessionFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write_samples(
        self, index: np.ndarray, t_s: np.ndarray, imu_si: np.ndarray, force_n: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """imu_si: (n, 6) float: ax ay az (m/s²), gx gy gz (deg/s); force_n NaN where unknown.

        Returns (t_s, imu_si, force_n) as written: rounded to the file's decimals, so they are
        the values a reader of samples.csv gets back, bit for bit.
        """
        t_s, imu_si, force_n = as_written(t_s, imu_si, force_n)
        lines = []
        for i, t, row, f in zip(
            index.tolist(), t_s.tolist(), imu_si.tolist(), force_n.tolist(), strict=True
        ):
            force = "" if f != f else f"{f:.3f}"
            lines.append(
                f"{i},{t:.6f},{row[0]:.4f},{row[1]:.4f},{row[2]:.4f},"
                f"{row[3]:.3f},{row[4]:.3f},{row[5]:.3f},{force}\n"
            )
        self.samples.add("".join(lines), len(lines))
        return t_s, imu_si, force_n

    def write_held(self, index: np.ndarray, t_s: np.ndarray, imu_si: np.ndarray) -> None:
        """Rows waiting behind a gap, to held.csv (same columns, no force)."""
        if self.held is None:
            self.held = _RowFile(self.path / "held.csv", SAMPLE_COLUMNS, self._failures)
        lines = [
            f"{i},{t:.6f},{r[0]:.4f},{r[1]:.4f},{r[2]:.4f},{r[3]:.3f},{r[4]:.3f},{r[5]:.3f},\n"
            for i, t, r in zip(index.tolist(), t_s.tolist(), imu_si.tolist(), strict=True)
        ]
        self.held.add("".join(lines), len(lines))

    def write_force(self, index: np.ndarray, t_s: np.ndarray, force_n: np.ndarray) -> None:
        lines = [
            f"{i},{t:.6f},{f:.3f}\n"
            for i, t, f in zip(index.tolist(), t_s.tolist(), force_n.tolist(), strict=True)
        ]
        self.force.add("".join(lines), len(lines))

    def flush(self) -> None:
        """Raises StorageError once, when the disk fills; the reserve is then given back so
        the last session.json fits."""
        try:
            self.samples.flush()
            self.force.flush()
            if self.held is not None:
                self.held.flush()
        except StorageError:
            self.release_reserve()
            raise

    def release_reserve(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._reserve.unlink()

    def write_json(self, meta: dict[str, Any], name: str = "session.json") -> None:
        tmp = self.path / f".{name}.tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(meta, f, indent=2, default=str)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path / name)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StorageError(exc.errno or errno.EIO, f"{name}: {exc}") from None

    def close(self) -> None:
        self.samples.close()
        self.force.close()
        if self.held is not None:
            self.held.close()
            self.held.path.unlink()  # every held row is in samples.csv now, or counted lost
        self.release_reserve()
