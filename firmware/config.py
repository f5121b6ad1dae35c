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

_CHOICES = {
    "imu_rate_hz": W.IMU_RATES_HZ,
    "load_rate_hz": W.LOAD_RATES_HZ,
    "accel_fs_g": W.ACCEL_RANGES_G,
    "gyro_fs_dps": W.GYRO_RANGES_DPS,
}


def _valid(key, value):
    default = DEFAULTS[key]
    if key in _CHOICES:
        return value in _CHOICES[key]
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and value != 0
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str) and len(value.encode()) <= W.NAME_MAX
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
            with open(self.path) as f:
                data = json.load(f)
        except (OSError, ValueError) as exc:
            self.fallback = "config file unreadable (%s): using defaults" % exc
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
