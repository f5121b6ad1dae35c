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
# The rates the analysis is validated at (README): 25 Hz (the UCI recordings) to 1000 Hz
# (the board's top rate), with 10 % for a file's own clock error.
MIN_RATE_HZ = 25.0 * 0.9
MAX_RATE_HZ = 1000.0 * 1.1
GRAVITY = 9.80665
ACCEL_UNITS = {"m/s2": 1.0, "g": GRAVITY}  # multiply by this to get m/s²
GYRO_UNITS = {"deg/s": 1.0, "rad/s": 180.0 / np.pi}  # multiply by this to get deg/s
# A limb that moves turns faster than this (a slow leg raise peaks near 60 deg/s); in rad/s the
# same motion peaks under 2: gyro peaks below it, with the accelerometer showing motion, mean
# the file is in rad/s.
_MOVING_GYRO_PEAK = 10.0
_MOVING_ACC_STD_MS2 = 1.0  # the accelerometer's spread on some axis when the limb moves

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
    skipped_rows: int = 0  # a cut-off last row (power cut, kill -9), left out and counted
    notes: tuple[str, ...] = ()  # what reading changed: skipped rows, converted units

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


def read_imu_csv(path: Path, accel_unit: str = "m/s2", gyro_unit: str = "deg/s") -> ImuRecording:
    """Read `path`; raise AnalysisInputError (one line: file, row, column) if it is unusable.

    `accel_unit` ("m/s2" or "g") and `gyro_unit` ("deg/s" or "rad/s") say what the file holds;
    a file whose values look like the other unit is refused with a message naming the option.
    """
    if accel_unit not in ACCEL_UNITS or gyro_unit not in GYRO_UNITS:
        raise AnalysisInputError(
            f"units {accel_unit!r}, {gyro_unit!r}: use accel {' or '.join(ACCEL_UNITS)}, "
            f"gyro {' or '.join(GYRO_UNITS)}"
        )
    names = _header(path)
    missing = [c for c in IMU_COLUMNS if c not in names]
    if missing:
        raise AnalysisInputError(f"{path}: missing column(s) {', '.join(missing)}")
    cols = [names.index(c) for c in IMU_COLUMNS]
    force_col = names.index(FORCE_COLUMN) if FORCE_COLUMN in names else None
    gyro_empty = _gyro_empty(path, cols[4:])  # an accelerometer-only recording: jumps need no gyro
    used = cols[:4] if gyro_empty else cols
    rows, partial = _data_rows(path, used)
    if rows == 0:
        raise AnalysisInputError(f"{path}: no data rows (only a header)")
    keep = rows - partial
    if gyro_empty:
        acc, force = _read_slow(path, used, force_col, keep, IMU_COLUMNS[:4])
        imu = np.zeros((len(acc), len(IMU_COLUMNS)))
        imu[:, :4] = acc
    else:
        imu, force = _read_fast(path, cols, force_col, keep)
    notes = []
    if partial:
        notes.append(f"skipped the last row (row {rows + 1}): cut off mid-row")
    imu[:, 1:4] *= ACCEL_UNITS[accel_unit]
    imu[:, 4:7] *= GYRO_UNITS[gyro_unit]
    if accel_unit != "m/s2":
        notes.append(f"acceleration converted from {accel_unit} to m/s²")
    if gyro_unit != "deg/s":
        notes.append(f"rotation rate converted from {gyro_unit} to deg/s")
    rec = ImuRecording(
        t_s=np.ascontiguousarray(imu[:, 0]),
        acc_ms2=np.ascontiguousarray(imu[:, 1:4]),
        gyro_dps=np.ascontiguousarray(imu[:, 4:7]),
        force_n=force if force is not None and np.any(np.isfinite(force)) else None,
        accel_range_g=_session_accel_range_g(path),
        has_gyro=not gyro_empty,
        skipped_rows=partial,
        notes=tuple(notes),
    )
    check_recording(rec, str(path), first_row=2)
    if MIN_RATE_HZ <= rec.rate_hz * 1000 <= MAX_RATE_HZ:
        raise AnalysisInputError(
            f"{path}: t_s looks like milliseconds, not seconds (steps of "
            f"{1000 / (rec.rate_hz * 1000):.1f}): divide it by 1000"
        )
    if not MIN_RATE_HZ <= rec.rate_hz <= MAX_RATE_HZ:
        raise AnalysisInputError(
            f"{path}: sampled at {rec.rate_hz:.1f} Hz; the analysis works from 25 to 1000 Hz"
        )
    if accel_unit == "m/s2":
        _check_accel_unit(rec, path)
    if gyro_unit == "deg/s" and rec.has_gyro:
        _check_gyro_unit(rec, path)
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


