# The HX711 load-cell ADC emulated at pin level: PD_SCK and RATE in, DOUT out.
#
#     chip = HX711Chip(clock, motion_source, rate_hz=80)
#     chip.pin_write(18, 1, now_us); chip.pin_write(18, 0, now_us)   # one PD_SCK pulse
#     bit = chip.pin_read(19, now_us)                                 # DOUT
#
# Behaviour from the HX711 datasheet (Avia Semiconductor):
# - Conversions run continuously at 10 or 80 Hz (RATE low/high). DOUT is high until one is
#   ready, then low; the first conversion after power-up, reset, a RATE change or a new
#   channel/gain appears after the settling time (4 conversion periods: 400 ms / 50 ms).
# - Each PD_SCK rising edge shifts out one bit, MSB first (DOUT changes just after the rising
#   edge and holds until the next one); 24 bits of two's complement data. A read slower than
#   one conversion period (a late or preempted reader) does not corrupt it: the conversion
#   that completes meanwhile waits for the read to end. The 25th pulse pulls
#   DOUT high; 25/26/27 pulses in total select channel A gain 128 / channel B gain 32 /
#   channel A gain 64 for the following conversions.
# - PD_SCK high for more than 60 us powers the chip down (DOUT high); PD_SCK low again powers
#   it up: reset to channel A gain 128, new conversions after the settling time. The emulator
#   sees pin changes only when the firmware makes them, so it measures the real ticks_us
#   between the rising and falling edge: a pulse stretched past 60 us (an interrupt, a GC, a
#   preempted process) powers the part down here as it would on the bench. One allowance for
#   the host: a pulse made entirely with IRQs disabled (machine.disable_irq(), as the driver
#   does) cannot be stretched on an ESP32, but here the OS may still preempt the interpreter
#   (measured: 0.03 % of pulses exceed 60 us on an idle 2-core box), so such a pulse powers
#   the part down only if the firmware slept during it (time.sleeps: a sleep in the loop still
#   does, as a busy-wait would on the chip) and it lasted past 60 us. The wall time alone is
#   the PC's scheduler's: a stall of over 1 ms there once read 0x3FFFFF and 0x7FFFFF
#   (2 of ~9,000 conversions in a 108 s demo on a loaded machine), which an ESP32 cannot do.
# Data: channel A = offset_counts + counts_per_n x strap force (N) [x 1/2 at gain 64]
# + noise_counts x N(0, 1), saturating at 0x7FFFFF / -0x800000. Channel B reads its own
# offset and noise (nothing is wired to it).
import time as _time

import motion as _motion

_PD_US = 60  # PD_SCK high longer than this: power down
_NEVER = 1 << 60
_SETTLE_PERIODS = 4
_MAX = 0x7FFFFF
_MIN = -0x800000


