"""Analysis speed (one hour of 1000 Hz synthetic data), rep counts on real recordings by
leave-one-subject-out (uci_pt_legs + squat_shank), jump timing on real drop jumps against a
force plate (forsyth_dropjump), and jump timing on the simulated board's jump motion (whose
events are the truth; simulated data). Every figure's name says which data it ran on."""

from __future__ import annotations

import time

import numpy as np
from anklet.analysis import analyze, find_jumps
from anklet.analysis.evaluate import (
    DEFAULT_DATA,
    DROPJUMP_DATA,
    PUBLISHED_FLIGHT,
    SQUAT_DATA,
    dropjumps,
    loso,
)
from anklet.analysis.loading import ImuRecording
from anklet.analysis.synthetic import SyntheticSession, random_rotation
from anklet_sim import motion as sim_motion

from bench.bench_online import online_figures
from bench.figure import Figure

AREA = "analysis"


def hour_at_1000hz() -> tuple[ImuRecording, int]:
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
                f"simulated jumps at {rate} Hz: take-off/landing error, max (ms)",
                f"{edges.max():.1f}" if edges.size else "n/a",
                f"{found} of {made} jumps found; contact time error max "
                f"{contact.max() if contact.size else float('nan'):.1f} ms; "
                f"sample period {1000 / rate:.0f} ms",
                "<= 1 sample + 4 ms",
            )
        )
    return figures


def run() -> list[Figure]:
    rec, true_reps = hour_at_1000hz()
    start = time.perf_counter()
    result = analyze(rec)
    elapsed = time.perf_counter() - start
    figures = [
        Figure(
            AREA,
            "analyse 1 h of 1000 Hz synthetic IMU (s)",
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
        Figure(
            AREA, "synthetic hour: reps found", f"{result.total_reps}", f"{true_reps} made", "all"
        ),
        Figure(AREA, "synthetic hour: jumps found", f"{result.total_jumps}", "none made", "0"),
    ]
    figures += _jump_figures()
    figures += online_figures(rec)  # also alone: python -m bench online
    figures += _real_figures()
    return figures


def _real_figures() -> list[Figure]:
    """Figures on the real shared recordings (../shared/data), when they are there."""
    figures: list[Figure] = []
    if (DEFAULT_DATA / "labels_sets.csv").is_file() and (SQUAT_DATA / "labels_sets.csv").is_file():
        ev = loso(DEFAULT_DATA, SQUAT_DATA)
        names = {"shank": "UCI shank", "thigh": "UCI thigh", "squat": "squat_shank"}
        for row in ev.rows:
            figures.append(
                Figure(
                    AREA,
                    f"real, LOSO: {names[row.location]} sets within ±1 rep ({row.sets} sets)",
                    f"{row.within_one_pct:.1f} %",
                    f"mean abs error {row.mae_reps:.2f}/set; published 91-93 % (other sensors)",
                    ">= 97 %" if row.location != "thigh" else "",
                )
            )
        figures.append(
            Figure(
                AREA,
                "real, LOSO: reps on arm-exercise controls",
                f"{ev.control_reps}",
                f"{ev.control_recordings} UCI recordings, thigh unit",
                "0",
            )
        )
        figures.append(
            Figure(
                AREA,
                "real: jumps in leg-exercise and squat recordings",
                f"{ev.false_jumps}",
                "nobody jumps in them",
                "0",
            )
        )
    if (DROPJUMP_DATA / "labels.csv").is_file():
        trials = dropjumps(DROPJUMP_DATA)
        found = [t for t in trials if t.flight_ms is not None]

        def worst(values: list[float | None]) -> str:
            known = [abs(v) for v in values if v is not None]
            return f"{max(known):.1f}" if len(known) == len(trials) else "n/a"

        note = "forsyth_dropjump, 5 trials, tuned on them"
        for name, values, target in (
            ("take-off error, max (ms)", [t.takeoff_ms for t in trials], "<= 20"),
            ("landing error, max (ms)", [t.landing_ms for t in trials], "<= 20"),
            ("flight time error, max (ms)", [t.flight_ms for t in trials], "<= 15"),
            ("contact time error, max (ms)", [t.contact_ms for t in trials], "<= 25"),
        ):
            reference = PUBLISHED_FLIGHT if name.startswith("flight") else note
            label = f"real drop jumps vs force plate: {name}"
            figures.append(Figure(AREA, label, worst(values), reference, target))
        figures.append(
            Figure(
                AREA,
                "real drop jumps: rebounds found, drops told, clipped flagged",
                f"{len(found)}/{sum(t.drop_found for t in trials)}/{sum(t.clipped for t in trials)}"
                f" of {len(trials)}",
                note,
                "all",
            )
        )
    return figures
