"""The online rep detector's cost (synthetic 1000 Hz data, the first minutes of bench_analysis's
hour): fed in 20 ms blocks as the logger does, and sample by sample, the worst case a caller
can choose. `python -m bench online` runs these alone; `python -m bench analysis` includes them.
"""

from __future__ import annotations

import time

from anklet.analysis import OnlineRepDetector
from anklet.analysis.loading import ImuRecording

from bench.figure import Figure

AREA = "analysis"


def _feed(rec: ImuRecording, seconds: int, block: int) -> tuple[float, int]:
    """Seconds taken to feed the first `seconds` of `rec` in `block`-sample blocks; reps."""
    n = seconds * 1000
    det = OnlineRepDetector()
    start = time.perf_counter()
    for i in range(0, n, block):
        det.feed(rec.t_s[i : i + block], rec.acc_ms2[i : i + block], rec.gyro_dps[i : i + block])
    online = det.finish()
    return time.perf_counter() - start, online.total_reps


def online_figures(rec: ImuRecording) -> list[Figure]:
    blocks_s, blocks_reps = _feed(rec, 600, 20)
    single_s, single_reps = _feed(rec, 150, 1)  # the first set, reps and rests
    return [
        Figure(
            AREA,
            "online, 10 min of 1000 Hz in 20 ms blocks (s)",
            f"{blocks_s:.1f}",
            f"real time x{600 / blocks_s:.0f}; {blocks_reps} reps",
            "< 600 s (real time)",
        ),
        Figure(
            AREA,
            "online, 150 s of 1000 Hz fed sample by sample (s)",
            f"{single_s:.1f}",
            f"real time x{150 / single_s:.0f}; {single_reps} reps",
            "< 150 s (real time)",
        ),
    ]


def run() -> list[Figure]:
    from bench.bench_analysis import hour_at_1000hz

    rec, _ = hour_at_1000hz()
    return online_figures(rec)
