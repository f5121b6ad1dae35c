"""The definitions themselves: generated files are fresh, frames fit the links they travel on."""

from __future__ import annotations

import struct

import pytest
from anklet_protocol import codegen, spec, structfmt


def test_generated_files_are_fresh():
    assert codegen.main(["--check"]) == 0


@pytest.mark.parametrize("imu_hz", spec.IMU_RATES_HZ)
@pytest.mark.parametrize("load_hz", spec.LOAD_RATES_HZ)
@pytest.mark.parametrize("max_frame", [spec.BLE_MTU - spec.ATT_OVERHEAD, spec.SERIAL_MAX_FRAME])
def test_samples_frame_never_exceeds_the_link_limit(imu_hz, load_hz, max_frame):
    n_imu, n_load = spec.samples_capacity(max_frame, load_hz / imu_hz)
    size = (
        spec.FRAME_OVERHEAD
        + spec.SAMPLES_HEADER_SIZE
        + n_imu * spec.IMU_SAMPLE_SIZE
        + n_load * spec.LOAD_SAMPLE_SIZE
    )
    assert size <= max_frame
    window_s = n_imu / imu_hz
    assert n_load >= window_s * load_hz + 1  # every load sample of the window fits


def test_a_frame_too_small_for_one_sample_is_refused():
    with pytest.raises(ValueError, match="cannot hold one IMU sample"):
        spec.samples_capacity(30, 0.1)


def test_struct_formats_agree_with_construct_sizes():
    for definition in (spec.Header, spec.SamplesHeader, spec.Info, spec.Status, spec.Event):
        assert struct.calcsize(structfmt.format_of(definition)) == definition.sizeof()


def test_every_status_code_has_a_documented_meaning():
    assert set(spec.STATUS_MEANINGS) == set(spec.StatusCode)


def test_every_opcode_has_argument_definition():
    assert set(spec.COMMAND_ARGS) == set(spec.Opcode)


def test_sensitivity_is_the_datasheet_value_with_a_plain_fallback():
    assert spec.gyro_lsb_per_dps(spec.ImuModel.MPU6050, 1000) == 32.8
    assert spec.accel_lsb_per_g(spec.ImuModel.MPU6050, 8) == 4096.0
    assert spec.gyro_lsb_per_dps(spec.ImuModel.LSM6DSO, 250) == pytest.approx(114.2857, rel=1e-6)
    # A model or a range the table does not know: full scale over the int16 range.
    assert spec.gyro_lsb_per_dps(99, 1000) == 32.768
    assert spec.accel_lsb_per_g(spec.ImuModel.MPU6050, 3) == 32768 / 3
