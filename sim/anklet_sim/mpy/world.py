# The simulated board's hardware: builds the emulated parts from the sim config and wires them
# to the same bus, pin and address numbers as firmware/board.py. `machine` asks it for them.
#
#     import world
#     w = world.get()                 # built once, from the JSON file in $ANKLET_SIM_CONFIG
#     w.imu.trace = []; w.set_faults({"imu_absent": True})
#
# Sim config keys (all optional): unique_id (12 hex digits), reset_cause (int, overridden by
# $ANKLET_RESET_CAUSE), motion (spec string, see motion.py), motion_epoch_ns (wall-clock ns of
# the motion's t = 0, so a reboot does not restart the exercise; default: this boot),
# motion_from ("boot", default: t = 0 at motion_epoch_ns; "start": the athlete waits for the
# recording, t = 0 when the firmware first enables the IMU's FIFO, i.e. the first START, kept in
# motion_epoch_file across reboots; a busy machine that delays START then cuts no rep short),
# imu_ppm (sample-clock error, default +150; up to ±10000, the datasheets' ±1 %), imu_model
# ("mpu6050", default, or "mpu6500": the part many GY-521 boards carry), imu_temp_c,
# hx711_rate_hz (10/80: RATE pin strapping when the firmware does not drive GPIO 23; default
# 80), hx711_rate_tied (bool: the breakout ties RATE to that level, GPIO 23 drives nothing),
# loadcell {offset_counts,
# counts_per_n, noise_counts}, battery {v_full, v_empty, hours, start_pct, noise_mv},
# i2c_timing (bool, default true: transfers take their 400 kHz bus time),
# flash_ring_kb (the `ankring` flash partition, KiB in whole 4 KB sectors, default 512; 0: a
# board flashed without it), flash_erase_ms (per 4 KB sector, default 45) and flash_write_ms
# (per 256-byte page, default 0.4): how long a flash erase or program stalls the interpreter
# (flash_chip.py), seed, faults {..},
# faults_file (path polled at most every 100 ms, mtime-checked, for faults at run time),
# boot_ms (read by the launcher, not here: how long the ROM bootloader and MicroPython's start-up
# take before main.py runs, during which the port is open and nothing answers; default 0).
#
# Faults (in "faults" and in the faults file; the file holds the whole set each time):
#   level:    i2c_error_rate (0..1 per transaction), i2c_errno (default 116 ETIMEDOUT),
#             imu_absent (no ACK at 0x68 -> OSError ENODEV), hx711_never_ready,
#             battery_low (cell at 3.35 V), battery_v (cell voltage override)
#   one-shot: i2c_burst (the next N transactions fail), stall_ms (the next I2C transaction
#             blocks that long: the firmware is frozen and the FIFO overflows; each stall
#             adds a line to FAULTS_FILE.stalls as it begins),
#             button_press_ms (the BOOT button is held down that long).
#   A one-shot fires when the file brings a value different from the one it had before
#   (write 0, or another value, to fire again); the initial faults never fire one-shots, so a
#   reboot does not replay them.
import json
import os
import time

import motion as _motion

# The wiring, per chip, as firmware/board.py's PIN_MAPS has it (a CPython test checks they
# agree); the board is the chip in the sim config ("chip", default ESP32).
PIN_MAPS = {
    "ESP32": {"I2C_SCL": 22, "I2C_SDA": 21, "HX711_SCK": 18, "HX711_DOUT": 19, "HX711_RATE": 23,
              "BATTERY_ADC": 35, "LED": 2, "BUTTON": 0},
    "ESP32S3": {"I2C_SCL": 9, "I2C_SDA": 8, "HX711_SCK": 5, "HX711_DOUT": 6, "HX711_RATE": 7,
                "BATTERY_ADC": 1, "LED": 2, "BUTTON": 0},
    "ESP32C3": {"I2C_SCL": 5, "I2C_SDA": 4, "HX711_SCK": 6, "HX711_DOUT": 7, "HX711_RATE": 10,
                "BATTERY_ADC": 3, "LED": 1, "BUTTON": 9},
}  # fmt: skip
COMMON = {"I2C_FREQ": 400000, "IMU_ADDR": 0x68, "BATTERY_DIVIDER": 2}
WIRING = dict(PIN_MAPS["ESP32"], **COMMON)  # the default board's, for tools and tests

