"""firmware/hx711.py under MicroPython against the simulated board's pin-level HX711."""

from __future__ import annotations

import pytest

G = 9.80665

PRELUDE = """
import json, time
from machine import Pin
import world
from hx711 import HX711
w = world.get()
chip = w.hx711
rate_pin = Pin(23, Pin.OUT, value=%d)
hx = HX711(Pin(18, Pin.OUT, value=0), Pin(19, Pin.IN))


def wait_ready(limit_ms=1000):
    start = time.ticks_ms()
    while not hx.is_ready():
        if time.ticks_diff(time.ticks_ms(), start) > limit_ms:
            return -1
        time.sleep_us(200)
    return time.ticks_diff(time.ticks_ms(), start)


def read(n):
    out = []
    for _ in range(n):
        if wait_ready() < 0:
            break
        out.append(hx.read_raw())
    return out
"""

STILL = "still:mass=2.0,noise=0,seed=4"
LOADCELL = {"offset_counts": -52000, "counts_per_n": 9000, "noise_counts": 60}


def run(sim_run, code, rate_high=1, faults=None):
    return sim_run.json(
        PRELUDE % rate_high + code,
        config={"motion": STILL, "loadcell": LOADCELL, "faults": faults or {}},
    )


def test_read_raw_gives_the_strap_force_within_noise(sim_run):
    out = run(
        sim_run, 'wait_ready(); print(json.dumps({"counts": read(20), "pd": chip.power_downs}))'
    )
    expected = -52000 + 9000 * 2.0 * G  # 2 kg at rest: the strap carries m g
    counts = out["counts"]
    assert len(counts) == 20
    assert out["pd"] == 0  # no clock pulse was stretched past 60 us
    mean = sum(counts) / len(counts)
    assert abs(mean - expected) < 4 * 60 / len(counts) ** 0.5 + 1
    assert all(abs(c - expected) < 5 * 60 for c in counts)


def test_negative_counts_come_back_signed(sim_run):
    code = """
chip.offset_counts = -3000000
wait_ready(); read(1)   # the conversion latched before the change
print(json.dumps(read(3)))
"""
    out = run(sim_run, code)
    assert all(-3000000 + 176000 - 400 < c < -3000000 + 177000 + 400 for c in out), out


def test_gain_pulses_select_channel_and_gain_for_the_next_conversion(sim_run):
    code = """
res = {}
res["a128"] = read(2)
hx.set_gain(64)
res["still128"] = read(1)     # its pulses select gain 64 for what follows
res["settle_ms"] = wait_ready()
res["gain_after"] = chip.gain
res["a64"] = read(2)
hx.set_gain(32)
read(1)
res["b32"] = read(2)
res["chip_gain"] = chip.gain
print(json.dumps(res))
"""
    out = run(sim_run, code)
    a = -52000 + 9000 * 2.0 * G
    assert all(abs(c - a) < 400 for c in out["a128"] + out["still128"])
    assert out["gain_after"] == 64
    assert out["settle_ms"] >= 35  # a new gain settles for 4 conversions (50 ms at 80 Hz)
    assert all(abs(c - a / 2) < 400 for c in out["a64"])
    assert out["chip_gain"] == 32
    assert all(abs(c - 1500) < 100 for c in out["b32"])  # channel B: nothing wired


def test_clock_held_high_powers_down_then_power_up_resettles_at_gain_128(sim_run):
    code = """
hx.set_gain(64)
read(2)
hx.power_down()
time.sleep_ms(5)
down_ready = hx.is_ready()
w.clock.freeze()  # the chip's time moves in the test's 1 ms steps, whatever the PC does
hx.power_up()
res = {"down_ready": down_ready, "pd": chip.power_downs, "gain": chip.gain}
settle_ms = 0
while not hx.is_ready() and settle_ms < 1000:
    w.clock.advance(1000)
    settle_ms += 1
res["settle_ms"] = settle_ms
w.clock.thaw()
hx.set_gain(128)
res["counts"] = read(2)
print(json.dumps(res))
"""
    out = run(sim_run, code)
    assert out["down_ready"] is False
    assert out["pd"] == 1
    assert out["gain"] == 128  # power-up resets to channel A, gain 128
    assert out["settle_ms"] == 50  # settling: 4 periods at 80 Hz
    assert all(abs(c - (-52000 + 9000 * 2.0 * G)) < 400 for c in out["counts"])


