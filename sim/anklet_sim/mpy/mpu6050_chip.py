# The MPU-6050 emulated at register level, for the simulated board's I2C bus (address 0x68);
# with model="mpu6500", the MPU-6500 that many GY-521 boards carry instead.
#
#     chip = MPU6050Chip(clock, motion_source, ppm=150.0)     # model="mpu6500" for the other
#     chip.read_into(0x75, buf)          # what an I2C burst read from register 0x75 returns
#     chip.write(0x6B, b"\x01")          # an I2C burst write starting at register 0x6B
#
# Behaviour from the MPU-6000/6050 register map (RM-MPU-6000A, rev 4.2):
# - Sample rate = gyroscope output rate / (1 + SMPLRT_DIV); the gyroscope output rate is 8 kHz
#   with DLPF_CFG 0 or 7 and 1 kHz otherwise. The sample clock is a crystal `ppm` fast (+) or
#   slow (-), so a host comparing sample counts with its own clock sees real drift.
# - Samples exist only while awake (PWR_MGMT_1.SLEEP clear; DEVICE_RESET sets it, as at power
#   on). Each sample updates ACCEL_XOUT_H..GYRO_ZOUT_L and, when USER_CTRL.FIFO_EN is set,
#   appends the FIFO_EN-selected registers to the FIFO in register order (accel, temp, gyro
#   x/y/z), big-endian, whatever the order of the FIFO_EN bits.
# - The FIFO is 1024 bytes. When full, each new byte drops the oldest one and FIFO_OFLOW_INT
#   latches (if enabled in INT_ENABLE): the stream then starts mid-record. INT_STATUS clears
#   when read. USER_CTRL.FIFO_RESET empties the FIFO (self-clearing).
# - Reading FIFO_R_W pops a byte; a burst read from FIFO_R_W keeps reading the FIFO (the
#   address does not auto-increment there); an empty FIFO returns the last byte read again.
#   Elsewhere a burst read auto-increments through the register file.
# - Values are LSB for the configured full scale (accel 16384/8192/4096/2048 LSB/g, gyro
#   131/65.5/32.8/16.4 LSB/(deg/s)), rounded and saturated to int16.
# - The gyroscope needs 30 ms after waking (PS-MPU-6000A table 6.1; 35 ms on the MPU-6500,
#   PS-MPU-6500A table 1.2): samples taken before read 0 deg/s on every gyro axis.
# The MPU-6500 (RM-MPU-6500A rev 2.1, PS-MPU-6500A rev 1.1) differs here in: WHO_AM_I 0x70, a
# 512-byte FIFO, and ACCEL_CONFIG2 (0x1D) for the accelerometer's filter (stored; the motion
# model has nothing above the filters' corners, so it changes no value). The clock error `ppm`
# may be anything the datasheets allow: ±1 % (10000 ppm) over temperature.
# The FIFO is filled lazily: each register access first produces the samples that became due
# since the previous one (with a stalled reader, only those that can still be in the FIFO).
import sys

_SMPLRT_DIV = 0x19
_CONFIG = 0x1A
_GYRO_CONFIG = 0x1B
_ACCEL_CONFIG = 0x1C
_FIFO_EN = 0x23
_INT_ENABLE = 0x38
_INT_STATUS = 0x3A
_ACCEL_XOUT_H = 0x3B
_TEMP_OUT_H = 0x41
_GYRO_XOUT_H = 0x43
_GYRO_ZOUT_L = 0x48
_USER_CTRL = 0x6A
_PWR_MGMT_1 = 0x6B
_FIFO_COUNTH = 0x72
_FIFO_COUNTL = 0x73
_FIFO_R_W = 0x74
_WHO_AM_I = 0x75

# model -> (WHO_AM_I, FIFO bytes, gyro start-up ms)
MODELS = {"mpu6050": (0x68, 1024, 30), "mpu6500": (0x70, 512, 35)}
_INT_FIFO_OFLOW = 0x10
_INT_DATA_RDY = 0x01
_USER_FIFO_EN = 0x40
_USER_FIFO_RESET = 0x04
_PWR_RESET = 0x80
_PWR_SLEEP = 0x40
_G = 9.80665
_ACCEL_LSB_PER_G = (16384.0, 8192.0, 4096.0, 2048.0)
_GYRO_LSB_PER_DPS = (131.0, 65.5, 32.8, 16.4)
_PS_PER_US = 1000000


def _int16(x):
    x = int(round(x))
    if x > 32767:
        return 32767
    if x < -32768:
        return -32768
    return x


