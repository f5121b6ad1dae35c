"""CSV input: clear one-line errors naming the file, row and column."""

from __future__ import annotations

from pathlib import Path

import pytest
from anklet.analysis import AnalysisInputError, read_imu_csv

HEADER = "t_s,ax_ms2,ay_ms2,az_ms2,gx_dps,gy_dps,gz_dps"


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "samples.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _rows(n: int, rate_hz: float = 50.0) -> list[str]:
    return [f"{i / rate_hz:.4f},0,0,9.8,0.1,0,0" for i in range(n)]


def test_session_samples_with_index_and_late_force_are_read(tmp_path: Path) -> None:
    lines = ["index," + HEADER + ",force_n"]
    for i, row in enumerate(_rows(200)):
        lines.append(f"{i},{row},{'' if i < 20 else '12.5'}")
    rec = read_imu_csv(_write(tmp_path, lines))
    assert rec.rate_hz == pytest.approx(50.0)
    assert rec.force_n is not None
    assert rec.force_n[19] != rec.force_n[19]  # NaN before the first load sample
    assert rec.force_n[20] == 12.5


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, ["t_s,ax_ms2,ay_ms2,az_ms2,gx_dps,gy_dps", *["0,0,0,9.8,0,0"] * 5])
    with pytest.raises(AnalysisInputError, match=r"missing column\(s\) gz_dps"):
        read_imu_csv(path)


def test_non_numeric_cell_names_row_and_column(tmp_path: Path) -> None:
    rows = _rows(200)
    rows[9] = "0.18,0,0,9.8,abc,0,0"
    with pytest.raises(AnalysisInputError, match=r"row 11, column gx_dps: 'abc' is not a number"):
        read_imu_csv(_write(tmp_path, [HEADER, *rows]))


def test_time_going_backwards_is_reported(tmp_path: Path) -> None:
    rows = _rows(200)
    rows[50] = "0.5,0,0,9.8,0,0,0"
    with pytest.raises(AnalysisInputError, match="t_s is not increasing at row 52"):
        read_imu_csv(_write(tmp_path, [HEADER, *rows]))


def test_too_short_recording_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AnalysisInputError, match="need at least"):
        read_imu_csv(_write(tmp_path, [HEADER, *_rows(30)]))


def test_errors_are_one_line_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        read_imu_csv(_write(tmp_path, [""]))
    assert "\n" not in str(info.value)