class HX711Chip:
    def __init__(
        self,
        clock,
        motion,
        rate_hz=80,
        loadcell=None,
        seed=1,
        t_offset_s=0.0,
        sck_pin=18,
        dout_pin=19,
        rate_pin=23,
        irq_source=None,
        rate_tied=False,
    ):
        cfg = loadcell or {}
        self._clock = clock
        self._motion = motion
        self._t_offset = t_offset_s
        self._seed = seed
        self.offset_counts = int(cfg.get("offset_counts", -52000))
        self.counts_per_n = float(cfg.get("counts_per_n", 9000.0))  # channel A, gain 128
        self.noise_counts = float(cfg.get("noise_counts", 60.0))
        self.offset_b_counts = int(cfg.get("offset_b_counts", 1500))
        self.never_ready = False  # a fault: DOUT stays high
        self._sck_pin = sck_pin
        self._dout_pin = dout_pin
        self._rate_pin = rate_pin
        self.rate_hz = 80 if rate_hz >= 80 else 10  # the RATE strapping until GPIO drives it
        # Many breakouts tie RATE to GND (or VCC) on the board: the GPIO then drives nothing.
        self.rate_tied = rate_tied
        self._sck = 0
        self._rise_us = 0
        self._irq_source = irq_source  # has .irq_enabled (the world, for machine.disable_irq)
        self._rise_irq = True
        self._rise_sleeps = 0
        self.powered = True
        self.gain = 128  # selection for the coming conversions: 128 (A), 64 (A), 32 (B)
        self._bit = 0  # rising edges in the current read; 0: no read in progress
        self._data = 0
        self._ready = False
        self._conv_us = 0
        self.conversions = 0  # conversions read out
        self.power_downs = 0
        self.last_read = None  # (time s, channel/gain, counts) of the last read started
        self._start(clock.now_us())

    @property
    def period_us(self):
        return 12500 if self.rate_hz == 80 else 100000

    def _start(self, now):
        self._ready = False
        self._bit = 0
        self._next_us = now + _SETTLE_PERIODS * self.period_us

    # --- the pins ------------------------------------------------------------------------------

    def pin_read(self, n, now):
        if n != self._dout_pin:
            return self._sck if n == self._sck_pin else (1 if self.rate_hz == 80 else 0)
        if self._sck and now - self._rise_us > self._pd_limit():
            return 1  # powered down while PD_SCK is held high
        if not self.powered or self.never_ready:
            return 1
        bit = self._bit
        if bit == 0:
            self._update(now)
            return 0 if self._ready else 1
        if bit <= 24:
            return (self._data >> (24 - bit)) & 1
        self._update(now)
        return 0 if self._ready else 1

    def pin_write(self, n, level, now):
        if n == self._rate_pin:
            if self.rate_tied:
                return
            rate = 80 if level else 10
            if rate != self.rate_hz:
                self.rate_hz = rate
                self._start(now)
            return
        if n != self._sck_pin or level == self._sck:
            return
        if level:
            self._update(now)
            self._sck = 1
            if self.powered and not self.never_ready:
                if self._bit:
                    self._bit += 1
                elif self._ready:
                    self._data = self._convert(self._conv_us) & 0xFFFFFF
                    self._ready = False
                    self._bit = 1
            # The high time starts after the emulator's own work (the conversion's floats, a
            # GC): only the firmware's side of the pulse counts towards the 60 us.
            self._rise_us = self._clock.now_us()
            self._rise_irq = self._irqs_on()
            self._rise_sleeps = _time.sleeps[0]
        else:
            self._sck = 0
            if now - self._rise_us > self._pd_limit():
                self.power_downs += 1
                self.powered = True  # PD_SCK low again: power up and reset
                self.gain = 128
                self._start(now)

    def _irqs_on(self):
        return self._irq_source is None or self._irq_source.irq_enabled

    def _pd_limit(self):
        if self._rise_irq or self._irqs_on() or _time.sleeps[0] != self._rise_sleeps:
            return _PD_US
        return _NEVER  # made with IRQs off and no sleep: nothing on an ESP32 can stretch it

    # --- conversions ---------------------------------------------------------------------------

    def _update(self, now):
        if 0 < self._bit <= 24:
            # Shifting out: the output register is busy. A conversion that completes meanwhile
            # is presented once the read ends (DOUT low then, at once), never mid-read.
            return
        if self._bit > 24:
            # The read has ended: the pulses after the 24th choose the next channel and gain.
            if now < self._next_us:
                return
            gain = (128, 32, 64)[min(self._bit - 25, 2)]
            self._bit = 0
            if gain != self.gain:
                self.gain = gain
                self._start(now)
                return
        if now >= self._next_us:
            period = self.period_us
            k = (now - self._next_us) // period
            self._conv_us = self._next_us + k * period
            self._next_us = self._conv_us + period
            self._ready = True

    def _convert(self, t_us):
        t_s = t_us / 1e6 + self._t_offset
        self.conversions += 1
        noise = self.noise_counts * _motion.gauss(self._seed, t_us)
        if self.gain == 32:
            counts = self.offset_b_counts + noise / 4.0
        else:
            counts = self.offset_counts + self.counts_per_n * self._motion.force(t_s) + noise
            if self.gain == 64:
                counts /= 2.0
        counts = int(round(counts))
        if counts > _MAX:
            counts = _MAX
        elif counts < _MIN:
            counts = _MIN
        self.last_read = (t_s, self.gain, counts)
        return counts

    def expected_counts(self, force_n, gain=128):
        """Noise-free counts for a strap force: for tests."""
        if gain == 32:
            return self.offset_b_counts
        counts = self.offset_counts + self.counts_per_n * force_n
        return counts / 2.0 if gain == 64 else counts
