"""Read an IMU CSV (a session's `samples.csv` or a recording) into arrays, with one-line errors.

rec = read_imu_csv(Path("samples.csv"))
rec.t_s, rec.acc_ms2, rec.gyro_dps, rec.force_n   # force_n is None without a load cell
rec.rate_hz                                        # read from t_s, never assumed
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from anklet_protocol.layout import IMU_CSV_COLUMNS
from numpy.typing import NDArray

IMU_COLUMNS = ("t_s", *IMU_CSV_COLUMNS)
FORCE_COLUMN = "force_n"
MIN_DURATION_S = 2.0  # shorter than one slow rep: nothing to analyse
MIN_SAMPLES = 10

FloatArray = NDArray[np.float64]


class AnalysisInputError(ValueError):
    """The input cannot be analysed; the message is one line naming the file, row or column."""


@dataclass(frozen=True)
class ImuRecording:
    """Samples on the file's own clock; `acc_ms2` and `gyro_dps` are (n, 3)."""

    t_s: FloatArray
    acc_ms2: FloatArray
    gyro_dps: FloatArray
    force_n: FloatArray | None = None  # NaN where the load cell had no sample yet
    accel_range_g: float | None = None  # the accelerometer's full scale, when known
    has_gyro: bool = True  # False: the file's gyro columns are empty (gyro_dps is then zeros)

    @property
    def rate_hz(self) -> float:
        return float((len(self.t_s) - 1) / (self.t_s[-1] - self.t_s[0]))

    @property
    def duration_s(self) -> float:
        return float(self.t_s[-1] - self.t_s[0])


def check_recording(rec: ImuRecording, source: str = "input", first_row: int | None = None) -> None:
    """Raise AnalysisInputError unless the arrays can be analysed.

    `first_row` is the file row of sample 0 (CSV input), so messages can name rows.
    """

    def where(i: int) -> str:
        return f"sample {i}" if first_row is None else f"row {i + first_row}"

    n = len(rec.t_s)
    if rec.acc_ms2.shape != (n, 3) or rec.gyro_dps.shape != (n, 3):
        raise AnalysisInputError(f"{source}: acc_ms2 and gyro_dps must be ({n}, 3) arrays")
    if rec.force_n is not None and rec.force_n.shape != (n,):
        raise AnalysisInputError(f"{source}: force_n must have {n} samples")
    if n < MIN_SAMPLES:
        raise AnalysisInputError(f"{source}: only {n} samples; need at least {MIN_SAMPLES}")
    steps = np.diff(rec.t_s)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise AnalysisInputError(
            f"{source}: t_s is not increasing at {where(i)} "
            f"({rec.t_s[i - 1]:g} then {rec.t_s[i]:g})"
        )
    if rec.duration_s < MIN_DURATION_S:
        raise AnalysisInputError(
            f"{source}: recording lasts {rec.duration_s:.2f} s; need at least {MIN_DURATION_S:g} s"
        )
    for name, arr in (("acc_ms2", rec.acc_ms2), ("gyro_dps", rec.gyro_dps)):
        if not np.all(np.isfinite(arr)):
            i = int(np.flatnonzero(~np.all(np.isfinite(arr), axis=1))[0])
            raise AnalysisInputError(f"{source}: non-finite {name} value at {where(i)}")


def read_imu_csv(path: Path) -> ImuRecording:
    """Read `path`; raise AnalysisInputError (one line: file, row, column) if it is unusable."""
    names = _header(path)
    missing = [c for c in IMU_COLUMNS if c not in names]
    if missing:
        raise AnalysisInputError(f"{path}: missing column(s) {', '.join(missing)}")
    cols = [names.index(c) for c in IMU_COLUMNS]
    force_col = names.index(FORCE_COLUMN) if FORCE_COLUMN in names else None
    if _gyro_empty(path, cols[4:]):  # an accelerometer-only recording: jumps need no gyro
        rec = read_imu_csv_columns(path, cols[:4], force_col)
        check_recording(rec, str(path), first_row=2)
        return rec
    try:  # fast path: numpy's C parser; the slow path below finds the bad cell for the message
        imu = np.loadtxt(path, delimiter=",", skiprows=1, usecols=cols, ndmin=2, dtype=np.float64)
        force = None
        if force_col is not None:
            text = np.loadtxt(
                path, delimiter=",", skiprows=1, usecols=[force_col], dtype=str, ndmin=1
            )
            text = np.char.strip(text)
            empty = text == ""
            force = np.full(len(text), np.nan)
            force[~empty] = text[~empty].astype(np.float64)
        if not np.all(np.isfinite(imu)):
            raise ValueError("non-finite")
    except ValueError:
        imu, force = _read_slow(path, cols, force_col)
    rec = ImuRecording(
        t_s=np.ascontiguousarray(imu[:, 0]),
        acc_ms2=np.ascontiguousarray(imu[:, 1:4]),
        gyro_dps=np.ascontiguousarray(imu[:, 4:7]),
        force_n=force if force is not None and np.any(np.isfinite(force)) else None,
        accel_range_g=_session_accel_range_g(path),
    )
    check_recording(rec, str(path), first_row=2)
    return rec


