"""The simulated board waits in FreeRTOS ticks, as an ESP32 does: a poll with a timeout (and so
asyncio.sleep_ms) ends on the first 10 ms tick boundary after it expires; fast mode leaves
timeouts as asked."""

from __future__ import annotations

import ast


def test_a_poll_timeout_ends_on_the_next_10_ms_tick(sim_run):
    result = sim_run(
        """
import asyncio, select, time
out = [select._to_tick(4, 1003), select._to_tick(4, 1006), select._to_tick(10, 1000),
       select._to_tick(0, 1003), select._to_tick(-1, 1003), type(select.poll()).__name__]

async def nap():
    start_ms = time.ticks_ms()
    start = time.ticks_us()
    await asyncio.sleep_ms(4)
    return time.ticks_diff(time.ticks_us(), start), select._to_tick(4, start_ms)

took_us, tick_ms = asyncio.run(nap())
out += [took_us >= (tick_ms - 1) * 1000, tick_ms >= 4]
print(repr(out))
""",
        env={"ANKLET_SIM_TICK_MS": "10"},
    )
    assert result.returncode == 0, result.stderr
    out = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert out[:5] == [7, 4, 10, 0, -1]  # 1007 → 1010; 1010 is a tick; no wait, forever stay
    assert out[5] == "_TickPoll"
    assert out[6:] == [True, True]  # asyncio.sleep_ms(4) lasted until the tick, not 4 ms


def test_fast_mode_polls_as_asked(sim_run):
    result = sim_run(
        "import select; print(select._to_tick(4, 1003), type(select.poll()).__name__)",
        env={"ANKLET_SIM_TICK_MS": "0"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["4", "poll"]
