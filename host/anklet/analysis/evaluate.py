"""Rep-count accuracy on the real UCI physical-therapy leg recordings (shank, thigh, controls).

    python -m anklet.analysis.evaluate [--data /work/shared/data/uci_pt_legs]

A detected rep counts in the set whose window holds its midpoint (the dataset's rule). Negative
controls (arm exercises, thigh unit) count every rep the leg sensor reports. Nobody jumps in
these recordings: every jump found in them is a false one.
Data: A. Yurtman, B. Barshan, Physical Therapy Exercises Dataset, UCI ML Repository (2022),
DOI 10.24432/C5JK60, CC BY 4.0.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from anklet.analysis.pipeline import analyze_csv
from anklet.analysis.settings import DEFAULT_SETTINGS, Settings

# The shared recordings sit beside the repository: <repo>/../shared/data/uci_pt_legs.
DEFAULT_DATA = Path(
    os.environ.get(
        "ANKLET_UCI_DATA",
        Path(__file__).resolve().parents[3].parent / "shared" / "data" / "uci_pt_legs",
    )
)
UNITS = {"u2": "shank", "u3": "thigh"}


@dataclass(frozen=True)
class SetResult:
    recording_id: str
    set_index: int
    expected_reps: int
    counted_reps: int

    @property
    def error(self) -> int:
        return self.counted_reps - self.expected_reps


@dataclass(frozen=True)
class AccuracyRow:
    location: str  # "shank" / "thigh"
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


def evaluate(data_dir: Path = DEFAULT_DATA, settings: Settings = DEFAULT_SETTINGS) -> Evaluation:
    with (data_dir / "labels_sets.csv").open(newline="") as fh:
        labels = list(csv.DictReader(fh))
    midpoints: dict[str, list[float]] = {}
    results: list[SetResult] = []
    negatives: dict[str, int] = {}
    false_jumps = 0
    for row in labels:
        file = row["file"]
        if file not in midpoints:
            analysis = analyze_csv(data_dir / file, settings)
            midpoints[file] = [0.5 * (r.start_s + r.end_s) for s in analysis.sets for r in s.reps]
            false_jumps += analysis.total_jumps
        mids = midpoints[file]
        if row["kind"] == "leg_exercise":
            lo, hi = float(row["set_start_s"]), float(row["set_end_s"])
            counted = sum(1 for m in mids if lo <= m < hi)
            results.append(
                SetResult(row["recording_id"], int(row["set_index"]), int(row["gt_reps"]), counted)
            )
        else:
            negatives[row["recording_id"]] = len(mids)
    rows: list[AccuracyRow] = []
    for unit, location in UNITS.items():
        mine = [r for r in results if r.recording_id.split("_")[2] == unit]
        if not mine:
            continue
        errors = [abs(r.error) for r in mine]
        rows.append(
            AccuracyRow(
                location=location,
                sets=len(mine),
                within_one_pct=100.0 * sum(e <= 1 for e in errors) / len(mine),
                mae_reps=sum(errors) / len(mine),
                exact_pct=100.0 * sum(e == 0 for e in errors) / len(mine),
            )
        )
    return Evaluation(rows, sum(negatives.values()), len(negatives), results, false_jumps)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rep-count accuracy on uci_pt_legs.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="uci_pt_legs folder")
    parser.add_argument("--verbose", action="store_true", help="also list sets counted wrong")
    args = parser.parse_args(argv)
    if not (args.data / "labels_sets.csv").is_file():
        print(f"error: {args.data}: no labels_sets.csv", file=sys.stderr)
        return 2
    ev = evaluate(args.data)
    print(format_table(ev))
    if args.verbose:
        for s in ev.sets:
            if s.error:
                print(f"  {s.recording_id} set {s.set_index}: {s.counted_reps}/{s.expected_reps}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
