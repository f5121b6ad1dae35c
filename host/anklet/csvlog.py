"""The session folder: samples.csv, force.csv and session.json, written so a crash loses nothing.

    with SessionFolder.create(out_dir, "Anklet-C0FE") as folder:
        folder.write_samples(index, t_s, imu_si, force_n)   # numpy arrays, one row per sample
        folder.write_force(index, t_s, force_n)
        folder.flush()                                      # at least every second
        folder.write_json(meta)                             # atomically (temp file + rename)

Rows are written whole: each flush appends complete lines with one write and fsyncs, so after
a crash or power cut every completed row is readable. A folder is never overwritten.
"""

from __future__ import annotations

import io
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from anklet_protocol.layout import IMU_CSV_COLUMNS

SAMPLE_COLUMNS = (
    "index",
    "t_s",
    *IMU_CSV_COLUMNS,
    "force_n",
)
FORCE_COLUMNS = ("index", "t_s", "force_n")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def folder_name(device_name: str, started: datetime) -> str:
    safe = _SAFE.sub("_", device_name).strip("_") or "anklet"
    return f"{safe}-{started.strftime('%Y%m%d-%H%M%S')}"


class _RowFile:
    """Appends whole rows; nothing reaches the file until flush(), which writes complete lines."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        self._pending = io.StringIO()
        self._pending.write(",".join(columns) + "\n")
        self.rows = 0

    def add(self, text: str, rows: int) -> None:
        self._pending.write(text)
        self.rows += rows

    def flush(self) -> None:
        data = self._pending.getvalue().encode()
        if not data:
            return
        self._pending = io.StringIO()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        os.fsync(self._fd)

    def close(self) -> None:
        self.flush()
        os.close(self._fd)


class SessionFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.samples = _RowFile(path / "samples.csv", SAMPLE_COLUMNS)
        self.force = _RowFile(path / "force.csv", FORCE_COLUMNS)

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
    ) -> None:
        """imu_si: (n, 6) float: ax ay az (m/s²), gx gy gz (deg/s); force_n NaN where unknown."""
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

    def write_force(self, index: np.ndarray, t_s: np.ndarray, force_n: np.ndarray) -> None:
        lines = [
            f"{i},{t:.6f},{f:.3f}\n"
            for i, t, f in zip(index.tolist(), t_s.tolist(), force_n.tolist(), strict=True)
        ]
        self.force.add("".join(lines), len(lines))

    def flush(self) -> None:
        self.samples.flush()
        self.force.flush()

    def write_json(self, meta: dict[str, Any], name: str = "session.json") -> None:
        tmp = self.path / f".{name}.tmp"
        with open(tmp, "w") as f:
            json.dump(meta, f, indent=2, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path / name)

    def close(self) -> None:
        self.samples.close()
        self.force.close()
