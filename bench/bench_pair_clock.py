"""Two boards on one clock: how far the pair session's fitted offset between the boards' clocks is
from the truth, on simulated boards over serial and over BLE (issue 15: under 2 ms).

    .venv/bin/python -m bench pair_clock     # BENCH_PAIR_RUNS sessions per link (3): serial 10 s,
                                             # BLE 10 s and 15 s (the tests' lengths)

Each simulated board's ticks run a known offset ahead of the PC's monotonic clock (the sim option
clock_offset_us): the truth. The reference is the same offset from the recorders' own fits (the
pings of each board's first two seconds, what its samples.csv t_s is on), before the pair's
refinement (pair_session.refit): the figure shows what the refinement buys.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import numpy as np

from bench.figure import Figure

AREA = "pair clock"
OFFSETS_US = {"left": 1_500_000, "right": 2_750_321}
MOTION = "leg-raise:sets=1,reps=4,rom=60,up=0.6,hold=0.2,down=0.7,pause=0.2,rest=5,lead=1,seed=7"


async def _one(scheme: str, tmp: Path, seconds: float) -> tuple[float, float, float]:
    """|error| of the pair's offset, |error| of the recorders' offset, the reported bound (ms)."""
    from anklet.pair_session import clock_offset, record_pair, recorded_fit, wrapped_us

    devs = {
        s: f"{scheme}?id={i}&clock_offset_us={OFFSETS_US[s]}"
        for i, s in ((1, "left"), (2, "right"))
    }
    result = await record_pair(devs, tmp / "sessions", duration_s=seconds)
    assert result.clock is not None
    truth_us = OFFSETS_US["right"] - OFFSETS_US["left"]
    pair_err = abs(wrapped_us(result.clock.right_minus_left_s * 1e6 - truth_us)) / 1e3
    fits = [recorded_fit(result.sides[side].folder) for side in ("left", "right")]
    assert fits[0] is not None and fits[1] is not None
    mid = result.clock.at_host_s
    recorded = clock_offset(fits[0], fits[1], mid, mid)
    rec_err = abs(wrapped_us(recorded.right_minus_left_s * 1e6 - truth_us)) / 1e3
    return pair_err, rec_err, result.clock.bound_s * 1e3


def run() -> list[Figure]:
    runs = int(os.environ.get("BENCH_PAIR_RUNS", "3"))
    figures = []
    for scheme, link, seconds in (
        ("sim", "serial", 10),
        ("sim:ble", "BLE", 10),
        ("sim:ble", "BLE", 15),
    ):
        rows = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                os.environ["ANKLET_DATA_DIR"] = str(Path(tmp) / "data")  # fresh flash and bonds
                rows.append(asyncio.run(_one(scheme, Path(tmp), seconds)))
        pair, rec, bound = (np.array(c) for c in zip(*rows, strict=True))
        figures.append(
            Figure(
                AREA,
                f"offset error, {link}, {runs} sessions of {seconds} s (simulated, ESP32 model)",
                f"max {pair.max():.2f} ms, mean {pair.mean():.2f} ms (bound {bound.mean():.1f} ms)",
                f"recorders' fits: max {rec.max():.2f} ms, mean {rec.mean():.2f} ms",
                "< 2 ms",
            )
        )
    return figures


if __name__ == "__main__":
    for fig in run():
        print(fig)
