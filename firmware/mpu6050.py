"""MPU-6050 / MPU-6500 accelerometer + gyroscope driver, read through the chip's hardware FIFO.

GY-521 and similar breakouts carry an MPU-6050, or an MPU-6500 / MPU-9250 / MPU-9255 in its
place. The part is told by WHO_AM_I (0x68; 0x70; 0x71; 0x73) and set up with its own register
map: the MPU-6500 family (PS-MPU-6500A, RM-MPU-6500A) has a 512-byte FIFO instead of 1024 and
filters its accelerometer in ACCEL_CONFIG2 (0x1D), where the MPU-6050's DLPF_CFG covers both
sensors. Anything else answering at the address is refused with its WHO_AM_I in the message.

    imu = MPU6050(I2C(0, scl=Pin(22), sda=Pin(21), freq=400_000))
    imu.configure(200, 8, 1000); imu.fifo_reset()
    n = imu.fifo_count() // 12; imu.read_fifo_into(buf, n); imu.to_le16_into(buf, wire, n * 12)

The IMU interface (duck-typed; a second part such as the LSM6DSO or ICM-42688 is one more module
whose class has the same names, and the sampler needs no change):

- ``Class(i2c, address=...)``: checks the identity register, raises ``OSError`` if the part is
  absent or another one, resets it and wakes it up with the FIFO off.
- ``MODEL``: the part's number in the wire format (``anklet_wire.IMU_*``).
- ``SAMPLE_BYTES``: bytes per FIFO record (12 here): ax ay az gx gy gz, int16 each.
- ``configure(rate_hz, accel_fs_g, gyro_fs_dps)``: output data rate and full-scale ranges
  (``ValueError`` for an unsupported value); leaves the FIFO disabled and empty. Afterwards
  ``rate_hz``, ``accel_fs_g`` and ``gyro_fs_dps`` hold the settings; what one LSB is worth
  (the datasheet's sensitivity) is in protocol/'s ACCEL_LSB_PER_G / GYRO_LSB_PER_DPS.
- ``fifo_reset()``: empties the FIFO, clears a pending overflow flag and (re)starts filling it.
- ``fifo_count()``: bytes waiting in the FIFO.
- ``fifo_overflowed()``: True once since the FIFO last overflowed (reading clears the flag). After
  an overflow the byte stream is no longer aligned to records: call ``fifo_reset()``.
- ``read_fifo_into(buf, nsamples)``: burst-reads ``nsamples`` records into the start of ``buf``
  (a bytearray or memoryview the caller owns); allocation-free once ``buf`` has been seen.
- ``to_le16_into(src, dst, nbytes)``: converts ``nbytes`` of records into the little-endian
  int16 layout of the wire format (a byte swap here; a copy for a little-endian part).

The MPU-6050 stores records as ACCEL_XYZ then GYRO_XYZ, each big-endian int16, whatever the
order of the FIFO_EN bits; this driver keeps them as the chip gives them.
"""

import time

from micropython import const

_SMPLRT_DIV = const(0x19)  # sample rate divider: rate = gyro output rate / (1 + div)
_CONFIG = const(0x1A)  # DLPF_CFG in bits 2:0
_GYRO_CONFIG = const(0x1B)  # FS_SEL in bits 4:3
_ACCEL_CONFIG = const(0x1C)  # AFS_SEL in bits 4:3
_FIFO_EN = const(0x23)  # which sensors feed the FIFO
_INT_ENABLE = const(0x38)  # interrupt enables; status bits only latch when enabled
_INT_STATUS = const(0x3A)  # interrupt status, cleared by reading
_USER_CTRL = const(0x6A)  # FIFO_EN, FIFO_RESET
_PWR_MGMT_1 = const(0x6B)  # DEVICE_RESET, SLEEP, CLKSEL
_FIFO_COUNTH = const(0x72)  # FIFO byte count, high byte first
_FIFO_R_W = const(0x74)  # FIFO data; reads pop, the address does not auto-increment
_WHO_AM_I = const(0x75)  # identity register
_ACCEL_CONFIG2 = const(0x1D)  # MPU-6500 family: A_DLPF_CFG in bits 2:0 (ACCEL_FCHOICE_B=0)

