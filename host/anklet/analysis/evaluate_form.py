"""Form flags on real recordings: do they fire on the UCI sets performed too fast or with low
amplitude, and stay quiet on the correct ones? Thresholds chosen by leave-one-subject-out.

    python -m anklet.analysis.evaluate_form            # held-out rates, shank and thigh
    python -m anklet.analysis.evaluate_form --verbose  # thresholds per fold, each set's flags

Data: uci_pt_legs (Yurtman & Barshan, UCI, CC BY 4.0; see evaluate.py): 3 people × 4 leg
exercises × 3 sets (correct, too fast, low amplitude), shank (u2) and thigh (u3). A detected set
belongs to the labelled set whose window holds its midpoint; a labelled set with no detected set
counts as not flagged. Every exercise here is held ~5 s at the top (the protocol), so each is
judged against the held tempo (targets.HELD), as the catalogue does for these exercises.

LOSO: each person's sets are flagged with thresholds chosen on the other two: for each flag,
the candidate with the largest (hit rate − false-alarm rate) on their sets, ties to the prior.
`squat_check`: partial squats (squat_shank) against the person's first correct set as the target
range, as when the target comes from an earlier session: other people, another exercise.
Range lost within a set and sway rising have no labels here (nobody was asked to tire or
sway): their thresholds are not tuned, and only how often they fire on correct sets is given.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from anklet.analysis.evaluate import DEFAULT_DATA, SQUAT_DATA, _uci_recordings
from anklet.analysis.form import (
    low_amplitude_flag,
    median_rom_deg,
    rom_loss_flag,
    session_reference_rom,
    sway_rise_flag,
    tempo_flag,
)
from anklet.analysis.loading import AnalysisInputError
from anklet.analysis.metrics import set_flags
from anklet.analysis.pipeline import analyze_csv
from anklet.analysis.results import RepSet
from anklet.analysis.settings import DEFAULT_SETTINGS, Settings
from anklet.analysis.targets import tempo_for

GRID: dict[str, tuple[float, ...]] = {
    "low_rom_fraction": (0.6, 0.65, 0.7, 0.75, 0.8, 0.85),
    "fast_tempo_fraction": (0.25, 0.3, 0.35, 0.4, 0.45, 0.5),
}
# What physics alone would pick (ties go to it): a set a quarter short of the best is past the
# rep-to-rep spread of a correct set; a rep in half the prescribed time is rushed.
PRIOR = {"low_rom_fraction": 0.75, "fast_tempo_fraction": 0.5}
# Which labelled execution each tuned flag is meant to catch.
MEANT_FOR = {"low_rom_fraction": "low_amplitude", "fast_tempo_fraction": "too_fast"}
# UCI exercise -> catalogue name (targets.TEMPO_BY_EXERCISE); all are held at the top.
UCI_EXERCISES = {
    "seated_leg_raise": "seated knee extension",
    "supine_leg_raise": "straight-leg raise",
    "sidelying_hip_abduction": "side-lying leg raise",
    "prone_hip_extension": "prone hip extension",
}


@dataclass(frozen=True)
class LabelledSet:
    person: str
    kind: str  # shank / thigh
    recording_id: str
    set_index: int
    execution: str  # correct / too_fast / low_amplitude
    found: RepSet | None  # the detected set in its window
    reference: RepSet | None  # the session's largest set (low-amplitude reference)
    exercise: str


def labelled_sets(data_dir: Path = DEFAULT_DATA) -> list[LabelledSet]:
    with (data_dir / "labels_sets.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    execution = {(r["recording_id"], int(r["set_index"])): r["execution_type"] for r in rows}
    exercise = {r["recording_id"]: r["exercise"] for r in rows}
    out: list[LabelledSet] = []
    for rec in _uci_recordings(data_dir):
        if rec.kind == "control":
            continue
        result = analyze_csv(rec.file)
        best = session_reference_rom(result.sets)
        for index, lo, hi, _reps in rec.sets:
            inside = [s for s in result.sets if lo <= 0.5 * (s.start_s + s.end_s) < hi]
            out.append(
                LabelledSet(
                    person=rec.person,
                    kind=rec.kind,
                    recording_id=rec.recording_id,
                    set_index=index,
                    execution=execution[(rec.recording_id, index)],
                    found=inside[0] if inside else None,
                    reference=best,
                    exercise=UCI_EXERCISES.get(exercise[rec.recording_id], ""),
                )
            )
    return out


def _flags(x: LabelledSet, s: Settings) -> dict[str, bool]:
    """Which flags fire on the set under settings `s`."""
    if x.found is None:
        return {k: False for k in ("low_rom_fraction", "fast_tempo_fraction", "other")}
    low = (
        x.reference is not None
        and x.reference is not x.found
        and low_amplitude_flag(x.found, median_rom_deg(x.reference), "", s) is not None
    )
    fast = tempo_flag(x.found, tempo_for(x.exercise), s)
    other = (
        rom_loss_flag(x.found, s) is not None
        or sway_rise_flag(x.found, s) is not None
        or bool(set_flags(x.found, s))
    )
    return {
        "low_rom_fraction": low,
        "fast_tempo_fraction": fast is not None and "too fast" in fast,
        "other": other,
    }


def _rates(sets: list[LabelledSet], s: Settings, key: str) -> tuple[float, float]:
    """Hit rate on the sets the flag is meant for, false-alarm rate on the rest."""
    pos = [x for x in sets if x.execution == MEANT_FOR[key]]
    neg = [x for x in sets if x.execution != MEANT_FOR[key]]
    hit = sum(_flags(x, s)[key] for x in pos) / max(1, len(pos))
    fa = sum(_flags(x, s)[key] for x in neg) / max(1, len(neg))
    return hit, fa


def choose(sets: list[LabelledSet], key: str) -> float:
    """The candidate with the best hit rate minus false-alarm rate; ties to the prior."""

    def score(value: float) -> tuple[float, float]:
        hit, fa = _rates(sets, replace(DEFAULT_SETTINGS, **{key: value}), key)
        return (-(hit - fa), abs(value - PRIOR[key]))

    return min(GRID[key], key=score)


@dataclass(frozen=True)
class FormRow:
    kind: str  # shank / thigh
    execution: str
    sets: int
    flagged_meant: int  # by the flag meant for this execution (none for correct sets)
    flagged_any: int  # by any flag


@dataclass(frozen=True)
class FormEvaluation:
    rows: list[FormRow]
    chosen: dict[str, dict[str, float]]  # held-out person -> thresholds chosen without them
    sets: list[tuple[LabelledSet, dict[str, bool]]]  # each set with its held-out flags


def loso(data_dir: Path = DEFAULT_DATA) -> FormEvaluation:
    everything = labelled_sets(data_dir)
    people = sorted({x.person for x in everything})
    chosen: dict[str, dict[str, float]] = {}
    judged: list[tuple[LabelledSet, dict[str, bool]]] = []
    for person in people:
        others = [x for x in everything if x.person != person]
        picks = {key: choose(others, key) for key in GRID}
        chosen[person] = picks
        s = replace(DEFAULT_SETTINGS, **picks)
        judged += [(x, _flags(x, s)) for x in everything if x.person == person]
    chosen["nobody (all three: the shipped defaults)"] = {k: choose(everything, k) for k in GRID}
    return FormEvaluation(_rows(judged), chosen, judged)


def in_sample(data_dir: Path = DEFAULT_DATA, s: Settings = DEFAULT_SETTINGS) -> FormEvaluation:
    judged = [(x, _flags(x, s)) for x in labelled_sets(data_dir)]
    return FormEvaluation(_rows(judged), {}, judged)


@dataclass(frozen=True)
class SquatCheck:
    """Partial squats against the person's first correct set as the target range."""

    partial_flagged: int
    partial_sets: int
    others_flagged: int  # the second correct set and the other form errors (not about range)
    other_sets: int