_POLL_MS = 100
_ONESHOT = ("i2c_burst", "stall_ms", "button_press_ms")


class Clock:
    """Microseconds since the board powered on; never wraps; can be frozen for tests."""

    def __init__(self):
        self._t0 = time.ticks_us()
        self._frozen = -1

    def now_us(self):
        if self._frozen >= 0:
            return self._frozen
        return time.ticks_diff(time.ticks_us(), self._t0)

    def freeze(self):
        self._frozen = self.now_us()

    def advance(self, us):
        """Frozen time moves on by `us` (a test's own step, whatever the PC's scheduler does)."""
        self._frozen += us

    def thaw(self):
        # Time stood still for the parts: shift the origin so it does not jump.
        if self._frozen >= 0:
            self._t0 = time.ticks_add(time.ticks_us(), -self._frozen)
            self._frozen = -1


class Battery:
    """A 1-cell Li-ion pack discharging linearly in charge over `hours` (voltage from a curve)."""

    # (state of charge %, open-circuit volts)
    _CURVE = ((0, 3.30), (5, 3.50), (10, 3.60), (20, 3.70), (40, 3.79), (60, 3.87),
              (80, 4.00), (100, 4.18))  # fmt: skip

    def __init__(self, clock, cfg, seed):
        self._clock = clock
        self.start_pct = float(cfg.get("start_pct", 100.0))
        self.hours = float(cfg.get("hours", 8.0))
        self.noise_v = float(cfg.get("noise_mv", 4.0)) / 1000.0
        self.override_v = None
        self._seed = seed
        self._n = 0

    def soc_pct(self):
        pct = self.start_pct - self._clock.now_us() / 36e8 / self.hours * 100.0
        return pct if pct > 0.0 else 0.0

    def volts(self):
        if self.override_v is not None:
            v = self.override_v
        else:
            v = _curve(self._CURVE, self.soc_pct())
        self._n += 1
        return v + self.noise_v * _motion.gauss(self._seed, self._n)


def _curve(table, x):
    if x <= table[0][0]:
        return table[0][1]
    for i in range(1, len(table)):
        x1, y1 = table[i]
        if x <= x1:
            x0, y0 = table[i - 1]
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return table[-1][1]


_BEFORE_START_NS = 10**15  # motion_from=start, before the first START: t far below 0 (still)


def _read_epoch(path):
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError, TypeError):
        return None


