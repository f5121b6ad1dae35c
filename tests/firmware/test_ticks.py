"""Device time arithmetic (firmware/ticks.py) on the simulated board's 32-bit MicroPython, as on
an ESP32: right across the 2**30 wrap, and allocation-free there too. On a 32-bit build a small
int ends at 2**30 - 1; an intermediate beyond it is a heap allocation, which the sampler's hot
path must never make (the old diff() subtracted 2**30 and add() overflowed before masking:
both allocated whenever a time was behind another or wrapped)."""

from __future__ import annotations

import subprocess

from tests.conftest import FIRMWARE, micropython_command, micropython_path

PERIOD = 1 << 30
MASK = PERIOD - 1
HALF = PERIOD >> 1

ADD_CASES = [
    (0, 5), (MASK, 1), (MASK, -1), (0, -1), (MASK - 3, 10), (5, -(HALF - 1)),
    (MASK, HALF - 1), (123456, -123457), (HALF, HALF - 1), (HALF - 1, -(HALF - 1)),
]  # fmt: skip
DIFF_CASES = [
    (0, MASK), (MASK, 0), (5, 10), (10, 5), (0, HALF), (HALF - 1, 0), (7, 7), (HALF, 1),
]  # fmt: skip


def expected_diff(a: int, b: int) -> int:
    d = (a - b) % PERIOD
    return d - PERIOD if d >= HALF else d


def test_add_and_diff_wrap_at_2_30_and_allocate_nothing_on_a_32_bit_interpreter() -> None:
    cases = [f"add {a} {b}" for a, b in ADD_CASES] + [f"diff {a} {b}" for a, b in DIFF_CASES]
    result = subprocess.run(
        [micropython_command(), str(FIRMWARE.parent / "tests" / "firmware" / "mpy_ticks.py")],
        input="\n".join(cases) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={"MICROPYPATH": micropython_path(FIRMWARE)},
    )
    assert result.returncode == 0, result.stderr
    first, *lines = result.stdout.splitlines()
    assert first == f"maxsize {2**31 - 1}", "the simulated board's interpreter must be 32-bit"
    assert len(lines) == len(cases)
    for line in lines:
        op, a, b, got, allocated = line.split()
        x, y = int(a), int(b)
        want = (x + y) % PERIOD if op == "add" else expected_diff(x, y)
        assert int(got) == want, line
        assert allocated == "0", f"{op}({a}, {b}) allocated on a 32-bit interpreter"
