"""HX711 24-bit load-cell ADC, bit-banged on two GPIOs; never blocks.

    hx = HX711(Pin(18, Pin.OUT, value=0), Pin(19, Pin.IN), gain=128)
    if hx.is_ready():
        counts = hx.read_raw()          # signed 24-bit, channel A at gain 128

The conversion rate (10 or 80 Hz) is set by the chip's RATE pin, not through this driver:
board.py ties it high (80 Hz) or drives it from a GPIO. After power-up, a RATE change or a new
gain the first conversion arrives after the settling time (4 periods: 400 ms / 50 ms).

Gain and channel for the *next* conversion are chosen by the pulses after the 24 data bits:
1 more = channel A gain 128, 2 more = channel B gain 32, 3 more = channel A gain 64
(datasheet: 25/26/27 pulses in total). Counts at gain 64 are half those at gain 128.

PD_SCK held high for more than 60 us powers the chip down, so each clock-high pulse is a few
microseconds with interrupts disabled around the 24-bit loop: an interrupt cannot stretch one.
"""

import machine
from micropython import const

_DATA_BITS = const(24)
_SIGN = const(0x800000)  # bit 23: the sign of the 24-bit two's complement result
_WRAP = const(0x1000000)
_PULSES_FOR_GAIN = {128: 1, 32: 2, 64: 3}  # extra PD_SCK pulses after the 24 data bits


class HX711:
    def __init__(self, clock_pin, data_pin, gain=128):
        self._sck = clock_pin
        self._dout = data_pin
        self._extra = 1
        self.gain = 128
        self.set_gain(gain)
        self._sck.value(0)  # PD_SCK low: powered up

    def set_gain(self, gain):
        """Select 128 or 64 (channel A) or 32 (channel B); takes effect after the next read."""
        if gain not in _PULSES_FOR_GAIN:
            raise ValueError("HX711 gain must be 128, 64 or 32, not %r" % (gain,))
        self._extra = _PULSES_FOR_GAIN[gain]
        self.gain = gain

    def is_ready(self):
        """True when a conversion is waiting (DOUT low)."""
        return self._dout.value() == 0

    def read_raw(self):
        """Clock out the waiting conversion: a signed 24-bit int. Call only when is_ready()."""
        sck = self._sck
        dout = self._dout
        value = 0
        state = machine.disable_irq()
        for _ in range(_DATA_BITS):
            sck.value(1)
            sck.value(0)
            # DOUT changed on the rising edge and holds until the next one: reading it after
            # the falling edge keeps the high pulse as short as the port allows.
            value = (value << 1) | dout.value()
        for _ in range(self._extra):
            sck.value(1)
            sck.value(0)
        machine.enable_irq(state)
        if value & _SIGN:
            value -= _WRAP
        return value

    def power_down(self):
        """PD_SCK high; the chip sleeps after 60 us. Conversions stop."""
        self._sck.value(0)
        self._sck.value(1)

    def power_up(self):
        """PD_SCK low: the chip resets to channel A gain 128 and converts after settling.

        A gain other than 128 is restored by the pulses of the next read_raw() (the first
        conversion after power-up is at gain 128)."""
        self._sck.value(0)
