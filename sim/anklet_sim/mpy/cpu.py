# The simulated board's CPU pace: the firmware's own code runs as slowly as on an ESP32_GENERIC
# at 160 MHz, while the emulated hardware (sensors, bus, radio model) costs nothing, as real
# hardware does.
#
#     import cpu
#     cpu.enter()      # machine/select call in: the firmware ran since the last leave()
#     ... emulation ...
#     cpu.leave()      # back to the firmware
#
# How: between a leave() and the next enter() the interpreter ran firmware code. enter() reads
# the main thread's CPU time (/proc/thread-self/schedstat, so time other processes take does not
# count) and sleeps (FACTOR - 1) times what the firmware used: its wall time is then what the
# ESP32 would have needed. The debt is paid in sleeps of at least 1 ms (sleeping burns no CPU).
# FACTOR = this host's pystones per CPU second / the ESP32's (see anklet_sim/cpu.py for the
# calibration and its reference); $ANKLET_SIM_CPU_FACTOR, unset or <= 1: no pacing (fast mode).
import os
import sys
import time

FACTOR = float(os.getenv("ANKLET_SIM_CPU_FACTOR") or 0)
_ON = FACTOR > 1.0
_EXTRA_X1024 = int((FACTOR - 1.0) * 1024) if _ON else 0  # integers from here: no allocation
_buf = bytearray(64)
_stat = None
_left_ns = 0
_owed_us = 0
_depth = 0
slept_us = 0  # total pacing sleep, for the bench's figures
used_ns = 0  # total firmware CPU (host ns): ESP32 busy time = used_ns * FACTOR
_REPORT_MS = 2000  # a "cpu:" line on stderr (the board's log) this often, for the bench
_report_at = 0
_start_ms = 0


def _cpu_ns():
    _stat.seek(0)
    n = _stat.readinto(_buf)
    value = 0
    for i in range(n):  # the first field: ns this thread has run
        c = _buf[i]
        if c < 48 or c > 57:
            break
        value = value * 10 + c - 48
    return value


def enter():
    """Emulation starts: pay for the firmware code that ran since leave(), as ESP32 time;
    returns the µs slept."""
    global _owed_us, _depth, slept_us
    if not _ON:
        return 0
    _depth += 1
    if _depth > 1:
        return 0
    ran_ns = _cpu_ns() - _left_ns
    if ran_ns > 0:
        _owed_us += ran_ns * _EXTRA_X1024 // 1024000
        _account(ran_ns)
    if _owed_us >= 1000:
        owed = _owed_us
        _owed_us = 0
        slept_us += owed
        time.sleep_us(owed)
        return owed
    return 0


def _account(ran_ns):
    global used_ns, _report_at
    used_ns += ran_ns
    now = time.ticks_ms()
    if time.ticks_diff(now, _report_at) >= 0:
        _report_at = time.ticks_add(now, _REPORT_MS)
        # wall and ESP32-busy ms since start(): the bench's idle fraction is 1 - busy/wall
        sys.stderr.write(
            "cpu: wall_ms=%d busy_ms=%d\n"
            % (
                time.ticks_diff(now, _start_ms),
                used_ns * _EXTRA_X1024 // 1024000000 + used_ns // 1000000,
            )
        )


def leave():
    global _left_ns, _depth
    if not _ON:
        return
    _depth -= 1
    if _depth <= 0:
        _depth = 0
        _left_ns = _cpu_ns()


def start():
    """Begin pacing from now (simboot calls it just before the firmware runs)."""
    global _stat, _left_ns, _ON, _start_ms, _report_at
    if not _ON:
        return
    _start_ms = _report_at = time.ticks_ms()
    try:
        _stat = open("/proc/thread-self/schedstat", "rb")
    except OSError:
        _ON = False  # not Linux: no per-thread CPU clock, no pacing
        return
    _left_ns = _cpu_ns()


def _free_call(fn):
    def call(*args, **kwargs):
        enter()
        try:
            return fn(*args, **kwargs)
        finally:
            leave()

    return call


def free(obj):
    """Make every public method of `obj` emulation (free CPU) rather than firmware code."""
    if not _ON:
        return
    for name in dir(obj):
        if not name.startswith("_"):
            method = getattr(obj, name)
            if callable(method):
                setattr(obj, name, _free_call(method))


def free_functions(module_name, names):
    """Make the functions `names` of the module free CPU (they are imported now, once)."""
    if not _ON:
        return
    try:
        module = __import__(module_name)
    except ImportError:
        return
    for name in names:
        fn = getattr(module, name, None)
        if fn is not None:
            setattr(module, name, _free_call(fn))
