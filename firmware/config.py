"""The board's settings, persisted as JSON on flash and written atomically.

    cfg = Config("/config.json")
    cfg.load()                 # defaults if missing or corrupt; cfg.fallback says why
    cfg.values["name"] = "Left ankle"
    cfg.save()                 # temp file + rename: a reset mid-write keeps the old file

A leftover temp file from an interrupted save is removed at load (or, if the old file was
already gone, which happens only after the temp file was complete, it takes its place).
"""

import json
import os

import anklet_wire as W

DEFAULTS = {
    "name": "",
    "imu_rate_hz": 200,
    "load_rate_hz": 80,
    "accel_fs_g": 8,
    "gyro_fs_dps": 1000,
    "load_offset": 0,
    # ADC counts per newton: a 20 kg bar load cell (1 mV/V) at gain 128 and 3.3 V excitation.
    "load_scale": 2280.0,
    "require_bond": True,
    "stream_on_boot": False,
}

# A config.json is ~250 bytes; anything much larger is not ours, and parsing it could take
# more heap than the board has free (MemoryError at boot, the board left at its REPL).
_MAX_FILE_BYTES = 2048
# load_offset is a tare in raw HX711 counts: 24-bit two's complement.
_OFFSET_LIMIT = 1 << 23
# load_scale in ADC counts per newton: from a 500 kg cell at gain 32 (~20) to a 1 kg cell at
# gain 128 (~1e6), with margin; the host refuses an INFO outside the same bounds (decoder.py).
_SCALE_MIN = 1e-3
_SCALE_MAX = 1e8

_CHOICES = {
    "imu_rate_hz": W.IMU_RATES_HZ,
    "load_rate_hz": W.LOAD_RATES_HZ,
    "accel_fs_g": W.ACCEL_RANGES_G,
    "gyro_fs_dps": W.GYRO_RANGES_DPS,
}


def valid_scale(value):
    """A load-cell scale (counts per newton) a real cell can have: finite, not tiny or huge."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        _SCALE_MIN <= abs(value) <= _SCALE_MAX


def valid_name(name):
    """A name for the advertisement and the session folder: UTF-8 of at most NAME_MAX bytes,
    no control characters (NUL, newline, ...)."""
    if not isinstance(name, str) or len(name.encode()) > W.NAME_MAX:
        return False
    for ch in name:
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            return False
    return True


def _valid(key, value):
    default = DEFAULTS[key]
    if key in _CHOICES:
        return value in _CHOICES[key]
    if key == "load_scale":
        return valid_scale(value)
    if key == "load_offset":
        return isinstance(value, int) and not isinstance(value, bool) and \
            -_OFFSET_LIMIT <= value < _OFFSET_LIMIT
    if key == "name":
        return valid_name(value)
    if isinstance(default, bool):
        return isinstance(value, bool)
    return False


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class Config:
    def __init__(self, path):
        self.path = path
        self.tmp_path = path + ".tmp"
        self.values = dict(DEFAULTS)
        self.fallback = ""  # why defaults are in use, or "" if the file was good

    def load(self):
        if _exists(self.tmp_path):
            if _exists(self.path):
                os.remove(self.tmp_path)  # an interrupted save; the old file is still whole
            else:
                os.rename(self.tmp_path, self.path)  # interrupted after the old file went
        self.values = dict(DEFAULTS)
        if not _exists(self.path):
            self.fallback = "no config file: using defaults"
            return
        try:
            size = os.stat(self.path)[6]
            if size > _MAX_FILE_BYTES:
                self.fallback = "config file of %d bytes (over %d): using defaults" % (
                    size, _MAX_FILE_BYTES)
                return
            with open(self.path) as f:
                data = json.load(f)
        except (OSError, ValueError, MemoryError) as exc:
            self.fallback = "config file unreadable (%r): using defaults" % exc
            return
        if not isinstance(data, dict):
            self.fallback = "config file is not an object: using defaults"
            return
        bad = []
        for key in DEFAULTS:
            if key in data:
                if _valid(key, data[key]):
                    self.values[key] = data[key]
                else:
                    bad.append(key)
        self.fallback = ("invalid %s: defaults used for them" % ",".join(bad)) if bad else ""

    def save(self):
        """Write atomically; raises OSError if the flash is full or read-only."""
        with open(self.tmp_path, "w") as f:
            json.dump(self.values, f)
        try:
            os.rename(self.tmp_path, self.path)
        except OSError:
            # FAT cannot rename over an existing file: remove it first (littlefs can).
            os.remove(self.path)
            os.rename(self.tmp_path, self.path)
        self.fallback = ""