_ID_MPU6050 = const(0x68)  # WHO_AM_I value
_PWR_DEVICE_RESET = const(0x80)  # PWR_MGMT_1: reset all registers
_PWR_CLK_PLL_XGYRO = const(0x01)  # PWR_MGMT_1: awake, PLL on the X gyro (better than 8 MHz RC)
_FIFO_EN_ACCEL_GYRO = const(0x78)  # FIFO_EN: XG, YG, ZG, ACCEL
_USER_FIFO_EN = const(0x40)  # USER_CTRL: FIFO enable
_USER_FIFO_RESET = const(0x04)  # USER_CTRL: FIFO reset (self-clearing)
_INT_FIFO_OFLOW = const(0x10)  # INT_ENABLE / INT_STATUS: FIFO overflow
_RESET_MS = const(100)  # datasheet: wait after DEVICE_RESET
# Gyroscope start-up time from sleep: 30 ms (PS-MPU-6000A table 6.1), 35 ms (PS-MPU-6500A
# table 1.2); samples before it are not valid, so the FIFO starts filling only after it.
_GYRO_START_MS = const(35)
_SAMPLE_BYTES = const(12)  # one FIFO record: 6 x int16


def swap16_into(src, dst, nbytes):
    """Copy ``nbytes`` (even) from ``src`` to ``dst`` swapping the bytes of each int16.

    Allocation-free; ``src`` and ``dst`` may be the same buffer. Plain Python so the module
    compiles with a bare ``mpy-cross`` (viper needs ``-march``): 93 us per 1020 bytes on the
    unix port against 2.8 us for the same loop in viper, which is what the sampler uses
    (``bytecopy.swap16``); this one is for tests and tools.
    """
    for i in range(0, nbytes, 2):
        hi = src[i]
        dst[i] = src[i + 1]
        dst[i + 1] = hi


# Rate (Hz) -> (DLPF_CFG, SMPLRT_DIV). With the DLPF on the gyro output rate is 1 kHz and the
# rate is 1000 / (1 + div); pick the widest filter whose bandwidth stays below Nyquist
# (DLPF_CFG 1: 184/188 Hz, 2: 94/98 Hz, 3: 44/42 Hz accel/gyro). 400 Hz cannot come from 1 kHz
# with an integer divider, so it runs with the DLPF off (gyro 8 kHz, div 19, bandwidth 260/256 Hz,
# a little above its 200 Hz Nyquist; human motion has nothing up there, noise aliases slightly;
# the accelerometer still updates at 1 kHz, so its samples are up to 1 ms old).
_RATE_CFG = {100: (3, 9), 200: (2, 4), 400: (0, 19), 1000: (1, 0)}
# MPU-6500 family: the accelerometer's own filter (ACCEL_CONFIG2 A_DLPF_CFG; RM-MPU-6500A
# table in 4.8), the widest below Nyquist, as for the gyro: 1: 184 Hz, 2: 92 Hz, 3: 41 Hz;
# at 400 Hz 0 (460 Hz), as the gyro runs unfiltered there.
_ACCEL_DLPF_6500 = {100: 3, 200: 2, 400: 0, 1000: 1}
# WHO_AM_I -> (wire-format model, FIFO bytes, MPU-6500 register map)
_PARTS = {
    0x68: (1, 1024, False),  # MPU-6050 (and MPU-6000, MPU-9150)
    0x70: (4, 512, True),  # MPU-6500
    0x71: (4, 512, True),  # MPU-9250: an MPU-6500 with a magnetometer
    0x73: (4, 512, True),  # MPU-9255
}
_ACCEL_FS_SEL = {2: 0, 4: 1, 8: 2, 16: 3}
_GYRO_FS_SEL = {250: 0, 500: 1, 1000: 2, 2000: 3}


