"""The simulated board's CPU pace (cpu_pace=True): the firmware's own code is paid for in sleep,
(FACTOR - 1) times the CPU it used, measured on the thread's CPU clock (so a loaded machine does
not change it); work inside emulated hardware calls is free, as silicon is."""

from __future__ import annotations

import ast

import pytest


def test_firmware_code_is_paid_for_and_hardware_calls_are_free(sim_run):
    result = sim_run(
        """
import cpu, pystone
cpu.start()
before = cpu._cpu_ns()
pystone.pystones(3000)          # firmware code: paid for at the next call into the hardware
used_us = (cpu._cpu_ns() - before) // 1000
cpu.enter()
paid_us = cpu.slept_us
pystone.pystones(3000)          # inside a hardware call: free
cpu.leave()
cpu.enter()
print(repr([used_us, paid_us, cpu.slept_us - paid_us, cpu.FACTOR]))
""",
        env={"ANKLET_SIM_CPU_FACTOR": "101"},
    )
    assert result.returncode == 0, result.stderr
    used_us, paid_us, free_us, factor = ast.literal_eval(result.stdout.strip())
    assert factor == 101.0
    assert used_us > 1000
    assert paid_us / used_us == pytest.approx(100, rel=0.05)
    assert free_us < paid_us / 50  # only the few µs between leave() and enter()


def test_without_a_factor_nothing_is_paced(sim_run):
    result = sim_run(
        "import cpu, pystone\ncpu.start()\npystone.pystones(500)\ncpu.enter()\nprint(cpu.slept_us)",
        env={"ANKLET_SIM_CPU_FACTOR": "0"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0"]
