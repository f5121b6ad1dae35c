"""Plyometrics through the whole chain, as a user runs it: `anklet set --accel-g 16` and
`anklet log --rate 400` on the simulated board (register-level IMU under the real firmware,
the serial link, the session files), then the jumps the session's analysis wrote."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from accounting import assert_every_sample_accounted, lost_on_the_link
from anklet.analysis import analyze_csv
from anklet.training import TrainingOutcome
from anklet_sim import motion as sim_motion

pytestmark = pytest.mark.timeout(180)

# Each jump 2 % lower than the last: the summary flags the height loss.
MOTION = "jumps:series=1,jumps=6,flight=0.45,contact=0.25,fade=0.02,impact=8,lead=2,seed=2"


def _anklet(tmp_path, *args: str) -> str:
    env = {**os.environ, "ANKLET_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "anklet.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=150,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_logged_jump_session_reports_flight_and_contact_times(tmp_path):
    _anklet(tmp_path, "set", "--device", "sim", "--accel-g", "16")  # landings pass 8 g
    out = tmp_path / "out"
    stdout = _anklet(
        tmp_path, "log", "--device", "sim?psram=1&motion_from=start", "--motion", MOTION,
        "--rate", "400", "--duration", "10", "--quiet", "--out", str(out),
    )  # fmt: skip
    (folder,) = out.iterdir()
    assert lost_on_the_link(assert_every_sample_accounted(folder)) == 0
    assert "0 rep(s), 6 jump(s)" in stdout
    assert "! Jump series 1: jump height fell" in stdout
    assert "landings reached" not in stdout  # ±16 g: no landing clipped
    with (folder / "jumps.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    truth = sim_motion.from_spec(MOTION).events()
    assert len(rows) == len(truth) == 6
    # The session clock starts when logging starts, not at the motion's t = 0: compare spans.
    for row, (takeoff, landing) in zip(rows, truth, strict=True):
        assert float(row["flight_s"]) == pytest.approx(landing - takeoff, abs=0.008)
    assert rows[0]["contact_s"] == ""  # the first jump is from standing
    for row, prev, now in zip(rows[1:], truth, truth[1:], strict=False):
        assert float(row["contact_s"]) == pytest.approx(now[0] - prev[1], abs=0.008)
    assert max(float(r["landing_peak_g"]) for r in rows) > 8.0  # not clipped at ±8 g
    # The recorder analysed the rows it held, not the file: the same answer as reading it back.
    meta = json.loads((folder / "session.json").read_text())
    from_file = TrainingOutcome(analyze_csv(folder / "samples.csv")).summary()
    np.testing.assert_equal(meta["analysis"], json.loads(json.dumps(from_file)))
    assert meta["analysis"]["jumps"] == 6