class MPU6050:
    MODEL = 1  # anklet_wire.IMU_*: which part answered, for the device's info record
    SAMPLE_BYTES = _SAMPLE_BYTES
    FIFO_BYTES = 1024  # this part's FIFO

    def __init__(self, i2c, address=0x68):
        self._i2c = i2c
        self._address = address
        self._reg = bytearray(1)
        self._count = bytearray(2)
        self._views = []  # memoryview slices of the caller's buffer, one per record count
        self._views_of = None  # the buffer those views belong to
        self.rate_hz = 0
        self.accel_fs_g = 0
        self.gyro_fs_dps = 0
        try:
            who = self._read8(_WHO_AM_I)
        except OSError as exc:
            raise OSError("IMU (MPU-6050/6500) not found at I2C address 0x%02x (%s)"
                          % (address, exc))
        part = _PARTS.get(who)
        if part is None:
            raise OSError(
                "unknown chip at I2C address 0x%02x: WHO_AM_I 0x%02x (MPU-6050 answers 0x68, "
                "MPU-6500 0x70, MPU-9250 0x71, MPU-9255 0x73)" % (address, who)
            )
        self.MODEL, self.FIFO_BYTES, self._map6500 = part
        self.who_am_i = who
        self._write8(_PWR_MGMT_1, _PWR_DEVICE_RESET)
        time.sleep_ms(_RESET_MS)
        self._write8(_PWR_MGMT_1, _PWR_CLK_PLL_XGYRO)
        self._awake_ms = time.ticks_ms()

    def _read8(self, reg):
        self._i2c.readfrom_mem_into(self._address, reg, self._reg)
        return self._reg[0]

    def _write8(self, reg, value):
        self._reg[0] = value
        self._i2c.writeto_mem(self._address, reg, self._reg)

    def configure(self, rate_hz, accel_fs_g, gyro_fs_dps):
        if rate_hz not in _RATE_CFG:
            raise ValueError("rate_hz must be 100, 200, 400 or 1000, not %r" % (rate_hz,))
        if accel_fs_g not in _ACCEL_FS_SEL:
            raise ValueError("accel_fs_g must be 2, 4, 8 or 16, not %r" % (accel_fs_g,))
        if gyro_fs_dps not in _GYRO_FS_SEL:
            raise ValueError("gyro_fs_dps must be 250, 500, 1000 or 2000, not %r" % (gyro_fs_dps,))
        self._write8(_USER_CTRL, 0)
        self._write8(_FIFO_EN, 0)
        dlpf, div = _RATE_CFG[rate_hz]
        self._write8(_CONFIG, dlpf)
        self._write8(_SMPLRT_DIV, div)
        self._write8(_ACCEL_CONFIG, _ACCEL_FS_SEL[accel_fs_g] << 3)
        if self._map6500:
            self._write8(_ACCEL_CONFIG2, _ACCEL_DLPF_6500[rate_hz])
        self._write8(_GYRO_CONFIG, _GYRO_FS_SEL[gyro_fs_dps] << 3)
        self._write8(_INT_ENABLE, _INT_FIFO_OFLOW)
        self._write8(_USER_CTRL, _USER_FIFO_RESET)
        self.rate_hz = rate_hz
        self.accel_fs_g = accel_fs_g
        self.gyro_fs_dps = gyro_fs_dps

    def fifo_reset(self):
        # Not before the gyro has settled after waking (once per power-up: START comes later).
        left = _GYRO_START_MS - time.ticks_diff(time.ticks_ms(), self._awake_ms)
        if left > 0:
            time.sleep_ms(left)
        self._write8(_USER_CTRL, 0)  # the chip resets the FIFO only while it is disabled
        self._write8(_FIFO_EN, 0)
        self._write8(_USER_CTRL, _USER_FIFO_RESET)
        self._read8(_INT_STATUS)  # drop an overflow flag that belongs to the old data
        self._write8(_FIFO_EN, _FIFO_EN_ACCEL_GYRO)
        self._write8(_USER_CTRL, _USER_FIFO_EN)

    def fifo_count(self):
        self._i2c.readfrom_mem_into(self._address, _FIFO_COUNTH, self._count)
        return (self._count[0] << 8) | self._count[1]

    def fifo_overflowed(self):
        return bool(self._read8(_INT_STATUS) & _INT_FIFO_OFLOW)

    def read_fifo_into(self, buf, nsamples):
        if buf is not self._views_of:
            self._bind(buf)
        self._i2c.readfrom_mem_into(self._address, _FIFO_R_W, self._views[nsamples])

    def _bind(self, buf):
        # First use of this buffer: slicing a memoryview allocates, so make every slice now.
        # (A separate method: the comprehension's closure cell would allocate on every call.)
        mv = memoryview(buf)
        self._views = [mv[: n * _SAMPLE_BYTES] for n in range(len(buf) // _SAMPLE_BYTES + 1)]
        self._views_of = buf

    @staticmethod
    def to_le16_into(src, dst, nbytes):
        swap16_into(src, dst, nbytes)
