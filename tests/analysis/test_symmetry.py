"""Limb symmetry index: involved / uninvolved, or smaller / larger, per metric."""

from __future__ import annotations

import numpy as np
import pytest
from anklet.analysis import analyze_arrays
from anklet.analysis.symmetry import limb_symmetry, lsi_pct
from anklet_sim import motion


def _session(rom_deg: float, reps: int = 6):
    source = motion.from_spec(
        f"leg-raise:sets=1,reps={reps},rom={rom_deg},up=0.8,hold=0.3,down=1.0,pause=0.4,"
        "rest=5,lead=2,seed=4"
    )
    t, x = motion.sampled(source, 100, source.duration_s + 3)
    return analyze_arrays(x[:, :3], x[:, 3:6], t_s=t, force_n=x[:, 6])


def test_lsi_is_involved_over_uninvolved_when_a_side_is_marked():
    assert lsi_pct(40.0, 50.0, "left") == pytest.approx(80.0)
    assert lsi_pct(40.0, 50.0, "right") == pytest.approx(125.0)


def test_lsi_is_smaller_over_larger_when_no_side_is_marked():
    assert lsi_pct(50.0, 40.0, None) == pytest.approx(80.0)
    assert lsi_pct(40.0, 50.0, None) == pytest.approx(80.0)
    assert lsi_pct(0.0, 0.0, None) == pytest.approx(100.0)


def test_lsi_cannot_be_formed_without_both_sides_or_on_a_zero_reference():
    assert lsi_pct(None, 50.0, None) is None
    assert lsi_pct(10.0, 0.0, "left") is None


def test_weaker_range_of_motion_on_one_side_shows_in_the_index_and_is_flagged():
    left, right = _session(60), _session(40)
    assert left.total_reps == right.total_reps == 6
    sym = limb_symmetry(left, right, involved="right")
    rom = sym.metric("rom_deg")
    assert rom.left is not None and rom.right is not None
    assert rom.lsi_pct == pytest.approx(100 * rom.right / rom.left)
    assert 55 < rom.lsi_pct < 80  # 40° against 60° of simulated motion
    assert sym.metric("reps").lsi_pct == pytest.approx(100.0)
    assert any(f.startswith("mean range of motion") for f in sym.flags)
    assert sym.to_dict()["formula"] == "right / left x 100"


def test_identical_sides_are_symmetric_and_unflagged():
    sym = limb_symmetry(_session(55), _session(55))
    for m in sym.metrics:
        assert m.lsi_pct == pytest.approx(100.0), m
    assert sym.flags == []


def test_a_side_without_reps_says_symmetry_needs_both():
    gravity = np.tile([0.0, 0.0, 9.81], (1000, 1))
    still = analyze_arrays(gravity, np.zeros((1000, 3)), rate_hz=100)
    sym = limb_symmetry(_session(55), still)
    assert sym.metric("reps").lsi_pct == pytest.approx(0.0)
    assert any("no reps on the right side" in f for f in sym.flags)


def test_unknown_involved_side_is_refused():
    with pytest.raises(ValueError, match="use left or right"):
        limb_symmetry(_session(55), _session(55), involved="middle")