def test_rate_pin_selects_10_or_80_hz(sim_run):
    # The spacing of the conversions read, on the chip's own clock (when each was converted):
    # a reader the machine delays may skip one, never make them come faster or slower.
    code = """
res = {}
for level in (1, 0):
    rate_pin.value(level)
    wait_ready(); read(1)
    times = []
    for _ in range(5):
        read(1)
        times.append(chip.last_read[0])
    res[str(level)] = [round((b - a) * 1000, 3) for a, b in zip(times, times[1:])]
print(json.dumps(res))
"""
    out = run(sim_run, code)
    for level, period_ms in (("1", 12.5), ("0", 100.0)):  # RATE high: 80 Hz, low: 10 Hz
        gaps = out[level]
        assert len(gaps) == 4
        assert min(gaps) == pytest.approx(period_ms, abs=0.01), gaps
        assert all(g / period_ms == pytest.approx(round(g / period_ms), abs=1e-3) for g in gaps)


def test_never_ready_fault_keeps_dout_high(sim_run):
    out = run(
        sim_run,
        'print(json.dumps({"wait": wait_ready(300)}))',
        faults={"hx711_never_ready": True},
    )
    assert out["wait"] == -1


def test_a_read_slower_than_a_conversion_period_stays_whole(sim_run):
    # A reader stalled mid-read (a GC, a busy core) while the next conversion completes: that
    # conversion waits for the read to end, and the reads after it are whole, at gain 128.
    # (The chip model once marked it ready mid-read and let the driver start a second read on
    # the first one's trailing pulses: counts near 0, then a conversion at gain 64.)
    # Each pulse with interrupts off, as the driver makes them: on a busy PC the scheduler may
    # stall the interpreter inside a pulse, and only such a pulse is not a power-down then.
    code = """
import machine
sck = Pin(18, Pin.OUT)
dout = Pin(19, Pin.IN)

def pulse():
    state = machine.disable_irq()
    sck.value(1); sck.value(0)
    machine.enable_irq(state)

wait_ready()
value = 0
for _ in range(24):
    pulse()
    value = (value << 1) | dout.value()
    time.sleep_us(700)              # 24 x 0.7 ms: longer than the 12.5 ms period
pulse()                             # the 25th pulse: channel A, gain 128 next
if value & 0x800000:
    value -= 0x1000000
print(json.dumps({"slow": value, "then": read(6), "gain": chip.gain, "pd": chip.power_downs}))
"""
    out = run(sim_run, code)
    expected = -52000 + 9000 * 2.0 * G
    assert out["pd"] == 0  # only the low phases were long
    assert abs(out["slow"] - expected) < 400
    assert len(out["then"]) == 6
    assert all(abs(c - expected) < 400 for c in out["then"]), out["then"]
    assert out["gain"] == 128


def test_a_pulse_with_interrupts_off_is_stretched_only_by_a_sleep_in_it(sim_run):
    # On an ESP32 nothing can stretch a clock pulse made with interrupts disabled; a sleep in
    # it can (the bug a driver could have). The PC's scheduler can stall the interpreter for
    # milliseconds anywhere (modelled here by a 3 ms wait that is not a sleep): not a
    # power-down, or a busy machine would read 0x3FFFFF-like garbage no board ever reads.
    code = """
import machine
sck = Pin(18, Pin.OUT)
res = {}
wait_ready(); read(1)
state = machine.disable_irq()
sck.value(1)
t0 = time.ticks_us()
while time.ticks_diff(time.ticks_us(), t0) < 3000:
    pass
sck.value(0)
machine.enable_irq(state)
res["stalled"] = chip.power_downs
state = machine.disable_irq()
sck.value(1)
time.sleep_us(200)
sck.value(0)
machine.enable_irq(state)
res["slept"] = chip.power_downs
print(json.dumps(res))
"""
    out = run(sim_run, code)
    assert out == {"stalled": 0, "slept": 1}
