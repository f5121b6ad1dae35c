"""Form flags on real recordings (uci_pt_legs): each person's sets flagged with thresholds
chosen on the other two (leave-one-subject-out), and partial squats (squat_shank) against the
person's correct set, out of sample. `python -m bench form`; the same figures as
`python -m anklet.analysis.evaluate_form`. Real data; thresholds tuned by LOSO (held out)."""

from __future__ import annotations

from anklet.analysis.evaluate import DEFAULT_DATA, SQUAT_DATA
from anklet.analysis.evaluate_form import loso, squat_check

from bench.figure import Figure

AREA = "form"
_WHAT = {
    "correct": "correct sets with any flag (false alarms)",
    "too_fast": "too-fast sets flagged too fast",
    "low_amplitude": "low-amplitude sets flagged short range",
}
_TARGET = {"correct": "low", "too_fast": "high", "low_amplitude": "high"}


def run() -> list[Figure]:
    if not (DEFAULT_DATA / "labels_sets.csv").is_file():
        return [Figure(AREA, "form flags on uci_pt_legs", "n/a", f"{DEFAULT_DATA} absent")]
    ev = loso(DEFAULT_DATA)
    figures = []
    for row in ev.rows:
        n = row.flagged_any if row.execution == "correct" else row.flagged_meant
        figures.append(
            Figure(
                AREA,
                f"real, LOSO, UCI {row.kind}: {_WHAT[row.execution]}",
                f"{n}/{row.sets} ({100 * n / row.sets:.0f} %)",
                "uci_pt_legs s1-3, 4 exercises; held-out person, thresholds from the other two",
                _TARGET[row.execution],
            )
        )
    shipped = ev.chosen["nobody (all three: the shipped defaults)"]
    figures.append(
        Figure(AREA, "thresholds chosen on all three (shipped)", str(shipped), "tuned on UCI")
    )
    if (SQUAT_DATA / "labels_sets.csv").is_file():
        sq = squat_check(SQUAT_DATA)
        figures.append(
            Figure(
                AREA,
                "real, out of sample: partial squats flagged short (shank)",
                f"{sq.partial_flagged}/{sq.partial_sets}",
                f"squat_shank s1-3, target = own first correct set, thresholds from UCI; "
                f"other sets flagged {sq.others_flagged}/{sq.other_sets}",
                "high (fails: the shank barely sees depth)",
            )
        )
    return figures
