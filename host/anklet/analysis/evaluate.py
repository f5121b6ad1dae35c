"""Accuracy on real recordings: reps by leave-one-subject-out, jumps against a force plate.

    python -m anklet.analysis.evaluate                 # LOSO reps + force-plate jumps + in-sample
    python -m anklet.analysis.evaluate --in-sample     # only the default thresholds, UCI data

Data (beside the repository, ../shared/data; testing only, never copied into the project):
- uci_pt_legs: A. Yurtman, B. Barshan, Physical Therapy Exercises Dataset, UCI ML Repository
  (2022), DOI 10.24432/C5JK60, CC BY 4.0. Subjects 1-3, shank (u2) and thigh (u3) leg exercises
  in three sets each; arm exercises with a thigh unit as negative controls (0 reps expected).
  A detected rep counts in the set whose window holds its midpoint (the dataset's rule).
- squat_shank: github.com/choijaeh01/Squat-Realtime-Classifier, subjects 1-3, 10 squats a set.
- forsyth_dropjump: drop jumps with a shoe accelerometer and force-plate times (S. Mitchell,
  J. Forsyth et al., SIEDS 2021); one person, five trials.

Leave-one-subject-out (LOSO): the six people (three UCI, three squat) take turns as the unseen
one. For each, the thresholds in `GRID` are chosen on the other five (most sets within ±1 rep,
then fewest control reps and jumps, then nearest the physics prior, then the smallest error),
and the unseen person's sets are counted with them. The shipped defaults are the same choice
made on all six. Nobody jumps in the rep recordings: every jump found
in them is a false one.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from anklet.analysis.loading import AnalysisInputError, read_imu_csv
from anklet.analysis.pipeline import analyze, analyze_csv
from anklet.analysis.results import SessionAnalysis
from anklet.analysis.settings import DEFAULT_SETTINGS, Settings

# The shared recordings sit beside the repository: <repo>/../shared/data/<name>.
SHARED_DATA = Path(
    os.environ.get(
        "ANKLET_SHARED_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data"
    )
)
DEFAULT_DATA = Path(os.environ.get("ANKLET_UCI_DATA", SHARED_DATA / "uci_pt_legs"))
SQUAT_DATA = SHARED_DATA / "squat_shank"
DROPJUMP_DATA = SHARED_DATA / "forsyth_dropjump"
UNITS = {"u2": "shank", "u3": "thigh"}

# Candidate thresholds for LOSO, each around its physical reason (settings.py says why): the
# smallest deliberate range and peak speed, how far a rep must come back, how small or slow a rep
# may be next to its neighbours, and the reversal that makes a turning point. `PRIOR` is what
# physics alone would pick; it only breaks ties.
GRID: dict[str, tuple[float, ...]] = {
    "min_rom_deg": (3.0, 5.0, 8.0),
    "min_peak_velocity_dps": (8.0, 15.0),
    "return_fraction": (0.4, 0.5, 0.6),
    "min_rom_fraction": (0.3, 0.45),
    "min_speed_fraction": (0.0, 0.25),
    "reversal_deg": (3.0, 5.0),
}
PRIOR: dict[str, float] = {
    "min_rom_deg": 5.0,
    "min_peak_velocity_dps": 8.0,
    "return_fraction": 0.5,
    "min_rom_fraction": 0.3,
    "min_speed_fraction": 0.25,
    "reversal_deg": 3.0,
}

# Published agreement of IMU flight time with a force plate, for comparison with ours.
PUBLISHED_FLIGHT = (
    "published, accelerometer vs force platform, flight time: mean error 2.9 % (13 ms) for the "
    "better and 7.0 % (32 ms) for the other of two methods over 60 jumps (Palma, Silva, Gamboa, "
    "Mil-Homens, Standing jump loft time measurement: an acceleration based method, SciTePress "
    "2008); a body-worn MEMS unit (Keimove) r = 0.99 with the force plate, no significant mean "
    "difference (Requena et al., J Sports Sci Med 11:115-122, 2012); contact time from a waist "
    "accelerometer not valid, from take-off and touchdown timing biases (Choukou et al., "
    "Biol Sport 31:55-62, 2014)"
)


@dataclass(frozen=True)
class SetResult:
    recording_id: str
    set_index: int
    expected_reps: int
    counted_reps: int
    person: str = ""  # "uci1".."uci3", "squat1".."squat3"
    kind: str = ""  # "shank", "thigh", "squat"

    @property
    def error(self) -> int:
        return self.counted_reps - self.expected_reps


@dataclass(frozen=True)
class AccuracyRow:
    location: str  # "shank" / "thigh" / "squat"
    sets: int
    within_one_pct: float  # % of sets counted within +-1 rep
    mae_reps: float  # mean absolute count error per set
    exact_pct: float


@dataclass(frozen=True)
class Evaluation:
    rows: list[AccuracyRow]
    negative_control_reps: int
    negative_control_recordings: int
    sets: list[SetResult]
    false_jumps: int = 0  # jumps found in recordings with none


@dataclass(frozen=True)
class JumpTrial:
    """One force-plate drop jump: our events minus the plate's, ms (None: not found)."""

    file: str
    found: int  # rebound jumps found (1 expected)
    takeoff_ms: float | None
    landing_ms: float | None
    flight_ms: float | None
    contact_ms: float | None
    clipped: bool
    drop_found: bool


