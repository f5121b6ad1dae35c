# The simulated board's `machine` module: the part of MicroPython's ESP32 `machine` API the
# firmware uses, backed by emulated parts (world.py) instead of silicon. First on MICROPYPATH,
# it replaces the unix port's built-in `machine`.
#
#     i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=400_000)
#     i2c.readfrom_mem(0x68, 0x75, 1)          # b'h': the emulated MPU-6050
#     wdt = machine.WDT(timeout=5000); wdt.feed()
#
# How the board ends (exit codes of the interpreter; the launcher boots it again):
#   3  machine.reset()                    -> next boot's reset_cause() is HARD_RESET
#   4  the watchdog was not fed in time   -> WDT_RESET
#   5  machine.soft_reset()               -> SOFT_RESET
# 3-5 are SystemExit(code), raised where the firmware is: machine.reset() raises it; a
# watchdog expiry (noticed by a thread within 10 ms) raises it from the next machine call,
# which a running firmware makes within milliseconds (I2C, pins, idle(), WDT.feed()). A
# firmware hung without calling machine is killed 1 s later with SIGUSR2: exit status -12
# (Popen) / 140 (shell), also a watchdog reset.
# The cause of this boot: $ANKLET_RESET_CAUSE (int), else "reset_cause" in the sim config.
#
# As on the ESP32: I2C to an absent address raises OSError(ENODEV) (19); injected bus faults
# raise OSError(ETIMEDOUT) (116) unless the fault says otherwise. Pin IRQs are soft: the
# handler runs through micropython.schedule. Bus transfers take their 400 kHz time (sim
# config "i2c_timing": false makes them instant). Not emulated: UART, SPI, PWM, Timer,
# RTC, deep sleep, touch pads.
import errno
import os
import sys
import time

import cpu as _cpu
import micropython
import world as _world_mod

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

EXIT_RESET = 3
EXIT_WATCHDOG = 4
EXIT_SOFT_RESET = 5

# ESP32_GENERIC boots at 160 MHz, ESP-IDF's default CPU clock, which the port keeps (the pystone
# drop it brought: micropython#6565); machine.freq(240_000_000) raises it.
_freq = 160000000
_W = None


_NO = object()  # "not given", for _hw's wrapper


def _hw(fn):
    """A call into the emulated hardware: free CPU, as silicon is; the firmware code before it
    is paid for at the ESP32's pace (cpu.py), and what the emulation allocates is kept off the
    firmware's heap (the heap model). Positional arguments only, up to four with `self`: a
    `*args` tuple or `**kwargs` dict would be allocated on the firmware's heap in its
    allocation-free hot path, where the real call (C, in the ESP32 port) allocates nothing.
    With neither model on, the method is left as it is."""
    if not _cpu.TRACK:
        return fn

    def call(a=_NO, b=_NO, c=_NO, d=_NO):
        _cpu.enter()
        try:
            if a is _NO:
                return fn()
            if b is _NO:
                return fn(a)
            if c is _NO:
                return fn(a, b)
            if d is _NO:
                return fn(a, b, c)
            return fn(a, b, c, d)
        finally:
            _cpu.leave()

    return call


def _world():
    global _W
    if _W is None:
        _W = _world_mod.get()
    return _W


# --- CPU and reset -------------------------------------------------------------------------


def reset():
    raise SystemExit(EXIT_RESET)


def soft_reset():
    raise SystemExit(EXIT_SOFT_RESET)


def reset_cause():
    return _world().reset_cause


def unique_id():
    return _world().unique_id


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    if hz not in (20000000, 40000000, 80000000, 160000000, 240000000):
        raise ValueError("frequency must be 20MHz, 40MHz, 80Mhz, 160MHz or 240MHz")
    _freq = hz


def disable_irq():
    w = _world()
    state = w.irq_enabled
    w.irq_enabled = False
    return state


def enable_irq(state=True):
    _world().irq_enabled = bool(state)


@_hw
def idle():
    _world().poll()
    time.sleep_ms(1)


def lightsleep(ms=None):
    time.sleep_ms(ms or 0)


def time_pulse_us(pin, pulse_level, timeout_us=1000000):
    start = time.ticks_us()
    while pin.value() != pulse_level:
        if time.ticks_diff(time.ticks_us(), start) > timeout_us:
            return -2
    begin = time.ticks_us()
    while pin.value() == pulse_level:
        if time.ticks_diff(time.ticks_us(), begin) > timeout_us:
            return -1
    return time.ticks_diff(time.ticks_us(), begin)