def squat_check(data_dir: Path = SQUAT_DATA, s: Settings = DEFAULT_SETTINGS) -> SquatCheck:
    """Out of sample (other people, another exercise, thresholds from UCI): the low-amplitude
    flag with a target range, as when the target comes from an earlier session."""
    with (data_dir / "labels_sets.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    rom: dict[str, float] = {}
    for row in rows:
        result = analyze_csv(data_dir / row["file"])
        rom[row["file"]] = median_rom_deg(result.sets[0]) if result.sets else 0.0
    counts = {"partial": [0, 0], "other": [0, 0]}
    for row in rows:
        target = rom[f"class0_{row['subject']}_set1_shank.csv"]
        if row["class_name"] == "correct" and row["set"] == "set1":
            continue  # the target itself
        kind = "partial" if row["class_id"] == "4" else "other"
        counts[kind][1] += 1
        counts[kind][0] += rom[row["file"]] < s.low_rom_fraction * target
    return SquatCheck(*counts["partial"], *counts["other"])


def _rows(judged: list[tuple[LabelledSet, dict[str, bool]]]) -> list[FormRow]:
    rows = []
    meant: dict[str, Callable[[dict[str, bool]], bool]] = {
        "correct": lambda f: False,
        "too_fast": lambda f: f["fast_tempo_fraction"],
        "low_amplitude": lambda f: f["low_rom_fraction"],
    }
    for kind in ("shank", "thigh"):
        for execution, is_meant in meant.items():
            mine = [f for x, f in judged if x.kind == kind and x.execution == execution]
            rows.append(
                FormRow(
                    kind, execution, len(mine), sum(is_meant(f) for f in mine),
                    sum(any(f.values()) for f in mine),
                )
            )  # fmt: skip
    return rows


_WHAT = {
    "correct": "correct (no flag wanted)",
    "too_fast": "too fast: flagged too fast",
    "low_amplitude": "low amplitude: flagged short range",
}


def format_rows(ev: FormEvaluation) -> str:
    lines = [
        "| sensor | sets performed | sets | flagged by the flag meant for them | any flag |",
        "|---|---|---|---|---|",
    ]
    for r in ev.rows:
        meant = "–" if r.execution == "correct" else _pct(r.flagged_meant, r.sets)
        anyflag = _pct(r.flagged_any, r.sets)
        lines.append(f"| {r.kind} | {_WHAT[r.execution]} | {r.sets} | {meant} | {anyflag} |")
    return "\n".join(lines)


def _pct(n: int, d: int) -> str:
    return f"{n}/{d} ({100 * n / d:.0f} %)" if d else "–"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Form flags on the UCI recordings, by LOSO.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the uci_pt_legs folder")
    parser.add_argument("--squats", type=Path, default=SQUAT_DATA, help="the squat_shank folder")
    parser.add_argument("--verbose", action="store_true", help="thresholds per fold, each set")
    args = parser.parse_args(argv)
    if not (args.data / "labels_sets.csv").is_file():
        print(f"error: {args.data}: no labels_sets.csv", file=sys.stderr)
        return 2
    try:
        ev = loso(args.data)
        ins = in_sample(args.data)
    except AnalysisInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("Form flags, leave-one-subject-out (each person flagged with thresholds chosen on the")
    print("other two; real data: uci_pt_legs subjects 1-3, 4 exercises, held tempo 2-5-2 s)")
    print(format_rows(ev))
    for person, picks in ev.chosen.items():
        print(f"  thresholds chosen without {person}: {picks}")
    print()
    print("In-sample, shipped defaults (" + ", ".join(
        f"{k} {getattr(DEFAULT_SETTINGS, k)}" for k in GRID) + "):")  # fmt: skip
    print(format_rows(ins))
    if (args.squats / "labels_sets.csv").is_file():
        sq = squat_check(args.squats)
        print()
        print("Out of sample (squat_shank subjects 1-3, thresholds from UCI): partial squats")
        print("against the person's first correct set as the target range:")
        print(f"  partial squats flagged short: {_pct(sq.partial_flagged, sq.partial_sets)}")
        print(f"  other sets (correct set 2, valgus, butt wink, forward lean) flagged short: "
              f"{_pct(sq.others_flagged, sq.other_sets)}")  # fmt: skip
    if args.verbose:
        for x, f in ev.sets:
            fired = [k for k, v in f.items() if v]
            print(f"  {x.recording_id} set {x.set_index} ({x.execution}): {fired or 'no flag'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
