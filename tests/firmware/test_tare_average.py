"""Tare and calibrate under the real MicroPython interpreter: one misread HX711 conversion (a
clock pulse held past 60 us) does not move the offset or the scale."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_tare_average_ignores_one_misread_conversion(micropython):
    result = micropython(HERE / "mpy_tare.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5, result.stdout
    assert [line for line in lines if not line.startswith("ok ")] == []
