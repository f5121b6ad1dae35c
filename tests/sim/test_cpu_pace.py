"""The simulated board's CPU pace: the interpreter counts its work (the `ankletwork` module: frames
entered, branches, returns, calls), the firmware's events are paid for at the ESP32's time per
event, work inside emulated hardware calls is free, as silicon is. Counts, not this PC's clock:
the same code is charged the same on any PC, loaded or idle."""

from __future__ import annotations

import ast

NS = 10_000  # ESP32 ns per event for these tests (the calibrated figure is ~9 950)


def test_the_interpreter_counts_calls_branches_and_returns(sim_run):
    result = sim_run(
        """
import ankletwork
def f():
    return 1
a = ankletwork.counts()
for i in range(1000):
    f()
b = ankletwork.counts()
print(repr([y - x for x, y in zip(a, b)]))
"""
    )
    assert result.returncode == 0, result.stderr
    entries, branches, returns, calls = ast.literal_eval(result.stdout.strip())
    # 1000 calls of f: each enters a frame, returns and is a call; the loop branches each turn
    # (plus the one call to ankletwork.counts that the second reading sits in).
    assert entries == 1000
    assert returns == 1000
    assert 1000 <= calls <= 1002
    assert 1000 <= branches <= 1002


def test_firmware_code_is_paid_for_and_hardware_calls_are_free(sim_run):
    result = sim_run(
        """
import cpu, pystone, time, ankletwork
t0 = time.ticks_us()
cpu.start()
cpu.enter()
cpu.leave()
before = ankletwork.events()
pystone.pystones(300)           # firmware code: paid for at the next call into the hardware
ran = ankletwork.events() - before
cpu.enter()
paid = cpu.events
pystone.pystones(300)           # inside a hardware call: free
cpu.leave()
cpu.enter()
elapsed_us = time.ticks_diff(time.ticks_us(), t0)
print(repr([ran, paid, cpu.events - paid, elapsed_us, cpu.overhead_events]))
""",
        env={"ANKLET_SIM_ESP32_NS_PER_EVENT": str(NS)},
    )
    assert result.returncode == 0, result.stderr
    ran, paid, free, elapsed_us, overhead = ast.literal_eval(result.stdout.strip())
    assert ran > 300 * 50  # pystone makes ~94 events a pass
    assert abs(paid - ran) <= overhead + 2  # what ran is what was charged, to the event
    assert free == 0  # the second pystone ran inside a hardware call
    # The board's clock went at least as far as the ESP32 needs for what was charged (sleeps
    # last at least what they ask; up to 1 ms may still be owed).
    assert elapsed_us >= paid * NS // 1000 - 1000


def test_the_same_code_is_charged_the_same_every_time(sim_run):
    result = sim_run(
        """
import cpu, pystone
cpu.start()
charged = []
for _ in range(5):
    before = cpu.events
    pystone.pystones(20)
    cpu.enter()
    cpu.leave()
    charged.append(cpu.events - before)
print(repr(charged))
""",
        env={"ANKLET_SIM_ESP32_NS_PER_EVENT": str(NS)},
    )
    assert result.returncode == 0, result.stderr
    charged = ast.literal_eval(result.stdout.strip())
    assert charged[0] > 20 * 50
    assert len(set(charged[1:])) == 1  # the first may differ: pystone's globals warm up


def test_without_a_time_per_event_nothing_is_paced(sim_run):
    result = sim_run(
        "import cpu, pystone\ncpu.start()\npystone.pystones(500)\ncpu.enter()\n"
        "print(cpu.ON, cpu.slept_us, cpu.events)",
        env={"ANKLET_SIM_ESP32_NS_PER_EVENT": "0"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "0", "0"]


def test_the_models_own_cost_per_hardware_call_is_not_charged(sim_run):
    result = sim_run(
        """
import cpu
cpu.start()
before = cpu.events
for _ in range(500):
    cpu.enter()                # back-to-back hardware calls: no firmware code between them
    cpu.leave()
print(repr([cpu.overhead_events, cpu.events - before]))
""",
        env={"ANKLET_SIM_ESP32_NS_PER_EVENT": str(NS)},
    )
    assert result.returncode == 0, result.stderr
    overhead, charged = ast.literal_eval(result.stdout.strip())
    assert overhead > 0
    # Only the loop's own branch and calls are firmware code here, ~3 events a turn;
    # unsubtracted, each turn would also charge the model's overhead.
    assert charged <= 500 * 4


def test_importing_is_free_but_main_runs_paced(sim_run, tmp_path):
    (tmp_path / "bulky.py").write_text(
        "TABLE = [i * i for i in range(20000)]\n"  # top-level work, as compiling is on a PC
    )
    code = """
import sys
sys.path.insert(0, PATH)
import cpu
cpu.free_imports()
cpu.start()
import bulky
cpu.enter()
cpu.leave()
print(cpu.events)
"""
    result = sim_run(
        code.replace("PATH", repr(str(tmp_path))),
        env={"ANKLET_SIM_ESP32_NS_PER_EVENT": str(NS)},
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) < 100  # the import's 20 000-turn loop cost none