@dataclass(frozen=True)
class _Recording:
    """One file and what is known of it: its sets (window, reps) or that it is a control."""

    file: Path
    person: str
    kind: str  # shank / thigh / squat / control
    recording_id: str
    sets: tuple[tuple[int, float, float, int], ...]  # (set index, start s, end s, reps)


def _uci_recordings(data_dir: Path) -> list[_Recording]:
    with (data_dir / "labels_sets.csv").open(newline="") as fh:
        labels = list(csv.DictReader(fh))
    by_file: dict[str, list[dict[str, str]]] = {}
    for row in labels:
        by_file.setdefault(row["file"], []).append(row)
    out: list[_Recording] = []
    for file, rows in by_file.items():
        first = rows[0]
        unit = first["recording_id"].split("_")[2]
        leg = first["kind"] == "leg_exercise"
        sets = tuple(
            (int(r["set_index"]), float(r["set_start_s"]), float(r["set_end_s"]), int(r["gt_reps"]))
            for r in rows
        )
        out.append(
            _Recording(
                file=data_dir / file,
                person=f"uci{first['subject']}",
                kind=UNITS.get(unit, "thigh") if leg else "control",
                recording_id=first["recording_id"],
                sets=sets if leg else (),
            )
        )
    return out


def _squat_recordings(data_dir: Path) -> list[_Recording]:
    with (data_dir / "labels_sets.csv").open(newline="") as fh:
        labels = list(csv.DictReader(fh))
    return [
        _Recording(
            file=data_dir / row["file"],
            person=f"squat{row['subject'].removeprefix('subject')}",
            kind="squat",
            recording_id=row["file"].removesuffix("_shank.csv"),
            sets=((1, -np.inf, np.inf, int(row["n_reps"])),),
        )
        for row in labels
    ]


def _count(rec: _Recording, result: SessionAnalysis) -> tuple[list[SetResult], int]:
    """Per-set counts (leg recordings) or the reps found (controls)."""
    mids = [0.5 * (r.start_s + r.end_s) for s in result.sets for r in s.reps]
    if rec.kind == "control":
        return [], len(mids)
    results = [
        SetResult(
            rec.recording_id,
            index,
            reps,
            sum(1 for m in mids if lo <= m < hi),
            person=rec.person,
            kind=rec.kind,
        )
        for index, lo, hi, reps in rec.sets
    ]
    return results, 0


def _rows(results: list[SetResult], kinds: tuple[str, ...]) -> list[AccuracyRow]:
    rows: list[AccuracyRow] = []
    for kind in kinds:
        mine = [r for r in results if r.kind == kind]
        if not mine:
            continue
        errors = [abs(r.error) for r in mine]
        rows.append(
            AccuracyRow(
                location=kind,
                sets=len(mine),
                within_one_pct=100.0 * sum(e <= 1 for e in errors) / len(mine),
                mae_reps=sum(errors) / len(mine),
                exact_pct=100.0 * sum(e == 0 for e in errors) / len(mine),
            )
        )
    return rows


def evaluate(data_dir: Path = DEFAULT_DATA, settings: Settings = DEFAULT_SETTINGS) -> Evaluation:
    """In-sample accuracy of `settings` on the UCI recordings (the method was built on them)."""
    results: list[SetResult] = []
    controls: dict[str, int] = {}
    false_jumps = 0
    for rec in _uci_recordings(data_dir):
        result = analyze_csv(rec.file, settings)
        false_jumps += result.total_jumps
        sets, reps = _count(rec, result)
        results.extend(sets)
        if rec.kind == "control":
            controls[rec.recording_id] = reps
    rows = _rows(results, ("shank", "thigh"))
    return Evaluation(rows, sum(controls.values()), len(controls), results, false_jumps)


@dataclass(frozen=True)
class LosoResult:
    rows: list[AccuracyRow]  # shank, thigh, squat: each person counted with thresholds from others
    control_reps: int  # reps on the arm-exercise controls, each person with its own LOSO thresholds
    control_recordings: int
    false_jumps: int  # jumps found in any leg-exercise or squat recording (nobody jumped)
    sets: list[SetResult]
    chosen: dict[str, dict[str, float]]  # person -> the thresholds chosen without them; and all


