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


def test_generated_status_packer_allocates_nothing(micropython, tmp_path):
    # STATUS goes out every second for hours: its packer must not feed the garbage collector.
    script = tmp_path / "status_heap.py"
    script.write_text(
        "import micropython, anklet_wire as W, messages\n"
        "class C: pass\n"
        "c = C()\n"
        f"for i, name in enumerate({[str(sub.name) for sub in spec.Status.subcons]!r}):\n"
        "    setattr(c, name, i * 1000)\n"
        "buf = bytearray(W.STATUS_SIZE)\n"
        "n = 0  # a global created under heap_lock would grow the dict\n"
        "micropython.heap_lock()\n"
        "n = messages.pack_status(buf, 0, c)\n"
        "micropython.heap_unlock()\n"
        "print(n, buf[-4:] == bytes((0xF8, 0x2A, 0, 0)))\n"  # load_dropped = 11000, last field
    )
    result = micropython(script)
    assert result.stdout.split() == [str(spec.Status.sizeof()), "True"], result.stdout