def _gyro_empty(path: Path, gyro_cols: list[int]) -> bool:
    """True when every gyro cell of the first data row is empty (the sensor had no gyro)."""
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        row = next(reader, None)
    if row is None or any(c < len(row) and row[c].strip() for c in gyro_cols):
        return False
    with path.open(newline="") as fh:  # then every row must be without gyro
        for line, cells in enumerate(csv.reader(fh), start=1):
            for c in gyro_cols if line > 1 else []:
                if c < len(cells) and cells[c].strip():
                    raise AnalysisInputError(
                        f"{path}: row {line}, column {IMU_COLUMNS[4 + gyro_cols.index(c)]}: "
                        "a gyro value, but the first row has none"
                    )
    return True


def read_imu_csv_columns(path: Path, cols: list[int], force_col: int | None) -> ImuRecording:
    """An accelerometer-only file: t_s and acceleration (its gyro columns are empty)."""
    names = IMU_COLUMNS[:4]
    imu, force = _read_slow(path, cols, force_col, names)
    return ImuRecording(
        t_s=np.ascontiguousarray(imu[:, 0]),
        acc_ms2=np.ascontiguousarray(imu[:, 1:4]),
        gyro_dps=np.zeros((len(imu), 3)),
        force_n=force if force is not None and np.any(np.isfinite(force)) else None,
        accel_range_g=_session_accel_range_g(path),
        has_gyro=False,
    )


def _session_accel_range_g(samples_csv: Path) -> float | None:
    """The accelerometer range from a session folder's session.json, if beside the CSV."""
    try:
        meta = json.loads((samples_csv.parent / "session.json").read_text())
        value = float(meta["ranges"]["accel_g"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not a session folder (or an unreadable one): the range is unknown
    return value if value > 0 else None


def _header(path: Path) -> list[str]:
    try:
        with path.open(newline="") as fh:
            header = next(csv.reader(fh), None)
    except OSError as exc:
        raise AnalysisInputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise AnalysisInputError(f"{path}: not a text CSV file") from exc
    if header is None:
        raise AnalysisInputError(f"{path}: empty file")
    return [h.strip() for h in header]


def _read_slow(
    path: Path, cols: list[int], force_col: int | None, names: tuple[str, ...] = IMU_COLUMNS
) -> tuple[FloatArray, FloatArray | None]:
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        rows = [r for r in reader if any(cell.strip() for cell in r)]
    imu = np.empty((len(rows), len(names)))
    force = np.full(len(rows), np.nan) if force_col is not None else None
    for i, row in enumerate(rows):
        line = i + 2  # 1-based file line, after the header
        for j, c in enumerate(cols):
            imu[i, j] = _cell(row, c, path, line, names[j], allow_empty=False)
        if force is not None and force_col is not None:
            force[i] = _cell(row, force_col, path, line, FORCE_COLUMN, allow_empty=True)
    return imu, force


def _cell(
    row: list[str], col: int, path: Path, line: int, name: str, *, allow_empty: bool
) -> float:
    text = row[col].strip() if col < len(row) else ""
    if not text:
        if allow_empty:
            return float("nan")
        raise AnalysisInputError(f"{path}: row {line}, column {name}: empty cell")
    try:
        value = float(text)
    except ValueError:
        raise AnalysisInputError(
            f"{path}: row {line}, column {name}: {text!r} is not a number"
        ) from None
    if not np.isfinite(value) and not allow_empty:
        raise AnalysisInputError(f"{path}: row {line}, column {name}: {text!r} is not finite")
    return value
