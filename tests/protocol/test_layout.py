"""The sample layout comes from the spec: dtypes, channel groups, CSV columns, firmware sizes."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from anklet.analysis.loading import IMU_COLUMNS
from anklet.csvlog import SAMPLE_COLUMNS
from anklet_protocol import StreamDecoder, layout, parse_message, spec, structfmt
from anklet_protocol.framing import encode_frame
from anklet_protocol.vectors import CASES
from construct import Int16sl, Int32sl, Struct

MAGNETOMETER = spec.ChannelGroup("mag", ("mx", "my", "mz"), "ut", "/ mag_lsb_per_ut")
WITH_MAGNETOMETER = Struct(*spec.ImuSample.subcons, "mx" / Int16sl, "my" / Int16sl, "mz" / Int16sl)


def test_sample_dtypes_have_the_spec_fields_and_wire_sizes():
    assert layout.IMU_DTYPE.names == tuple(sub.name for sub in spec.ImuSample.subcons)
    assert layout.IMU_DTYPE.itemsize == spec.IMU_SAMPLE_SIZE
    assert layout.LOAD_DTYPE.names == tuple(sub.name for sub in spec.LoadSample.subcons)
    assert layout.LOAD_DTYPE.itemsize == spec.LOAD_SAMPLE_SIZE


def test_decoded_block_columns_are_the_named_groups():
    fields = CASES[4][4]  # samples_ble_full: 12 IMU samples with distinct values
    payload = spec.Samples.build(fields)
    (frame,) = [StreamDecoder().feed_frame(encode_frame(spec.MsgType.SAMPLES, payload, seq=0))]
    assert frame is not None
    block = parse_message(frame)
    accel = [[s[k] for k in ("ax", "ay", "az")] for s in fields["imu"]]
    gyro = [[s[k] for k in ("gx", "gy", "gz")] for s in fields["imu"]]
    assert block.imu[:, layout.ACCEL].tolist() == accel
    assert block.imu[:, layout.GYRO].tolist() == gyro
    structured = np.frombuffer(block.imu_bytes, dtype=layout.IMU_DTYPE)
    assert structured["gz"].tolist() == [s["gz"] for s in fields["imu"]]


def test_csv_columns_of_the_session_and_the_analysis_come_from_the_groups():
    assert layout.IMU_CSV_COLUMNS == ("ax_ms2", "ay_ms2", "az_ms2", "gx_dps", "gy_dps", "gz_dps")
    assert ("index", "t_s", *layout.IMU_CSV_COLUMNS, "force_n") == SAMPLE_COLUMNS
    assert ("t_s", *layout.IMU_CSV_COLUMNS) == IMU_COLUMNS


def test_a_channel_group_added_to_the_spec_flows_into_the_layout():
    derived = layout.derive(WITH_MAGNETOMETER, (*spec.IMU_GROUPS, MAGNETOMETER))
    assert derived.groups["mag"] == slice(6, 9)
    assert derived.groups["accel"] == layout.ACCEL
    assert derived.csv_columns[-3:] == ("mx_ut", "my_ut", "mz_ut")
    assert derived.dtype.itemsize == 18 == WITH_MAGNETOMETER.sizeof()


def test_groups_that_miss_or_reorder_a_field_are_refused():
    with pytest.raises(TypeError, match=r"\('mx', 'my', 'mz'\) are in no channel group"):
        layout.derive(WITH_MAGNETOMETER, spec.IMU_GROUPS)
    with pytest.raises(TypeError, match="channel group gyro"):
        layout.derive(spec.ImuSample, tuple(reversed(spec.IMU_GROUPS)))
    mixed = Struct(*spec.ImuSample.subcons, "temp" / Int32sl)
    group = spec.ChannelGroup("temp", ("temp",), "c", "")
    with pytest.raises(TypeError, match="differ in type"):
        layout.derive(mixed, (*spec.IMU_GROUPS, group))


def test_firmware_constants_are_the_spec_layout():
    from anklet_protocol import codegen

    wire: dict = {}
    exec(codegen.firmware_module().replace("from micropython import const", "const = int"), wire)
    assert wire["IMU_FIELDS"] == layout.IMU_FIELDS
    assert wire["IMU_WIDTH"] == layout.IMU_WIDTH
    assert wire["IMU_SAMPLE_FMT"] == structfmt.format_of(spec.ImuSample)
    assert struct.calcsize(wire["IMU_SAMPLE_FMT"]) == wire["IMU_SAMPLE_SIZE"]
    assert wire["LOAD_FIELDS"] == layout.LOAD_DTYPE.names
