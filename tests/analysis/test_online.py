"""The online detector: same counts as offline, each rep reported within 1 s of its end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from anklet.analysis import OnlineRepDetector, SessionAnalysis, analyze, read_imu_csv
from anklet.analysis.loading import AnalysisInputError, ImuRecording
from anklet.analysis.synthetic import SyntheticSession, random_rotation

FIXTURE = Path(__file__).parents[1] / "fixtures" / "uci_s1_e1_u2_fast_set.csv"


def _stream(rec: ImuRecording, block: int) -> tuple[SessionAnalysis, list[float]]:
    """Feed `rec` in blocks; return the final result and, for each of its reps, the delay from
    the rep's end to the moment it was reported live."""
    det = OnlineRepDetector()
    reported: list[tuple[float, float, float]] = []  # start, end, when
    n = len(rec.t_s)
    for i in range(0, n, block):
        sl = slice(i, min(i + block, n))
        now_s = float(rec.t_s[sl.stop - 1])
        for rep in det.feed(rec.t_s[sl], rec.acc_ms2[sl], rec.gyro_dps[sl]):
            reported.append((rep.start_s, rep.end_s, now_s))
    result = det.finish()
    latencies = []
    for rep in (r for s in result.sets for r in s.reps):
        when = [w for a, b, w in reported if a < rep.end_s and rep.start_s < b]
        latencies.append(min(when) - rep.end_s if when else float("inf"))
    return result, latencies


def _session_rec(seed: int, rate_hz: float) -> ImuRecording:
    rng = np.random.default_rng(seed)
    session = SyntheticSession(rate_hz=rate_hz, mount=random_rotation(rng))
    session.rest(3).set(5, rom_deg=35, up_s=1.5, hold_s=5, down_s=2).rest(20).walk(15).rest(15)
    session.set(8, rom_deg=45, up_s=0.5, hold_s=0, down_s=0.6, pause_s=0.3).rest(2)
    rec, _ = session.build(rng)
    return rec


@pytest.mark.parametrize(("rate_hz", "block"), [(100.0, 10), (200.0, 64), (25.0, 1)])
def test_online_counts_equal_offline_and_reps_arrive_within_1s(rate_hz: float, block: int) -> None:
    rec = _session_rec(2, rate_hz)
    offline = analyze(rec)
    online, latencies = _stream(rec, block)
    assert [s.rep_count for s in online.sets] == [s.rep_count for s in offline.sets] == [5, 8]
    assert max(latencies) <= 1.0  # every final rep was reported live within 1 s of its end
    on = [r.end_s for s in online.sets for r in s.reps]
    off = [r.end_s for s in offline.sets for r in s.reps]
    assert on == pytest.approx(off, abs=1e-6)


def test_online_matches_offline_on_real_recording_fed_sample_by_sample() -> None:
    rec = read_imu_csv(FIXTURE)
    online, latencies = _stream(rec, 1)
    assert online.total_reps == analyze(rec).total_reps == 10
    assert max(latencies) <= 1.0


def test_online_rejects_time_going_backwards() -> None:
    det = OnlineRepDetector()
    det.feed(np.array([0.0, 0.01]), np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(AnalysisInputError, match="not increasing"):
        det.feed(0.005, np.zeros(3), np.zeros(3))