def _check_accel_unit(rec: ImuRecording, path: Path) -> None:
    """|a| of a limb on Earth sits near 9.81 m/s² most of the time; near 1 it is in g."""
    typical = float(np.median(np.linalg.norm(rec.acc_ms2, axis=1)))
    if 0.5 <= typical <= 2.0:
        raise AnalysisInputError(
            f"{path}: acceleration looks like g, not m/s² (typical |a| {typical:.2f}, "
            "9.81 expected): add --accel-unit g to convert"
        )


def _check_gyro_unit(rec: ImuRecording, path: Path) -> None:
    """Degrees per second of a moving limb pass 10; radians per second of it do not."""
    moving = float(np.max(np.std(rec.acc_ms2, axis=0))) > _MOVING_ACC_STD_MS2
    peak = float(np.percentile(np.abs(rec.gyro_dps), 99.9))
    if moving and 0 < peak < _MOVING_GYRO_PEAK:
        raise AnalysisInputError(
            f"{path}: rotation rate looks like rad/s, not deg/s (peaks {peak:.2f} while the "
            "accelerometer shows motion): add --gyro-unit rad/s to convert"
        )


def _data_rows(path: Path, cols: list[int]) -> tuple[int, int]:
    """(data rows, 1 if the last one was cut off mid-row else 0).

    A session's rows are written whole, so a last row without its newline, or missing cells,
    was cut off by a power cut or a kill: it is left out and counted, never fatal.
    """
    with path.open("rb") as fh:
        rows = sum(1 for line in fh if line.strip()) - 1
        if rows <= 0:
            return 0, 0
        fh.seek(max(0, fh.seek(0, 2) - 4096))
        tail = fh.read()
    last = tail.rstrip(b"\r\n").rsplit(b"\n", 1)[-1].decode(errors="replace")
    cells = next(csv.reader([last]), [])
    cut = not tail.endswith(b"\n") or any(c >= len(cells) or not cells[c].strip() for c in cols)
    return rows, int(cut and rows > 1)


def _read_fast(
    path: Path, cols: list[int], force_col: int | None, keep: int
) -> tuple[FloatArray, FloatArray | None]:
    """numpy's C parser; the slow reader finds the bad cell for the message when it fails."""
    try:
        imu = np.loadtxt(
            path, delimiter=",", skiprows=1, usecols=cols, ndmin=2, dtype=np.float64,
            max_rows=keep,
        )  # fmt: skip
        force = None
        if force_col is not None:
            text = np.loadtxt(
                path, delimiter=",", skiprows=1, usecols=[force_col], dtype=str, ndmin=1,
                max_rows=keep,
            )  # fmt: skip
            text = np.char.strip(text)
            empty = text == ""
            force = np.full(len(text), np.nan)
            force[~empty] = text[~empty].astype(np.float64)
        if not np.all(np.isfinite(imu)):
            raise ValueError("non-finite")
    except ValueError:
        imu, force = _read_slow(path, cols, force_col, keep)
    return imu, force


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
    path: Path,
    cols: list[int],
    force_col: int | None,
    keep: int,
    names: tuple[str, ...] = IMU_COLUMNS,
) -> tuple[FloatArray, FloatArray | None]:
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        rows = [r for r in reader if any(cell.strip() for cell in r)][:keep]
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
