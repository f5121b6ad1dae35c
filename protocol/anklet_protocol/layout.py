"""The sample layout as numpy sees it, derived from `spec.ImuSample`, `spec.LoadSample` and
`spec.IMU_GROUPS`: nothing here repeats "six int16 per sample".

    from anklet_protocol import layout
    imu = layout.imu_array(block_bytes)      # (n, IMU_WIDTH) in LSB, columns IMU_FIELDS
    acc = imu[:, layout.ACCEL]               # (n, 3) accelerometer columns
    layout.IMU_CSV_COLUMNS                   # ('ax_ms2', ..., 'gz_dps')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import construct as c
import numpy as np

from . import spec

# numpy's name for each little-endian `construct` number format.
_NUMPY = {
    "<b": "i1",
    "<B": "u1",
    "<h": "<i2",
    "<H": "<u2",
    "<l": "<i4",
    "<L": "<u4",
    "<i": "<i4",
    "<I": "<u4",
    "<q": "<i8",
    "<Q": "<u8",
    "<f": "<f4",
    "<d": "<f8",
}


def dtype_of(struct: c.Struct) -> np.dtype:
    """The structured numpy dtype of a fixed-size struct of numbers, field for field."""
    items = []
    for sub in struct.subcons:
        inner = sub
        while isinstance(inner, c.Renamed | spec.Trailing):
            inner = inner.subcon
        if not isinstance(inner, c.FormatField) or inner.fmtstr not in _NUMPY:
            raise TypeError(f"field {sub.name} is not a number numpy can view")
        items.append((str(sub.name), _NUMPY[inner.fmtstr]))
    return np.dtype(items)


class ImuLayout(NamedTuple):
    dtype: np.dtype  # one sample, structured, fields named as in the spec
    fields: tuple[str, ...]  # in wire order
    scalar: np.dtype  # the one type every field has: samples are also an (n, width) array
    groups: dict[str, slice]  # columns of that array, by group name
    csv_columns: tuple[str, ...]  # the host's CSV column of each field, in wire order


def derive(sample: c.Struct, groups: Iterable[spec.ChannelGroup]) -> ImuLayout:
    """The layout of an IMU sample struct whose fields `groups` name, in order, each once."""
    dtype = dtype_of(sample)
    fields = tuple(dtype.names or ())
    kinds = {dtype[i] for i in range(len(fields))}
    if len(kinds) != 1:
        raise TypeError(f"IMU sample fields differ in type ({kinds}): no plain (n, k) view")
    slices: dict[str, slice] = {}
    columns: list[str] = []
    at = 0
    for group in groups:  # in wire order, together covering the sample
        end = at + len(group.fields)
        if fields[at:end] != group.fields:
            raise TypeError(
                f"channel group {group.name} {group.fields} is not ImuSample's fields "
                f"{fields[at:end]} at {at}: groups list every field once, in wire order"
            )
        slices[group.name] = slice(at, end)
        columns += [f"{name}_{group.unit}" for name in group.fields]
        at = end
    if at != len(fields):
        raise TypeError(f"ImuSample fields {fields[at:]} are in no channel group")
    return ImuLayout(dtype, fields, kinds.pop(), slices, tuple(columns))


_IMU = derive(spec.ImuSample, spec.IMU_GROUPS)
#: One IMU sample and one load sample as structured dtypes (field names from the spec).
IMU_DTYPE = _IMU.dtype
LOAD_DTYPE = dtype_of(spec.LoadSample)
IMU_FIELDS = _IMU.fields
#: Every IMU field has this type, so a block of samples is also an (n, IMU_WIDTH) array.
IMU_SCALAR = _IMU.scalar
IMU_WIDTH = len(IMU_FIELDS)
#: Column slices of an (n, IMU_WIDTH) array, by group name.
GROUPS = _IMU.groups
ACCEL = GROUPS["accel"]
GYRO = GROUPS["gyro"]
#: The host's CSV columns for the IMU fields, in wire order: ax → ax_ms2, gx → gx_dps.
IMU_CSV_COLUMNS = _IMU.csv_columns


def imu_array(data: bytes | memoryview) -> np.ndarray:
    """Packed IMU samples as an (n, IMU_WIDTH) array in LSB, without a copy."""
    return np.frombuffer(data, dtype=IMU_SCALAR).reshape(-1, IMU_WIDTH)