class World:
    def __init__(self, cfg):
        import flash_chip
        import hx711_chip
        import mpu6050_chip

        self.cfg = cfg
        self.chip = str(cfg.get("chip", "ESP32")).replace("-", "").upper()
        if self.chip not in PIN_MAPS:
            raise ValueError("chip %r: one of %s" % (cfg.get("chip"), ", ".join(PIN_MAPS)))
        wiring = dict(PIN_MAPS[self.chip], **COMMON)
        self.wiring = wiring
        self.clock = Clock()
        self.seed = int(cfg.get("seed", 1))
        self.unique_id = _parse_uid(cfg.get("unique_id", "24a160000001"))
        cause = os.getenv("ANKLET_RESET_CAUSE")
        self.reset_cause = int(cause) if cause else int(cfg.get("reset_cause", 1))
        self.i2c_timing = bool(cfg.get("i2c_timing", True))
        spec = cfg.get("motion", "leg-raise")
        self.motion = _motion.from_spec(spec)
        epoch = cfg.get("motion_epoch_ns")
        self._epoch_file = None
        if cfg.get("motion_from", "boot") == "start":
            self._epoch_file = cfg.get("motion_epoch_file")
            epoch = _read_epoch(self._epoch_file)
            if epoch is None:
                epoch = time.time_ns() + _BEFORE_START_NS  # still, until _start_motion
        self.motion_offset_s = (time.time_ns() - int(epoch)) / 1e9 if epoch is not None else 0.0
        self.imu = mpu6050_chip.MPU6050Chip(
            self.clock,
            self.motion,
            ppm=float(cfg.get("imu_ppm", 150.0)),
            temp_c=float(cfg.get("imu_temp_c", 25.0)),
            t_offset_s=self.motion_offset_s,
            model=cfg.get("imu_model", "mpu6050"),
        )
        self.hx711 = hx711_chip.HX711Chip(
            self.clock,
            self.motion,
            rate_hz=int(cfg.get("hx711_rate_hz", 80)),
            loadcell=cfg.get("loadcell", {}),
            seed=self.seed,
            t_offset_s=self.motion_offset_s,
            sck_pin=wiring["HX711_SCK"],
            dout_pin=wiring["HX711_DOUT"],
            rate_pin=wiring["HX711_RATE"],
            irq_source=self,
            rate_tied=bool(cfg.get("hx711_rate_tied", False)),
        )
        if self._epoch_file is not None and self.motion_offset_s < 0:
            self.imu.on_fifo_enabled = self._start_motion
        self.battery = Battery(self.clock, cfg.get("battery", {}), self.seed + 7)
        self.flash = flash_chip.FlashChip(
            ring_kb=cfg.get("flash_ring_kb", 512),
            erase_ms=float(cfg.get("flash_erase_ms", 45.0)),
            write_ms=float(cfg.get("flash_write_ms", 0.4)),
        )
        # I2C bus 0 and the addresses on it.
        self.i2c_pins = {0: (wiring["I2C_SCL"], wiring["I2C_SDA"])}
        self.i2c_devices = {0: {wiring["IMU_ADDR"]: self.imu}}
        # Pin-level parts: pin number -> object with pin_read(n, now_us) / pin_write(n, v, now).
        self.pin_parts = {
            wiring["HX711_SCK"]: self.hx711,
            wiring["HX711_DOUT"]: self.hx711,
            wiring["HX711_RATE"]: self.hx711,
            wiring["BUTTON"]: _Button(self),
            wiring["LED"]: _Led(self),
        }
        self.adc_pins = {wiring["BATTERY_ADC"]: wiring["BATTERY_DIVIDER"]}
        self.led = 0  # the status LED's level, and how often it changed
        self.led_changes = 0
        # Faults.
        self.irq_enabled = True
        self.wdt_expired = False
        self.faults = {}
        self.i2c_error_rate = 0.0
        self.i2c_errno = 116
        self.i2c_burst = 0
        self.stall_ms = 0
        self.imu_absent = False
        self._rng_n = 0
        self.button_until_us = -1
        self.pin_irqs = {}  # pin number -> machine.Pin with an irq handler
        self._faults_file = cfg.get("faults_file")
        self._faults_stamp = None
        self._next_poll_ms = time.ticks_ms()
        self.set_faults(cfg.get("faults", {}), fire=False)
        if self._faults_file:
            self._faults_stamp = _stamp(self._faults_file)
            self._read_faults_file(fire=False)

    def _start_motion(self):
        """The first START (motion_from=start): the exercise's t = 0 is now, on every part."""
        offset = -self.clock.now_us() / 1e6
        self.motion_offset_s = offset
        self.imu._t_offset = offset
        self.hx711._t_offset = offset
        if self._epoch_file:
            with open(self._epoch_file, "w") as f:
                f.write(str(time.time_ns()))

    # --- faults ------------------------------------------------------------------------------

    def set_faults(self, faults, fire=True):
        """Apply a whole fault set (missing keys clear level faults)."""
        old = self.faults
        self.faults = dict(faults)
        self.i2c_error_rate = float(faults.get("i2c_error_rate", 0.0))
        self.i2c_errno = int(faults.get("i2c_errno", 116))
        self.imu_absent = bool(faults.get("imu_absent", False))
        self.hx711.never_ready = bool(faults.get("hx711_never_ready", False))
        if "battery_v" in faults:
            self.battery.override_v = float(faults["battery_v"])
        elif faults.get("battery_low"):
            self.battery.override_v = 3.35
        else:
            self.battery.override_v = None
        if not fire:
            return
        for key in _ONESHOT:
            value = faults.get(key, 0)
            if value and value != old.get(key, 0):
                if key == "i2c_burst":
                    self.i2c_burst = int(value)
                elif key == "stall_ms":
                    self.stall_ms = int(value)
                else:
                    self.button_until_us = self.clock.now_us() + int(value) * 1000
                    self._button_edge(0)

    def poll(self):
        """Called from machine on I2C transactions, pin reads, idle() and WDT.feed()."""
        if self.wdt_expired:
            raise SystemExit(4)
        if self.button_until_us >= 0 and self.clock.now_us() >= self.button_until_us:
            self.button_until_us = -1
            self._button_edge(1)
        if self._faults_file is None:
            return
        now = time.ticks_ms()
        if time.ticks_diff(now, self._next_poll_ms) < 0:
            return
        self._next_poll_ms = time.ticks_add(now, _POLL_MS)
        stamp = _stamp(self._faults_file)
        if stamp != self._faults_stamp:
            self._faults_stamp = stamp
            self._read_faults_file(fire=True)

    def _read_faults_file(self, fire):
        try:
            with open(self._faults_file) as f:
                faults = json.load(f)
        except (OSError, ValueError):
            return  # absent, or caught half-written: the next poll sees it
        self.set_faults(faults, fire=fire)

    def i2c_fault(self):
        """errno for an injected failure of this transaction, or 0."""
        if self.stall_ms:
            ms = self.stall_ms
            self.stall_ms = 0
            if self._faults_file:
                # A line per stall begun, before it: a test waits for the freeze itself, not for
                # a silence a busy PC can fake (SimulatedBoard.stalls_begun).
                with open(self._faults_file + ".stalls", "a") as f:
                    f.write("%d\n" % ms)
            time.sleep_ms(ms)
        if self.i2c_burst:
            self.i2c_burst -= 1
            return self.i2c_errno
        if self.i2c_error_rate > 0.0:
            self._rng_n += 1
            if _motion.uniform(self.seed + 3, self._rng_n) < self.i2c_error_rate:
                return self.i2c_errno
        return 0

    # --- the button --------------------------------------------------------------------------

    def button_level(self):
        return 0 if self.button_until_us >= 0 else 1

    def _button_edge(self, level):
        pin = self.pin_irqs.get(self.wiring["BUTTON"])
        if pin is not None:
            pin._edge(level)


class _Button:
    def __init__(self, world):
        self._world = world

    def pin_read(self, n, now_us):
        return self._world.button_level()

    def pin_write(self, n, level, now_us):
        pass


class _Led:
    def __init__(self, world):
        self._world = world

    def pin_read(self, n, now_us):
        return self._world.led

    def pin_write(self, n, level, now_us):
        if level != self._world.led:
            self._world.led = level
            self._world.led_changes += 1


def _stamp(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st[8], st[6])  # mtime, size


def _parse_uid(text):
    text = str(text).replace(":", "").replace("-", "")
    return bytes(int(text[i : i + 2], 16) for i in range(0, 12, 2))


_world = None


def get():
    """The board's world, built on first use from $ANKLET_SIM_CONFIG (defaults without it)."""
    global _world
    if _world is None:
        path = os.getenv("ANKLET_SIM_CONFIG")
        cfg = {}
        if path:
            with open(path) as f:
                cfg = json.load(f)
        _world = World(cfg)
    return _world


def build(cfg):
    """Replace the world with one built from `cfg` (a dict): for tests."""
    global _world
    _world = World(cfg)
    return _world