# --- Pin -------------------------------------------------------------------------------------

# GPIOs per chip (datasheets' pin lists): (usable, input-only, ADC-capable)
_GPIOS = {
    # ESP32: 0-39 less 20, 24, 28-31 (absent) and 6-11 (SPI flash); 34-39 input only
    "ESP32": (tuple(n for n in range(40) if n not in (6, 7, 8, 9, 10, 11, 20, 24, 28, 29, 30, 31)),
              (34, 35, 36, 37, 38, 39),
              (32, 33, 34, 35, 36, 37, 38, 39, 0, 2, 4, 12, 13, 14, 15, 25, 26, 27)),
    # ESP32-S3: 0-21 and 26-48, less 26-32 (SPI flash/PSRAM); ADC on 1-20
    "ESP32S3": (tuple(n for n in range(49) if n <= 21 or n >= 33), (), tuple(range(1, 21))),
    # ESP32-C3: 0-21, less 12-17 (SPI flash); ADC on 0-4
    "ESP32C3": (tuple(n for n in range(22) if not 12 <= n <= 17), (), (0, 1, 2, 3, 4)),
}  # fmt: skip


def _gpios():
    return _GPIOS[_world().chip]


def _pin_id(pin):
    return pin._id if isinstance(pin, Pin) else int(pin)


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_DOWN = 1
    PULL_UP = 2
    PULL_HOLD = 4
    IRQ_RISING = 1
    IRQ_FALLING = 2
    WAKE_LOW = 4
    WAKE_HIGH = 5
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    DRIVE_3 = 3

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        if not isinstance(id, int) or id not in _gpios()[0]:
            raise ValueError("invalid pin")
        self._id = id
        self._w = _world()
        self._part = self._w.pin_parts.get(id)
        self._mode = self.IN
        self._pull = None
        self._out = 0
        self._handler = None
        self._trigger = 0
        self.init(mode, pull, value=value)

    def init(self, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        if mode != -1:
            if mode in (self.OUT, self.OPEN_DRAIN) and self._id in _gpios()[1]:
                raise ValueError("pin can only be input")
            self._mode = mode
        if pull != -1:
            self._pull = pull
        if value is not None:
            self.value(value)
        elif mode in (self.OUT, self.OPEN_DRAIN):
            self.value(self._out)

    @_hw
    def value(self, x=None):
        w = self._w
        if x is None:
            if w.irq_enabled:
                w.poll()
            if self._mode == self.OUT:
                return self._out
            part = self._part
            if part is not None:
                return part.pin_read(self._id, w.clock.now_us())
            return 1 if self._pull == self.PULL_UP else 0
        level = 1 if x else 0
        self._out = level
        if self._mode == self.OUT or self._mode == self.OPEN_DRAIN:
            part = self._part
            if part is not None:
                part.pin_write(self._id, level, w.clock.now_us())
        return None

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def mode(self, mode=None):
        if mode is None:
            return self._mode
        self.init(mode)

    def pull(self, pull=None):
        if pull is None:
            return self._pull
        self._pull = pull

    def irq(self, handler=None, trigger=3, *, wake=None, hard=False):
        self._handler = handler
        self._trigger = trigger
        if handler is None:
            self._w.pin_irqs.pop(self._id, None)
        else:
            self._w.pin_irqs[self._id] = self
        return self

    def _edge(self, level):
        want = self.IRQ_RISING if level else self.IRQ_FALLING
        if self._handler is not None and self._trigger & want:
            micropython.schedule(self._handler, self)

    def __repr__(self):
        return "Pin(%d)" % self._id


# --- I2C -------------------------------------------------------------------------------------

_I2C_DEFAULT_PINS = {0: (18, 19), 1: (25, 26)}  # ESP32 port defaults (scl, sda)


class I2C:
    def __init__(self, id=0, *, scl=None, sda=None, freq=400000, timeout=50000):
        if id not in (0, 1):
            raise ValueError("I2C(%s) doesn't exist" % (id,))
        self._id = id
        self._w = _world()
        self.init(scl=scl, sda=sda, freq=freq, timeout=timeout)

    def init(self, *, scl=None, sda=None, freq=400000, timeout=50000):
        dscl, dsda = _I2C_DEFAULT_PINS[self._id]
        pins = (
            _pin_id(scl) if scl is not None else dscl,
            _pin_id(sda) if sda is not None else dsda,
        )
        wired = self._w.i2c_pins.get(self._id)
        # Parts answer only on the pins they are soldered to.
        self._devices = self._w.i2c_devices.get(self._id, {}) if pins == wired else {}
        self._freq = freq
        self._byte_ns = 9 * 1000000000 // freq  # 8 bits + ACK
        self._timed = self._w.i2c_timing

    def __repr__(self):
        return "I2C(%d, freq=%d)" % (self._id, self._freq)

    def _device(self, addr, nbytes):
        w = self._w
        w.poll()
        err = w.i2c_fault()
        if err:
            raise OSError(err)
        dev = self._devices.get(addr)
        if dev is None or (w.imu_absent and dev is w.imu):
            raise OSError(errno.ENODEV)
        if self._timed:
            # start + address + register + repeated start + address + data + stop
            time.sleep_us((nbytes + 4) * self._byte_ns // 1000)
        return dev

    def scan(self):
        w = self._w
        found = []
        for addr in sorted(self._devices):
            if not (w.imu_absent and self._devices[addr] is w.imu):
                found.append(addr)
        return found

    @_hw
    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        self._device(addr, len(buf)).read_into(memaddr, buf)

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf)
        return bytes(buf)

    @_hw
    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        self._device(addr, len(buf)).write(memaddr, buf)

    @_hw
    def readfrom_into(self, addr, buf, stop=True):
        dev = self._device(addr, len(buf))
        dev.read_into(dev.pointer, buf)

    def readfrom(self, addr, nbytes, stop=True):
        buf = bytearray(nbytes)
        self.readfrom_into(addr, buf, stop)
        return bytes(buf)

    @_hw
    def writeto(self, addr, buf, stop=True):
        dev = self._device(addr, len(buf))
        if len(buf):
            dev.pointer = buf[0]
            dev.write(buf[0], buf, 1)
        return len(buf)

    def writevto(self, addr, vector, stop=True):
        data = bytearray()
        for part in vector:
            data.extend(part)
        return self.writeto(addr, data, stop)


SoftI2C = I2C


# --- ADC -------------------------------------------------------------------------------------

_ADC_FULL_SCALE_V = (1.00, 1.34, 2.00, 3.55)  # ESP32 port docs, per attenuation


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_9BIT = 9
    WIDTH_10BIT = 10
    WIDTH_11BIT = 11
    WIDTH_12BIT = 12

    def __init__(self, pin, *, atten=None):
        pid = _pin_id(pin)
        if pid not in _gpios()[2]:
            raise ValueError("invalid pin")
        self._w = _world()
        self._divider = self._w.adc_pins.get(pid)
        self._atten = self.ATTN_0DB if atten is None else atten
        self._bits = 12

    def atten(self, atten):
        self._atten = atten

    def width(self, bits):
        self._bits = bits

    @_hw
    def _volts(self):
        self._w.poll()
        if self._divider is None:
            return 0.0
        v = self._w.battery.volts() / self._divider
        if v > 3.3:
            v = 3.3
        fs = _ADC_FULL_SCALE_V[self._atten]
        return fs if v > fs else (0.0 if v < 0.0 else v)

    def read_uv(self):
        return int(self._volts() * 1e6)

    def read(self):
        top = (1 << self._bits) - 1
        return int(self._volts() / _ADC_FULL_SCALE_V[self._atten] * top + 0.5)

    def read_u16(self):
        return int(self._volts() / _ADC_FULL_SCALE_V[self._atten] * 4095 + 0.5) * 65535 // 4095


# --- the watchdog ----------------------------------------------------------------------------

_wdt = [0, 0]  # [last feed ticks_ms, timeout ms]; timeout 0: not started
_WDT_GRACE_MS = 1000


def _watchdog():
    w = _world()
    while True:
        time.sleep_ms(10)
        if time.ticks_diff(time.ticks_ms(), _wdt[0]) > _wdt[1]:
            break
    w.wdt_expired = True
    sys.stderr.write("machine.WDT: not fed for %d ms: reset\n" % _wdt[1])
    time.sleep_ms(_WDT_GRACE_MS)
    os.system("kill -USR2 $PPID")  # still alive: hung without calling machine


class WDT:
    def __init__(self, id=0, timeout=5000):
        if timeout < 1:
            raise ValueError("WDT timeout too short")
        started = _wdt[1] != 0
        _wdt[1] = timeout
        self.feed()
        if not started:
            import _thread

            _thread.start_new_thread(_watchdog, ())

    @_hw
    def feed(self):
        _wdt[0] = time.ticks_ms()
        _world().poll()
