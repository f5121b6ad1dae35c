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
# the main thread's CPU time and sleeps (FACTOR - 1) times what the firmware used: its wall time
# is then what the ESP32 would have needed. FACTOR = this host's pystones per CPU second / the
# ESP32's (see anklet_sim/cpu.py for the calibration and its reference); $ANKLET_SIM_CPU_FACTOR,
# unset or <= 1: no pacing (fast mode).
#
# The thread's CPU clock: /proc/thread-self/schedstat's first field (sum_exec_runtime) is only
# brought up to date at scheduler events; while the thread runs it lags by up to one kernel tick
# (4 ms at HZ=250, measured here), and x FACTOR (~400) that lag became a lump of up to 1.6 s of
# "ESP32 time" charged at one hardware call: the firmware stood still that long, and the IMU's
# FIFO overflowed at 200 Hz with the CPU 16 % idle (issue 12). Reading /proc/self/stat first
# makes the kernel account the calling thread's pending run time (kernel/sched/cputime.c,
# thread_group_cputime -> task_sched_runtime(current)); schedstat is then exact to a few µs,
# like clock_gettime(CLOCK_THREAD_CPUTIME_ID), which the unix port does not offer.
# The model's own cost: from the clock reading in leave() to the one in the next enter() the
# thread also runs the model (the wrapper's return and call, enter()'s head, one /proc read, ~25
# µs here): charged at the pace it would be ~10 ms of "ESP32 time" per hardware call, and the
# HX711's bit-banging makes ~6000 calls a second. start() measures that cost (median of
# _CALIBRATION_CALLS calls of an empty wrapped function) and enter() takes it off each interval.
# The debt is paid in sleeps of at least 1 ms (sleeping burns no CPU); a sleep the host makes
# longer than asked (a loaded machine wakes the thread late) is credited to the next debt,
# up to _CREDIT_MAX_US, so host load does not make the modelled ESP32 slower.
import os
import sys
import time

FACTOR = float(os.getenv("ANKLET_SIM_CPU_FACTOR") or 0)
_ON = FACTOR > 1.0
_EXTRA_X1024 = int((FACTOR - 1.0) * 1024) if _ON else 0  # integers from here: no allocation
_buf = bytearray(64)
_stat = None
_group = None  # /proc/self/stat: reading it updates the thread's schedstat
_CREDIT_MAX_US = 10000
_CALIBRATION_CALLS = 301
overhead_ns = 0  # the model's own cost per hardware call (start() measures it)
calls = 0  # hardware calls paid for
_last_ran_ns = 0
_measuring = False
_left_ns = 0
_owed_us = 0
_depth = 0
slept_us = 0  # total pacing sleep, for the bench's figures
used_ns = 0  # total firmware CPU (host ns): ESP32 busy time = used_ns * FACTOR
_REPORT_MS = 2000  # a "cpu:" line on stderr (the board's log) this often, for the bench
_report_at = 0
_start_ms = 0


def _cpu_ns():
    _group.seek(0)
    _group.readinto(_buf)  # its content is not used: the read brings the clock up to date
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
    global _owed_us, _depth, slept_us, calls, _last_ran_ns
    if not _ON:
        return 0
    _depth += 1
    if _depth > 1:
        return 0
    ran_ns = _cpu_ns() - _left_ns
    _last_ran_ns = ran_ns
    if _measuring:
        return 0
    calls += 1
    ran_ns -= overhead_ns
    if ran_ns > 0:
        _owed_us += ran_ns * _EXTRA_X1024 // 1024000
        _account(ran_ns)
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
    return 0


def _account(ran_ns):
    global used_ns, _report_at
    used_ns += ran_ns
    now = time.ticks_ms()
    if time.ticks_diff(now, _report_at) >= 0:
        _report_at = time.ticks_add(now, _REPORT_MS)
        # wall and ESP32-busy ms since start(): the bench's idle fraction is 1 - busy/wall
        sys.stderr.write(
            "cpu: wall_ms=%d busy_ms=%d calls=%d overhead_ns=%d\n"
            % (
                time.ticks_diff(now, _start_ms),
                used_ns * _EXTRA_X1024 // 1024000000 + used_ns // 1000000,
                calls,
                overhead_ns,
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
    global _stat, _group, _left_ns, _ON, _start_ms, _report_at
    if not _ON:
        return
    _start_ms = _report_at = time.ticks_ms()
    try:
        _stat = open("/proc/thread-self/schedstat", "rb")
        _group = open("/proc/self/stat", "rb")
    except OSError:
        _ON = False  # not Linux: no per-thread CPU clock, no pacing
        return
    _left_ns = _cpu_ns()
    _measure_overhead()


def _nothing():
    pass


def _measure_overhead():
    """The model's cost per hardware call: what enter() sees after an empty wrapped call."""
    global overhead_ns, calls, _measuring
    call = _free_call(_nothing)
    _measuring = True  # enter() notes the interval, charges nothing
    runs = []
    for _ in range(_CALIBRATION_CALLS):
        call()
        call()  # the interval this call's enter() sees is one whole call's overhead
        runs.append(_last_ran_ns)
    runs.sort()
    overhead_ns = runs[len(runs) // 2]
    _measuring = False


def _free_call(fn):
    def call(*args, **kwargs):
        enter()
        try:
            return fn(*args, **kwargs)
        finally:
            leave()

    return call


def free(obj):
    """Make every public method of `obj` emulation (free CPU) rather than firmware code; an
    object whose methods cannot be replaced (a native one, such as the real bluetooth.BLE) is
    left as it is: False."""
    if not _ON:
        return True
    for name in dir(obj):
        if not name.startswith("_"):
            method = getattr(obj, name)
            if callable(method):
                try:
                    setattr(obj, name, _free_call(method))
                except AttributeError:
                    return False
    return True


def free_imports(paid=("boot", "main")):
    """Make `import` free: compiling a module's source is what mpy-cross does on the PC before a
    board gets the code (anklet deploy sends .mpy), and loading a .mpy is a matter of
    milliseconds there. Here the firmware is imported from source, which at the pace would cost
    ~15 s of "ESP32 time" at boot (35 ms of this PC's CPU x ~400). The module's top-level code
    runs free too; it only defines functions, classes and constants. The modules `paid` are the
    exception: the application runs in their top-level code."""
    if not _ON:
        return
    import builtins

    real = builtins.__import__

    def imported(*args):
        if args[0] in paid:
            return real(*args)
        enter()
        try:
            return real(*args)
        finally:
            leave()

    builtins.__import__ = imported


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
