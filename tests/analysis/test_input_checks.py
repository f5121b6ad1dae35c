"""Issue #14: a CSV in the wrong unit, at a rate the analysis does not cover, header-only, or
cut off mid-row is named in one line (or skipped and counted), never analysed into nonsense."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
from anklet.analysis import AnalysisInputError, analyze, read_imu_csv

FIXTURE = Path(__file__).parents[1] / "fixtures" / "uci_s1_e1_u2_fast_set.csv"  # real: 10 reps
ACC = ("ax_ms2", "ay_ms2", "az_ms2")
GYRO = ("gx_dps", "gy_dps", "gz_dps")


def _rescaled(tmp_path: Path, columns: tuple[str, ...], factor: float) -> Path:
    with FIXTURE.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    path = tmp_path / "converted.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{float(v) * factor:.6f}" if k in columns else v
                             for k, v in row.items()})  # fmt: skip
    return path


def _reps(rec) -> int:
    return analyze(rec).total_reps


def test_acceleration_in_g_is_named_and_converts_with_accel_unit_g(tmp_path: Path) -> None:
    in_g = _rescaled(tmp_path, ACC, 1 / 9.80665)
    with pytest.raises(AnalysisInputError, match=r"looks like g, not m/s².*--accel-unit g"):
        read_imu_csv(in_g)
    converted = read_imu_csv(in_g, accel_unit="g")
    assert _reps(converted) == _reps(read_imu_csv(FIXTURE)) == 10
    assert converted.notes == ("acceleration converted from g to m/s²",)


def test_gyro_in_rad_per_s_is_named_and_converts_with_gyro_unit(tmp_path: Path) -> None:
    in_rad = _rescaled(tmp_path, GYRO, np.pi / 180)
    with pytest.raises(AnalysisInputError, match=r"looks like rad/s, not deg/s.*--gyro-unit rad/s"):
        read_imu_csv(in_rad)
    assert _reps(read_imu_csv(in_rad, gyro_unit="rad/s")) == 10


def test_a_still_recording_in_deg_per_s_is_not_taken_for_rad_per_s(tmp_path: Path) -> None:
    path = tmp_path / "still.csv"
    rows = [f"{i / 50:.3f},0.1,0.2,9.8,0.3,-0.2,0.1" for i in range(500)]
    path.write_text("t_s,ax_ms2,ay_ms2,az_ms2,gx_dps,gy_dps,gz_dps\n" + "\n".join(rows) + "\n")
    assert read_imu_csv(path).notes == ()


def test_a_10_hz_recording_is_refused_naming_the_rates(tmp_path: Path) -> None:
    path = tmp_path / "slow.csv"
    rows = [f"{i / 10:.3f},0,0,9.8,0.1,0,0" for i in range(100)]
    path.write_text("t_s,ax_ms2,ay_ms2,az_ms2,gx_dps,gy_dps,gz_dps\n" + "\n".join(rows) + "\n")
    with pytest.raises(AnalysisInputError, match=r"sampled at 10.0 Hz; .* 25 to 1000 Hz"):
        read_imu_csv(path)


def test_a_header_only_csv_is_one_line_and_leaks_no_numpy_warning(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("t_s,ax_ms2,ay_ms2,az_ms2,gx_dps,gy_dps,gz_dps\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AnalysisInputError, match=r"no data rows \(only a header\)"):
            read_imu_csv(path)


@pytest.mark.parametrize("cut", [5, 20, 40])  # inside t_s, inside the gyro cells, the last cell
def test_a_row_cut_off_at_the_end_is_skipped_and_counted(tmp_path: Path, cut: int) -> None:
    text = FIXTURE.read_text()
    lines = text.splitlines()
    path = tmp_path / "cut.csv"
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:cut])
    rec = read_imu_csv(path)
    full = read_imu_csv(FIXTURE)
    assert rec.skipped_rows == 1
    assert len(rec.t_s) == len(full.t_s) - 1
    assert np.array_equal(rec.acc_ms2, full.acc_ms2[:-1])
    assert rec.notes == (f"skipped the last row (row {len(lines)}): cut off mid-row",)


def test_a_bad_row_before_the_last_is_still_an_error(tmp_path: Path) -> None:
    lines = FIXTURE.read_text().splitlines()
    lines[5] = lines[5][:10]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AnalysisInputError, match=r"row 6, column"):
        read_imu_csv(path)


def test_time_in_milliseconds_is_named(tmp_path: Path) -> None:
    path = tmp_path / "ms.csv"
    rows = [f"{i * 20},0,0,9.8,0.1,0,0" for i in range(300)]  # 50 Hz, t_s in ms
    path.write_text("t_s,ax_ms2,ay_ms2,az_ms2,gx_dps,gy_dps,gz_dps\n" + "\n".join(rows) + "\n")
    with pytest.raises(AnalysisInputError, match=r"t_s looks like milliseconds, not seconds"):
        read_imu_csv(path)
