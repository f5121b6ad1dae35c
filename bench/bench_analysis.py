"""Analysis speed (one hour of 1000 Hz data), rep-count accuracy on the real UCI recordings, and
jump timing against the simulated board's jump motion (whose events are the truth)."""

from __future__ import annotations

import time

import numpy as np
from anklet.analysis import OnlineRepDetector, analyze, find_jumps
from anklet.analysis.evaluate import DEFAULT_DATA, evaluate
from anklet.analysis.loading import ImuRecording
from anklet.analysis.synthetic import SyntheticSession, random_rotation
from anklet_sim import motion as sim_motion

from bench.figure import Figure

AREA = "analysis"


def _hour_at_1000hz() -> tuple[ImuRecording, int]:
    rng = np.random.default_rng(0)
    session = SyntheticSession(rate_hz=1000.0, mount=random_rotation(rng))
    reps = 0
    while session_seconds(reps + 12) <= 3600:
        session.rest(60).set(12, rom_deg=40, up_s=1.0, hold_s=2.0, down_s=1.5).walk(20)
        reps += 12
    session.rest(3600 - session_seconds(reps) + 1)
    rec, truth = session.build(rng)
    return rec, len(truth)


def session_seconds(reps: int) -> float:
    return (reps // 12) * (60 + 12 * (1.0 + 2.0 + 1.5 + 1.0) + 20)


def _naive_loop_s(rec: ImuRecording, seconds: float) -> float:
    """Per-sample Python loop (a running mean of |gyro|) over `seconds`, scaled to the file."""
    n = int(seconds * 1000)
    gyro = rec.gyro_dps[:n].tolist()
    start = time.perf_counter()
    acc = 0.0
    for gx, gy, gz in gyro:
        acc = 0.99 * acc + 0.01 * (gx * gx + gy * gy + gz * gz) ** 0.5
    return (time.perf_counter() - start) * len(rec.t_s) / n


def _jump_errors_ms(rate_hz: float, seed: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """|error| of take-offs and landings, |error| of contact times, jumps found, jumps made."""
    source = sim_motion.from_spec(f"jumps:series=2,jumps=10,fade=0.02,rest=6,seed={seed}")
    t, x = sim_motion.sampled(source, rate_hz, source.length_s)
    found = [j for s in find_jumps(ImuRecording(t, x[:, :3], x[:, 3:6])) for j in s.jumps]
    truth = source.events()
    if len(found) != len(truth):
        return np.zeros(0), np.zeros(0), len(found), len(truth)
    edges = np.array(
        [[j.takeoff_s - a, j.landing_s - b] for j, (a, b) in zip(found, truth, strict=True)]
    )
    contact = [
        j.contact_s - (now[0] - prev[1])
        for j, prev, now in zip(found[1:], truth, truth[1:], strict=False)
        if j.contact_s is not None
    ]
    return np.abs(edges).ravel() * 1e3, np.abs(contact) * 1e3, len(found), len(truth)


def _jump_figures() -> list[Figure]:
    figures = []
    for rate in (100, 200, 1000):
        runs = [_jump_errors_ms(rate, seed) for seed in (1, 2, 3)]
        edges = np.concatenate([r[0] for r in runs])
        contact = np.concatenate([r[1] for r in runs])
        found, made = sum(r[2] for r in runs), sum(r[3] for r in runs)
        figures.append(
            Figure(
                AREA,
                f"jumps at {rate} Hz: take-off/landing error, max (ms)",
                f"{edges.max():.1f}" if edges.size else "n/a",
                f"{found} of {made} jumps found; contact time error max "
                f"{contact.max() if contact.size else float('nan'):.1f} ms; "
                f"sample period {1000 / rate:.0f} ms",
                "<= 1 sample + 4 ms",
            )
        )
    return figures


def run() -> list[Figure]:
    rec, true_reps = _hour_at_1000hz()
    start = time.perf_counter()
    result = analyze(rec)
    elapsed = time.perf_counter() - start
    figures = [
        Figure(
            AREA,
            "analyse 1 h of 1000 Hz IMU (s)",
            f"{elapsed:.2f}",
            f"x{3600 / elapsed:.0f} real time; a bare per-sample Python loop: "
            f"{_naive_loop_s(rec, 60):.1f} s",
            "< 2 s",
        ),
        Figure(
            AREA,
            "throughput (samples/s)",
            f"{len(rec.t_s) / elapsed / 1e6:.1f} M",
            f"{len(rec.t_s) / 1e6:.2f} M samples",
        ),
        Figure(AREA, "reps found in that hour", f"{result.total_reps}", f"{true_reps} made", "all"),
        Figure(AREA, "jumps found in that hour", f"{result.total_jumps}", "none made", "0"),
    ]
    figures += _jump_figures()
    # Online: ten minutes fed in 20 ms blocks, as the logger would.
    n = 600_000
    det = OnlineRepDetector()
    start = time.perf_counter()
    for i in range(0, n, 20):
        det.feed(rec.t_s[i : i + 20], rec.acc_ms2[i : i + 20], rec.gyro_dps[i : i + 20])
    online = det.finish()
    elapsed = time.perf_counter() - start
    figures.append(
        Figure(
            AREA,
            "online, 10 min of 1000 Hz in 20 ms blocks (s)",
            f"{elapsed:.1f}",
            f"real time x{600 / elapsed:.0f}; {online.total_reps} reps",
            "< 600 s (real time)",
        )
    )
    if (DEFAULT_DATA / "labels_sets.csv").is_file():
        ev = evaluate(DEFAULT_DATA)
        for row in ev.rows:
            figures.append(
                Figure(
                    AREA,
                    f"UCI {row.location}: sets within ±1 rep ({row.sets} sets)",
                    f"{row.within_one_pct:.1f} %",
                    "91-93 % (published, wrist/ankle/forearm)",
                    ">= 97 %",
                )
            )
            figures.append(
                Figure(AREA, f"UCI {row.location}: mean abs error per set", f"{row.mae_reps:.2f}")
            )
        figures.append(
            Figure(
                AREA,
                "UCI negative controls: reps on a resting leg",
                f"{ev.negative_control_reps}",
                f"{ev.negative_control_recordings} arm-exercise recordings",
                "0",
            )
        )
        figures.append(
            Figure(AREA, "UCI: jumps found (nobody jumps)", f"{ev.false_jumps}", "33 files", "0")
        )
    return figures
