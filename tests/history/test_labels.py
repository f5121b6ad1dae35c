"""Session labels: the catalogue, one-line refusals, the atomic write into session.json, and the
labels a recorder attaches at session start."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from anklet.csvlog import SessionFolder
from anklet.device import DeviceInfo
from anklet.labels import (
    LabelError,
    Labels,
    attach_labels,
    make_labels,
    read_labels,
    write_labels,
)
from anklet.session import SessionLog
from clihelpers import assert_one_line_error
from historyhelpers import anklet

INFO = DeviceInfo(
    device_id="0011", name="Anklet-TEST", firmware="1.0", firmware_git="x", protocol="1.1",
    imu_model="MPU6050", accel_fs_g=8, gyro_fs_dps=1000, imu_rate_hz=200, load_rate_hz=80,
    reset_cause="POWER_ON", load_offset=0, load_scale_counts_per_n=1000.0, max_frame=512,
    accel_lsb_per_g=4096.0, gyro_lsb_per_dps=32.8, resend_window_ms=0,
)  # fmt: skip


def _session(tmp_path: Path) -> Path:
    folder = tmp_path / "s1"
    folder.mkdir()
    (folder / "session.json").write_text(json.dumps({"complete": True, "duration_s": 12.0}))
    return folder


def test_catalogue_names_slugs_and_free_text():
    assert make_labels(exercise="Straight leg raise").exercise == "straight-leg-raise"
    assert make_labels(exercise="side_lying_leg_raise").exercise == "side-lying-leg-raise"
    assert make_labels(exercise="  Nordic curl ").exercise == "Nordic curl"
    assert Labels(exercise="donkey-kick").exercise_name == "donkey kick"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"exercise": "seated knee extention"}, "did you mean seated-knee-extension"),
        ({"side": "middle"}, "side 'middle': use left, right or both"),
        ({"load_kg": "2,5"}, "load_kg '2,5' is not a number"),
        ({"load_kg": "2500"}, "0 to 50"),
        ({"load_kg": "nan"}, "0 to 50"),
        ({"athlete": "Ana\x1b[31m"}, "control characters"),
        ({"note": "x" * 501}, "at most 500"),
        ({"athlete": "  "}, "athlete is empty"),
    ],
)
def test_bad_labels_are_refused_with_one_line(given, message):
    with pytest.raises(LabelError, match=message.replace("(", r"\(")) as caught:
        make_labels(**given)
    assert "\n" not in str(caught.value)


def test_writing_labels_keeps_the_rest_of_session_json_and_leaves_no_temporary(tmp_path):
    folder = _session(tmp_path)
    labels = make_labels(exercise="donkey kick", side="right", athlete="Ana", load_kg="2.5")
    write_labels(folder, labels)
    meta = json.loads((folder / "session.json").read_text())
    assert meta["duration_s"] == 12.0
    assert meta["labels"] == {
        "exercise": "donkey-kick", "side": "right", "athlete": "Ana", "load_kg": 2.5, "note": None,
    }  # fmt: skip
    assert read_labels(folder) == labels
    assert sorted(p.name for p in folder.iterdir()) == ["session.json"]


def test_labels_attached_at_session_start_are_in_every_session_json(tmp_path):
    started = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    folder = SessionFolder.create(tmp_path, INFO.name, started)
    log = SessionLog(folder, INFO, started, start_host_s=0.0)
    labels = make_labels(exercise="straight-leg raise", side="left", athlete="Ben", note="knee")
    attach_labels(log, labels)
    folder.write_json(log.meta(False, 0.0, "test", {}))
    assert read_labels(folder.path) == labels
    folder.write_json(log.meta(True, 5.0, "test", {}))  # the recorder's last write
    assert read_labels(folder.path) == labels
    folder.close()


def test_label_command_sets_fixes_and_clears(tmp_path):
    folder = _session(tmp_path)
    done = anklet("label", str(folder), "--exercise", "prone hamstring curl", "--side", "left",
                  "--athlete", "Ana", "--load-kg", "3", "--note", "after physio")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "prone hamstring curl" in done.stdout
    fixed = anklet("label", "s1", "--sessions", str(tmp_path), "--side", "right", "--note", "",
                   "--json")  # fmt: skip
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.stdout)["labels"] == {
        "exercise": "prone-hamstring-curl", "side": "right", "athlete": "Ana", "load_kg": 3.0,
        "note": None,
    }  # fmt: skip


def test_label_command_errors_are_one_line(tmp_path):
    folder = _session(tmp_path)
    assert_one_line_error(anklet("label", str(folder), "--side", "up"), "side 'up'")
    assert_one_line_error(anklet("label", str(tmp_path / "nope")), "no session folder")
    (folder / "session.json").write_text("{broken")
    assert_one_line_error(anklet("label", str(folder), "--side", "left"), "unreadable")
