"""A real excerpt (UCI physical-therapy data, see fixtures/README.md) and, when present, the
full shared dataset against the accuracy target."""

from __future__ import annotations

from pathlib import Path

import pytest
from anklet.analysis import analyze_csv
from anklet.analysis.evaluate import DEFAULT_DATA, evaluate

FIXTURE = Path(__file__).parents[1] / "fixtures" / "uci_s1_e1_u2_fast_set.csv"


def test_real_fast_set_on_the_shank_counts_ten_reps() -> None:
    result = analyze_csv(FIXTURE)
    assert [s.rep_count for s in result.sets] == [10]
    assert result.total_jumps == 0  # a seated exercise: nobody leaves the ground
    for rep in result.sets[0].reps:
        assert 40 < rep.rom_deg < 120  # seated knee extension
        assert rep.duration_s < 4


@pytest.mark.skipif(not (DEFAULT_DATA / "labels_sets.csv").is_file(), reason="dataset absent")
def test_shared_dataset_meets_the_accuracy_target() -> None:
    ev = evaluate(DEFAULT_DATA)
    assert ev.negative_control_reps == 0
    assert ev.false_jumps == 0
    for row in ev.rows:
        assert row.within_one_pct >= 97.0, row