def _grid(grid: dict[str, tuple[float, ...]]) -> Iterator[Settings]:
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        yield replace(DEFAULT_SETTINGS, **dict(zip(keys, values, strict=True)))


def _distance_from_prior(s: Settings, grid: dict[str, tuple[float, ...]]) -> float:
    """How far `s` is from the physics prior, in grid steps (ties go to the prior)."""
    total = 0.0
    for key, values in grid.items():
        total += abs(values.index(getattr(s, key)) - _nearest(values, PRIOR[key]))
    return total


def _nearest(values: tuple[float, ...], x: float) -> int:
    return int(np.argmin([abs(v - x) for v in values]))


def loso(
    uci_dir: Path = DEFAULT_DATA,
    squat_dir: Path = SQUAT_DATA,
    grid: dict[str, tuple[float, ...]] = GRID,
) -> LosoResult:
    """Leave-one-subject-out rep counts over the six open people (see the module docstring)."""
    recordings = _uci_recordings(uci_dir) + _squat_recordings(squat_dir)
    loaded = {rec.file: read_imu_csv(rec.file) for rec in recordings}
    people = sorted({rec.person for rec in recordings})
    candidates = list(_grid(grid))
    # Each candidate's per-person score pieces, and each person's counts under it.
    per: list[dict[str, tuple[int, int, int, int, list[SetResult]]]] = []
    for s in candidates:
        by_person: dict[str, tuple[int, int, int, int, list[SetResult]]] = {}
        for person in people:
            sets: list[SetResult] = []
            control = jumps = 0
            for rec in (r for r in recordings if r.person == person):
                result = analyze(loaded[rec.file], s, source=str(rec.file))
                found, reps = _count(rec, result)
                sets.extend(found)
                control += reps
                jumps += result.total_jumps if rec.kind != "control" else 0
            within = sum(abs(r.error) <= 1 for r in sets)
            abs_err = sum(abs(r.error) for r in sets)
            by_person[person] = (within, control, jumps, abs_err, sets)
        per.append(by_person)

    def best_without(left_out: str | None) -> int:
        others = [p for p in people if p != left_out]

        def score(k: int) -> tuple[float, ...]:
            parts = [per[k][p] for p in others]
            within = sum(x[0] for x in parts)
            bad = sum(x[1] + x[2] for x in parts)  # control reps and false jumps
            err = sum(x[3] for x in parts)
            return (-within, bad, _distance_from_prior(candidates[k], grid), err)

        return min(range(len(candidates)), key=score)

    chosen: dict[str, dict[str, float]] = {}
    held_out: list[SetResult] = []
    control_reps = false_jumps = 0
    for person in people:
        best = best_without(person)
        chosen[person] = {key: getattr(candidates[best], key) for key in grid}
        within, control, jumps, _, sets = per[best][person]
        del within
        held_out.extend(sets)
        control_reps += control
        false_jumps += jumps
    everyone = best_without(None)
    chosen["nobody (all six: the shipped defaults)"] = {
        key: getattr(candidates[everyone], key) for key in grid
    }
    controls = sum(1 for r in recordings if r.kind == "control")
    rows = _rows(held_out, ("shank", "thigh", "squat"))
    return LosoResult(rows, control_reps, controls, false_jumps, held_out, chosen)


def dropjumps(
    data_dir: Path = DROPJUMP_DATA, settings: Settings = DEFAULT_SETTINGS
) -> list[JumpTrial]:
    """Each force-plate drop jump through the analysis (as `anklet analyze` runs it)."""
    with (data_dir / "labels.csv").open(newline="") as fh:
        labels = list(csv.DictReader(fh))
    trials: list[JumpTrial] = []
    for row in labels:
        result = analyze_csv(data_dir / row["file"], settings)
        jumps = [(s, j) for s in result.jump_series for j in s.jumps]
        takeoff = float(row["takeoff_s"])
        near = [(s, j) for s, j in jumps if abs(j.takeoff_s - takeoff) < 0.1]
        if not near:
            trials.append(JumpTrial(row["file"], len(jumps), None, None, None, None, False, False))
            continue
        series, jump = near[0]
        contact = None if jump.contact_s is None else jump.contact_s - float(row["contact_s"])
        trials.append(
            JumpTrial(
                file=row["file"],
                found=len(jumps),
                takeoff_ms=1000 * (jump.takeoff_s - takeoff),
                landing_ms=1000 * (jump.landing_s - float(row["landing_s"])),
                flight_ms=1000 * (jump.flight_s - float(row["flight_s"])),
                contact_ms=None if contact is None else 1000 * contact,
                clipped=jump.landing_clipped,
                drop_found=series.drop_landing_s is not None,
            )
        )
    return trials


def _worst(values: list[float | None]) -> str:
    if any(v is None for v in values) or not values:
        return "n/a"
    known = [v for v in values if v is not None]
    return f"{max(abs(v) for v in known):.1f} ms | {sum(known) / len(known):+.1f} ms"


