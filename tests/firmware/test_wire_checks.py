"""Firmware modules that keep a wire size in a const() refuse to import when the spec changed it."""

from __future__ import annotations

from anklet_protocol import spec, structfmt
from conftest import FIRMWARE
from construct import Int16sl, Struct

WITH_MAGNETOMETER = Struct(*spec.ImuSample.subcons, "mx" / Int16sl, "my" / Int16sl, "mz" / Int16sl)


def _wire_with_magnetometer() -> str:
    """firmware/anklet_wire.py as `make protocol` would write it with mx, my, mz added."""
    text = (FIRMWARE / "anklet_wire.py").read_text()
    old_fmt, new_fmt = structfmt.format_of(spec.ImuSample), structfmt.format_of(WITH_MAGNETOMETER)
    edits = {
        f'IMU_SAMPLE_FMT = "{old_fmt}"': f'IMU_SAMPLE_FMT = "{new_fmt}"',
        f"IMU_SAMPLE_SIZE = const({spec.IMU_SAMPLE_SIZE})": (
            f"IMU_SAMPLE_SIZE = const({WITH_MAGNETOMETER.sizeof()})"
        ),
    }
    for old, new in edits.items():
        assert old in text
        text = text.replace(old, new)
    return text


def test_sampler_imports_with_the_generated_wire_module(micropython, tmp_path):
    script = tmp_path / "imp.py"
    script.write_text("import sampler, loadcell\nprint('imported')\n")
    result = micropython(script)
    assert result.stdout.strip() == "imported", result.stderr


def test_sampler_refuses_an_imu_sample_its_driver_does_not_deliver(micropython, tmp_path):
    wire_dir = tmp_path / "wire"
    wire_dir.mkdir()
    (wire_dir / "anklet_wire.py").write_text(_wire_with_magnetometer())
    script = tmp_path / "imp.py"
    script.write_text("import sampler\nprint('imported')\n")
    result = micropython(script, path=[wire_dir, FIRMWARE])
    output = result.stdout + result.stderr  # the unix port prints tracebacks to stdout
    assert "imported" not in output
    assert result.returncode != 0
    assert "ImportError: anklet_wire's IMU sample is not the MPU-6050 FIFO record" in output
