# Runs under MicroPython: firmware building blocks that need no hardware. Prints "ok NAME" or
# "FAIL NAME: why" per check; the CPython test asserts every line is ok.
import json
import os
import sys

import capacity
import config
import ring

results = []


def check(name, cond, why=""):
    results.append(("ok " if cond else "FAIL ") + name + ("" if cond else ": " + str(why)))


# capacity.samples mirrors spec.samples_capacity: expected values come from the host, in a
# file (this interpreter build cannot take a command-line argument of 256 characters or more).
with open(sys.argv[1]) as f:
    expected = json.load(f)
for key, want in expected.items():
    max_frame, imu_hz, load_hz = (int(x) for x in key.split(","))
    got = list(capacity.samples(max_frame, imu_hz, load_hz))
    got.append(capacity.serial_bytes_per_s(max_frame, imu_hz, load_hz))
    check("capacity %s" % key, got == want, "%r != %r" % (got, want))

# ring: block numbering, oldest, find
r = ring.SampleRing(bytearray(10 * 100), 100)
for b in range(25):
    r.commit(50, b * 10, 10, 0)
check("ring keeps the newest blocks", r.oldest() == 15 and r.oldest_index() == 150, r.oldest())
check("ring finds a held index", r.find(203) == 20, r.find(203))
check("ring reports a lost index", r.find(149) == -1, r.find(149))
check("ring points past the end for the future", r.find(250) == 25, r.find(250))

# config: atomic save, fallback on corrupt or invalid files, leftover temp files
tmpdir = sys.argv[2]
path = tmpdir + "/config.json"
c = config.Config(path)
c.load()
check("config missing -> defaults", c.fallback.startswith("no config"), c.fallback)
c.values["name"] = "Left"
c.values["imu_rate_hz"] = 1000
c.save()
c2 = config.Config(path)
c2.load()
check(
    "config round trip",
    c2.values["name"] == "Left" and c2.values["imu_rate_hz"] == 1000 and c2.fallback == "",
    c2.values,
)
with open(path, "w") as f:
    f.write('{"name": "Le')
c3 = config.Config(path)
c3.load()
check(
    "config corrupt -> defaults",
    c3.fallback.startswith("config file unreadable") and c3.values == config.DEFAULTS,
    c3.fallback,
)
with open(path, "w") as f:
    f.write('{"imu_rate_hz": 300, "name": "Right"}')
c4 = config.Config(path)
c4.load()
check(
    "config invalid value -> default for it",
    c4.values["imu_rate_hz"] == 200
    and c4.values["name"] == "Right"
    and "imu_rate_hz" in c4.fallback,
    c4.fallback,
)
# A reset mid-save leaves a partial temp file beside the good one.
c4.values["imu_rate_hz"] = 400
c4.save()
with open(path + ".tmp", "w") as f:
    f.write('{"imu_rate_h')
c5 = config.Config(path)
c5.load()
check(
    "config partial temp file ignored",
    c5.values["imu_rate_hz"] == 400 and path.split("/")[-1] + ".tmp" not in os.listdir(tmpdir),
    os.listdir(tmpdir),
)
# A reset after the old file was removed (FAT path) leaves only the complete temp file.
os.rename(path, path + ".tmp")
c6 = config.Config(path)
c6.load()
check("config complete temp file recovered", c6.values["imu_rate_hz"] == 400, c6.fallback)

# Values from flash are checked like values from a command: a 10 KB file is not parsed at all
# (it raised MemoryError at boot); absurd calibrations and control characters are refused.
with open(path, "w") as f:
    f.write('{"name": "Big", "pad": "' + "x" * 10240 + '"}')
c7 = config.Config(path)
c7.load()
check(
    "config of 10 KB -> defaults, not MemoryError",
    c7.values == config.DEFAULTS and "bytes" in c7.fallback,
    c7.fallback,
)
bad = '{"load_offset": 1e23, "load_scale": %s, "name": %s}'
for scale, name in (("1e308", '"a\\u0000b"'), ("1e-320", '"a\\nb"'), ("0", '"\\u007f"')):
    with open(path, "w") as f:
        f.write(bad % (scale, name))
    c8 = config.Config(path)
    c8.load()
    check(
        "config refuses scale %s, offset 1e23 and name %s" % (scale, name),
        c8.values == config.DEFAULTS
        and "load_scale" in c8.fallback
        and "load_offset" in c8.fallback
        and "name" in c8.fallback,
        (c8.values, c8.fallback),
    )
check(
    "a real calibration is a valid scale",
    config.valid_scale(2280.0) and config.valid_scale(-45.5) and config.valid_scale(900000),
)
check("a plain name is valid", config.valid_name("Left ankle") and config.valid_name("Bein é"))

for line in results:
    print(line)