def format_loso(ev: LosoResult) -> str:
    lines = [
        "Reps, leave-one-subject-out (each person counted with thresholds chosen on the other",
        "five; real data: uci_pt_legs subjects 1-3, squat_shank subjects 1-3)",
        "| recordings | sets | within ±1 rep | exact | mean abs error (reps/set) |",
        "|---|---|---|---|---|",
    ]
    names = {"shank": "UCI shank (u2)", "thigh": "UCI thigh (u3)", "squat": "squats (shank)"}
    for r in ev.rows:
        lines.append(
            f"| {names[r.location]} | {r.sets} | {r.within_one_pct:.1f} % | {r.exact_pct:.1f} % "
            f"| {r.mae_reps:.2f} |"
        )
    lines.append(
        f"| arm-exercise controls (thigh unit) | {ev.control_recordings} recordings "
        f"| reps found: {ev.control_reps} | | |"
    )
    lines.append(f"| jumps found in leg-exercise and squat recordings | all | {ev.false_jumps} |||")
    return "\n".join(lines)


def format_jumps(trials: list[JumpTrial]) -> str:
    found = sum(t.takeoff_ms is not None for t in trials)
    lines = [
        "Drop jumps against the force plate (real data: forsyth_dropjump, 5 trials, 1 person,",
        "shoe accelerometer only, ~397 Hz; the jump method was developed on these trials)",
        "| figure (ours minus the plate's) | worst of 5 | mean | target |",
        "|---|---|---|---|",
        f"| rebound jumps found | {found} of {len(trials)} | | all |",
        f"| take-off | {_worst([t.takeoff_ms for t in trials])} | 20 ms |",
        f"| landing | {_worst([t.landing_ms for t in trials])} | 20 ms |",
        f"| flight time | {_worst([t.flight_ms for t in trials])} | 15 ms |",
        f"| contact time (drop landing to take-off) | {_worst([t.contact_ms for t in trials])} "
        "| 25 ms |",
        f"| drops off the box told from jumps | {sum(t.drop_found for t in trials)} of "
        f"{len(trials)} | | all |",
        f"| clipped landings flagged | {sum(t.clipped for t in trials)} of {len(trials)} | | all |",
        PUBLISHED_FLIGHT,
    ]
    return "\n".join(lines)


def format_table(ev: Evaluation) -> str:
    lines = [
        "| sensor | sets | within ±1 rep | exact | mean abs error (reps/set) |",
        "|---|---|---|---|---|",
    ]
    for r in ev.rows:
        lines.append(
            f"| {r.location} | {r.sets} | {r.within_one_pct:.1f} % | {r.exact_pct:.1f} % "
            f"| {r.mae_reps:.2f} |"
        )
    lines.append(
        f"| negative controls (arm exercises, thigh unit) | {ev.negative_control_recordings} "
        f"recordings | reps detected: {ev.negative_control_reps} | | |"
    )
    lines.append(f"| jumps found (nobody jumps in this data) | all | {ev.false_jumps} | | |")
    return "\n".join(lines)


def _counted(s: SetResult) -> str:
    return f"{s.counted_reps}/{s.expected_reps}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Rep counts (leave-one-subject-out) and jump timing (force plate) on real data."
    )
    parser.add_argument("--data", type=Path, default=SHARED_DATA, help="folder of the datasets")
    parser.add_argument("--in-sample", action="store_true", help="only the default thresholds")
    parser.add_argument("--verbose", action="store_true", help="also list sets counted wrong")
    args = parser.parse_args(argv)
    uci, squat, drop = (args.data / n for n in ("uci_pt_legs", "squat_shank", "forsyth_dropjump"))
    needed = ((uci, "labels_sets.csv"), (squat, "labels_sets.csv"), (drop, "labels.csv"))
    for folder, labels in needed:
        if not (folder / labels).is_file():
            print(f"error: {folder}: no {labels}", file=sys.stderr)
            return 2
    try:
        if not args.in_sample:
            ev = loso(uci, squat)
            print(format_loso(ev))
            if args.verbose:
                for person, chosen in ev.chosen.items():
                    print(f"  thresholds chosen without {person}: {chosen}")
                for s in ev.sets:
                    if abs(s.error) > 1:
                        print(f"  {s.recording_id} set {s.set_index}: {_counted(s)}")
            print()
            print(format_jumps(dropjumps(drop)))
            print()
        print("In-sample, default thresholds (tuned while looking at this data): uci_pt_legs")
        ev_in = evaluate(uci)
        print(format_table(ev_in))
        if args.verbose:
            for s in ev_in.sets:
                if s.error:
                    print(f"  {s.recording_id} set {s.set_index}: {_counted(s)}")
    except AnalysisInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