class MPU6050Chip:
    def __init__(self, clock, motion, ppm=150.0, temp_c=25.0, t_offset_s=0.0, model="mpu6050"):
        if model not in MODELS:
            raise ValueError("imu_model %r: one of %s" % (model, ", ".join(sorted(MODELS))))
        if not -10000.0 <= ppm <= 10000.0:
            raise ValueError("imu_ppm %r: the datasheets allow ±1 %% (±10000 ppm)" % (ppm,))
        self.model = model
        self._who, self._fifo_size, startup_ms = MODELS[model]
        self._startup_ps = startup_ms * 1000 * _PS_PER_US
        self._awake_ps = 0
        self._clock = clock
        self._motion = motion
        self.ppm = ppm
        self.temp_c = temp_c
        self._t_offset = t_offset_s
        self._regs = bytearray(128)
        self._fifo = bytearray(self._fifo_size)
        self.trace = None  # a list to record the time (s) of every sample written to the FIFO
        self.samples = 0  # samples produced since power-on (FIFO or not)
        # The longest the FIFO went unread while enabled (µs), reported on stderr (the board's
        # log) as it grows past 20 ms: the bench's "worst gap between FIFO reads".
        self.worst_gap_us = 0
        self._last_pop_us = -1
        self.on_fifo_enabled = None  # called once, at the first FIFO enable (world.py)
        self.pointer = 0  # register address for reads without one (I2C.readfrom_into)
        self._reset()

    # --- state -------------------------------------------------------------------------------

    def _reset(self):
        regs = self._regs
        for i in range(128):
            regs[i] = 0
        regs[_PWR_MGMT_1] = _PWR_SLEEP
        regs[_WHO_AM_I] = self._who
        self._head = 0  # index of the oldest FIFO byte
        self._count = 0
        self._last_read = 0
        self._record = ()
        self._next_ps = -1  # time of the next sample; -1 while asleep
        self._next_us = -1  # ... the first microsecond at or after it (a small int to compare)
        self._last_ps = -1  # time of the newest sample (data registers), -1: none yet
        self._data_ps = -1  # time the data registers were computed for
        self._period_ps = self._compute_period()

    def _compute_period(self):
        dlpf = self._regs[_CONFIG] & 7
        gyro_hz = 8000 if dlpf in (0, 7) else 1000
        nominal_ps = 10**12 * (1 + self._regs[_SMPLRT_DIV]) // gyro_hz
        return int(nominal_ps * 1e6 / (1e6 + self.ppm) + 0.5)

    @property
    def rate_hz(self):
        """The configured (nominal) sample rate."""
        dlpf = self._regs[_CONFIG] & 7
        return (8000 if dlpf in (0, 7) else 1000) / (1 + self._regs[_SMPLRT_DIV])

    @property
    def awake(self):
        return not (self._regs[_PWR_MGMT_1] & _PWR_SLEEP)

    def fifo_level(self):
        return self._count

    def _restart_clock(self):
        if self.awake:
            self._set_next(self._clock.now_us() * _PS_PER_US + self._period_ps)
        else:
            self._next_ps = self._next_us = -1

    def _set_next(self, next_ps):
        self._next_ps = next_ps
        self._next_us = -(-next_ps // _PS_PER_US)

    # --- sample production ---------------------------------------------------------------------

    def _advance(self):
        """Produce the samples due by now. Allocates nothing when none is due: picoseconds are
        big ints on a 32-bit interpreter, so that is decided in microseconds."""
        next_us = self._next_us
        if next_us < 0:
            return
        now_us = self._clock.now_us()
        if now_us < next_us:
            return
        next_ps = self._next_ps
        now_ps = now_us * _PS_PER_US
        period = self._period_ps
        due = (now_ps - next_ps) // period + 1
        self.samples += due
        regs = self._regs
        record = self._record
        rec_len = len(record)
        fifo_on = regs[_USER_CTRL] & _USER_FIFO_EN and rec_len
        if regs[_INT_ENABLE] & _INT_DATA_RDY:
            regs[_INT_STATUS] |= _INT_DATA_RDY
        if fifo_on:
            # Only the last FIFO_SIZE bytes of the stream can survive: skip the rest.
            keep = self._fifo_size // rec_len + 2
            if due > keep:
                skip = due - keep
                self._drop(self._count)  # everything already there is overwritten
                self._overflow()
                next_ps += skip * period
                due = keep
            for _ in range(due):
                self._sample_regs(next_ps)
                self._push(record)
                if self.trace is not None:
                    self.trace.append(next_ps / 1e12 + self._t_offset)
                next_ps += period
        else:
            next_ps += due * period
        self._set_next(next_ps)
        self._last_ps = next_ps - period

    def _sample_regs(self, t_ps):
        """Fill ACCEL_XOUT_H..GYRO_ZOUT_L with the sample taken at t_ps."""
        if t_ps == self._data_ps:
            return
        self._data_ps = t_ps
        regs = self._regs
        ax, ay, az, gx, gy, gz, _ = self._motion.sample(t_ps / 1e12 + self._t_offset)
        if t_ps - self._awake_ps < self._startup_ps:
            gx = gy = gz = 0.0  # the gyroscope is still starting up
        a_lsb = _ACCEL_LSB_PER_G[(regs[_ACCEL_CONFIG] >> 3) & 3] / _G
        g_lsb = _GYRO_LSB_PER_DPS[(regs[_GYRO_CONFIG] >> 3) & 3]
        temp = _int16((self.temp_c - 36.53) * 340.0)
        i = _ACCEL_XOUT_H
        for v in (
            _int16(ax * a_lsb), _int16(ay * a_lsb), _int16(az * a_lsb), temp,
            _int16(gx * g_lsb), _int16(gy * g_lsb), _int16(gz * g_lsb),
        ):  # fmt: skip
            regs[i] = (v >> 8) & 0xFF
            regs[i + 1] = v & 0xFF
            i += 2

    def _push(self, record):
        regs = self._regs
        fifo = self._fifo
        for reg in record:
            if self._count == self._fifo_size:
                self._drop(1)
                self._overflow()
            fifo[(self._head + self._count) % self._fifo_size] = regs[reg]
            self._count += 1

    def _drop(self, n):
        self._head = (self._head + n) % self._fifo_size
        self._count -= n

    def _overflow(self):
        if self._regs[_INT_ENABLE] & _INT_FIFO_OFLOW:
            self._regs[_INT_STATUS] |= _INT_FIFO_OFLOW

    # --- the I2C side --------------------------------------------------------------------------

    def _popped(self):
        now = self._clock.now_us()
        if self._last_pop_us >= 0:
            gap = now - self._last_pop_us
            if gap > self.worst_gap_us:
                self.worst_gap_us = gap
                if gap > 20000:
                    sys.stderr.write("imu: worst FIFO read gap %d us\n" % gap)
        self._last_pop_us = now

    def read_into(self, reg, buf):
        """A burst read of len(buf) bytes starting at register `reg`."""
        self._advance()
        regs = self._regs
        n = len(buf)
        i = 0
        while i < n:
            if reg == _FIFO_R_W:
                self._popped()
                # Stays on FIFO_R_W: pop the rest of the burst from the FIFO.
                fifo = self._fifo
                last = self._last_read
                while i < n:
                    if self._count:
                        last = fifo[self._head]
                        self._head = (self._head + 1) % self._fifo_size
                        self._count -= 1
                    buf[i] = last
                    i += 1
                self._last_read = last
                return
            if reg == _FIFO_COUNTH:
                buf[i] = self._count >> 8
            elif reg == _FIFO_COUNTL:
                buf[i] = self._count & 0xFF
            elif reg == _INT_STATUS:
                buf[i] = regs[_INT_STATUS]
                regs[_INT_STATUS] = 0
            elif _ACCEL_XOUT_H <= reg <= _GYRO_ZOUT_L:
                if self._last_ps >= 0:
                    self._sample_regs(self._last_ps)
                buf[i] = regs[reg]
            elif reg < 128:
                buf[i] = regs[reg]
            else:
                buf[i] = 0
            reg += 1
            i += 1

    def write(self, reg, data, start=0):
        """A burst write of data[start:] starting at register `reg`."""
        self._advance()
        for i in range(start, len(data)):
            self._write_reg(reg, data[i])
            if reg != _FIFO_R_W:
                reg += 1

    def _write_reg(self, reg, value):
        regs = self._regs
        if reg == _PWR_MGMT_1:
            if value & _PWR_RESET:
                self._reset()
                return
            was_awake = self.awake
            regs[reg] = value
            if self.awake != was_awake:
                if self.awake:
                    self._awake_ps = self._clock.now_us() * _PS_PER_US
                self._restart_clock()
        elif reg in (_SMPLRT_DIV, _CONFIG):
            regs[reg] = value
            self._period_ps = self._compute_period()
            self._restart_clock()
        elif reg == _USER_CTRL:
            self._last_pop_us = self._clock.now_us() if value & _USER_FIFO_EN else -1
            if value & _USER_FIFO_EN and self.on_fifo_enabled is not None:
                hook, self.on_fifo_enabled = self.on_fifo_enabled, None
                hook()
            if value & _USER_FIFO_RESET:
                self._head = 0
                self._count = 0
            regs[reg] = value & ~_USER_FIFO_RESET
        elif reg == _FIFO_EN:
            regs[reg] = value
            order = []
            if value & 0x08:
                order.extend(range(_ACCEL_XOUT_H, _TEMP_OUT_H))
            if value & 0x80:
                order.extend((_TEMP_OUT_H, _TEMP_OUT_H + 1))
            for bit, first in ((0x40, _GYRO_XOUT_H), (0x20, _GYRO_XOUT_H + 2),
                               (0x10, _GYRO_XOUT_H + 4)):  # fmt: skip
                if value & bit:
                    order.extend((first, first + 1))
            self._record = tuple(order)
        elif reg == _FIFO_R_W:
            if self._count < self._fifo_size:  # the host may write into the FIFO too
                self._fifo[(self._head + self._count) % self._fifo_size] = value
                self._count += 1
        elif reg in (_WHO_AM_I, _INT_STATUS, _FIFO_COUNTH, _FIFO_COUNTL) or (
            _ACCEL_XOUT_H <= reg <= _GYRO_ZOUT_L
        ):
            pass  # read-only
        elif reg < 128:
            regs[reg] = value
