"""Live rep feedback on real recordings: how often a rep is called SHORT.

    .venv/bin/python -m bench feedback

Data: ../shared/data/uci_pt_legs (real; 5 people, 4 leg exercises, shank and thigh units; each
recording holds 10 correct reps, 10 too fast and 10 of deliberately low amplitude). The target
is the person's own mean range of motion over the correct set of the same recording (standing
in for "their best recent session"); each rep found by the analysis is SHORT when under
`feedback.SHORT_FRACTION` of it. Figures: SHORT calls among the correct reps (false alarms) and
among the low-amplitude reps (the ones the bell is for). The 0.9 fraction was set before this
was measured (not tuned on this data); other fractions are printed for the record.
"""

from __future__ import annotations

import numpy as np
from anklet.analysis import analyze_csv
from anklet.analysis.evaluate import DEFAULT_DATA, _uci_recordings
from anklet.feedback import SHORT_FRACTION

from bench.figure import Figure

AREA = "feedback"
KINDS = {1: "correct", 2: "too_fast", 3: "low_amplitude"}


def measure() -> dict[str, list[float]]:
    """Each found rep's range of motion as a fraction of its recording's correct-set mean."""
    ratios: dict[str, list[float]] = {kind: [] for kind in KINDS.values()}
    for rec in _uci_recordings(DEFAULT_DATA):
        if rec.kind == "control":
            continue
        result = analyze_csv(rec.file)
        by_set: dict[str, list[float]] = {kind: [] for kind in KINDS.values()}
        for rep in (r for s in result.sets for r in s.reps):
            mid = 0.5 * (rep.start_s + rep.end_s)
            for index, lo, hi, _ in rec.sets:
                if lo <= mid < hi and index in KINDS:
                    by_set[KINDS[index]].append(rep.rom_deg)
        if not by_set["correct"]:
            continue
        target = float(np.mean(by_set["correct"]))
        for kind, roms in by_set.items():
            ratios[kind].extend(rom / target for rom in roms)
    return ratios


def _share(values: list[float], fraction: float) -> str:
    short = sum(1 for v in values if v < fraction)
    return f"{short} of {len(values)} ({100.0 * short / max(len(values), 1):.1f} %)"


def run() -> list[Figure]:
    ratios = measure()
    reference = "python -m bench feedback; uci_pt_legs (real), 0.9 not tuned on it"
    figures = [
        Figure(
            AREA,
            f"correct reps called SHORT (< {SHORT_FRACTION:g} of target)",
            _share(ratios["correct"], SHORT_FRACTION),
            reference,
            "few",
        ),
        Figure(
            AREA,
            f"low-amplitude reps called SHORT (< {SHORT_FRACTION:g} of target)",
            _share(ratios["low_amplitude"], SHORT_FRACTION),
            reference,
            "most",
        ),
        Figure(
            AREA,
            f"too-fast reps called SHORT (< {SHORT_FRACTION:g} of target)",
            _share(ratios["too_fast"], SHORT_FRACTION),
            reference,
            "",
        ),
    ]
    for fraction in (0.8, 0.85, 0.95):
        figures.append(
            Figure(
                AREA,
                f"at {fraction:g}: correct / low-amplitude called SHORT",
                f"{_share(ratios['correct'], fraction)} / "
                f"{_share(ratios['low_amplitude'], fraction)}",
                reference + " (for the record)",
            )
        )
    return figures


if __name__ == "__main__":
    for fig in run():
        print(f"{fig.name}: {fig.value}")
