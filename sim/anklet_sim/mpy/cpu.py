# The simulated board's CPU pace: the firmware's own code runs as slowly as on an ESP32_GENERIC
# at 160 MHz, while the emulated hardware (sensors, bus, radio model) costs nothing, as real
# hardware does.
#
#     import cpu
#     cpu.enter()      # machine/select call in: the firmware ran since the last leave()
#     ... emulation ...
#     cpu.leave()      # back to the firmware
#
# How: the interpreter counts the work it does (the `ankletwork` module, built into the
# simulated board's MicroPython by sim/build_micropython.py: MicroPython's own VM hooks count
# every frame entered or resumed, every branch taken and every return, and the linker wraps
# mp_call_function_n_kw to count every call). Between a leave() and the next enter() the
# interpreter ran firmware code: enter() charges its events at NS_PER_EVENT, the ESP32's time per
# event, and sleeps what of that this PC has not already spent. NS_PER_EVENT comes from pystone
# (anklet_sim/cpu.py: the ESP32's pystone time over the events a pystone pass makes); unset or
# 0 ($ANKLET_SIM_ESP32_NS_PER_EVENT): no pacing (fast mode).
#
# Why events, not this PC's CPU clock: code that runs in short pieces between waits (asyncio, all
# of this firmware) costs a PC several times more CPU per piece than the same code run back to
# back (cold caches after each sleep), and the CPU-clock model charged an asyncio task switch 47x
# what an ESP32 takes (docs/HIL.md, "The CPU model"). Events are the same on any PC, loaded or
# idle. What they miss: straight-line code between two events costs the same whatever its length,
# and a native function (struct, memoryview, a viper function) is one call.
#
# The debt is paid in sleeps of at least 1 ms; the PC's own time running the code since leave()
# is taken off (on a loaded PC that is more, and the sleep less), and a sleep the PC makes longer
# than asked is credited to the next debt, up to _CREDIT_MAX_US, so host load does not make the
# modelled ESP32 slower.
import os
import sys
import time

try:
    import ankletwork
except ImportError:  # an interpreter built without it (make setup rebuilds): no pacing
    ankletwork = None

NS_PER_EVENT = int(os.getenv("ANKLET_SIM_ESP32_NS_PER_EVENT") or 0)
ON = NS_PER_EVENT > 0 and ankletwork is not None
# The ESP32's heap model (simboot.py, heap_model.c): what the emulated hardware allocates goes to
# its own area, not the firmware's heap. enter() and leave() say when it runs, paced or not.
HEAP = bool(os.getenv("ANKLET_SIM_HEAP")) and ankletwork is not None
TRACK = ON or HEAP
_CREDIT_MAX_US = 10000
_CALIBRATION_CALLS = 31
overhead_events = 0  # the model's own events per hardware call (start() counts them)
calls = 0  # hardware calls paid for
_left_events = 0
_left_us = 0
_measuring = False
_last_ran = 0
_owed_us = 0
_depth = 0
slept_us = 0  # total pacing sleep, for the bench's figures
events = 0  # total firmware events charged: ESP32 busy time = events * NS_PER_EVENT
_REPORT_MS = 2000  # a "cpu:" line on stderr (the board's log) this often, for the bench
_report_at = 0
_start_ms = 0


def enter():
    """Emulation starts: pay for the firmware code that ran since leave(), as ESP32 time;
    returns the µs slept."""
    global _owed_us, _depth, slept_us, calls, _last_ran
    if not TRACK:
        return 0
    _depth += 1
    if _depth > 1:
        return 0
    if HEAP:
        ankletwork.hardware(True)
    if not ON:
        return 0
    ran = ankletwork.events() - _left_events
    _last_ran = ran
    if _measuring:
        return 0
    calls += 1
    ran -= overhead_events
    if ran > 0:
        _owed_us += ran * NS_PER_EVENT // 1000 - time.ticks_diff(time.ticks_us(), _left_us)
        _account(ran)
    if _owed_us >= 1000:
        owed = _owed_us
        t0 = time.ticks_us()
        time.sleep_us(owed)
        slept = time.ticks_diff(time.ticks_us(), t0)
        slept_us += slept
        _owed_us = owed - slept  # <= 0: the host overslept, the next debt is that much less
        if _owed_us < -_CREDIT_MAX_US:
            _owed_us = -_CREDIT_MAX_US
        return slept
    if _owed_us < -_CREDIT_MAX_US:
        _owed_us = -_CREDIT_MAX_US
    return 0


def _account(ran):
    global events, _report_at
    events += ran
    now = time.ticks_ms()
    if time.ticks_diff(now, _report_at) >= 0:
        _report_at = time.ticks_add(now, _REPORT_MS)
        # wall and ESP32-busy ms since start(): the bench's idle fraction is 1 - busy/wall
        sys.stderr.write(
            "cpu: wall_ms=%d busy_ms=%d calls=%d overhead_events=%d\n"
            % (
                time.ticks_diff(now, _start_ms),
                events * NS_PER_EVENT // 1000000,
                calls,
                overhead_events,
            )
        )


def leave():
    global _left_events, _left_us, _depth
    if not TRACK:
        return
    _depth -= 1
    if _depth <= 0:
        _depth = 0
        if HEAP:
            ankletwork.hardware(False)
        _left_us = time.ticks_us()
        _left_events = ankletwork.events()


def start():
    """Begin pacing from now (simboot calls it just before the firmware runs)."""
    global _left_events, _left_us, _start_ms, _report_at
    if not ON:
        return
    _start_ms = _report_at = time.ticks_ms()
    _measure_overhead()
    _left_us = time.ticks_us()
    _left_events = ankletwork.events()


def _nothing():
    pass


def _measure_overhead():
    """The model's own events per hardware call: what enter() sees after an empty wrapped call
    (the same every time: events do not depend on the PC)."""
    global overhead_events, _measuring
    call = _free_call(_nothing)
    _measuring = True  # enter() notes the interval, charges nothing
    runs = []
    for _ in range(_CALIBRATION_CALLS):
        call()
        call()  # the interval this call's enter() sees is one whole call's overhead
        runs.append(_last_ran)
    runs.sort()
    overhead_events = runs[len(runs) // 2]
    _measuring = False


def _free_call(fn):
    def call(*args, **kwargs):
        enter()
        try:
            return fn(*args, **kwargs)
        finally:
            leave()

    return call


def free_imports(paid=("boot", "main")):
    """Make `import` free: compiling a module's source is what mpy-cross does on the PC before a
    board gets the code (anklet deploy sends .mpy), and loading a .mpy is a matter of
    milliseconds there. Here the firmware is imported from source; its compiler runs no
    bytecode, but the module's top-level code does, and it only defines functions, classes and
    constants. The modules `paid` are the exception: the application runs in their top-level
    code."""
    if not ON:
        return
    import builtins

    real = builtins.__import__

    def imported(*args):
        if args[0] in paid:
            return real(*args)
        enter()
        if HEAP:
            ankletwork.hardware(False)  # the module's code and objects are the firmware's
        try:
            return real(*args)
        finally:
            leave()

    builtins.__import__ = imported
