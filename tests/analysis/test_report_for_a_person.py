"""Issue #15: report.png names the exercise, side, athlete, load and date from session.json's
"labels" (tolerating their absence), shows time per rep against the tempo target, sway, the
force trace when there is one and last time's session; `analyze` judges tempo by the label."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from anklet.analysis import analyze_csv, read_imu_csv
from anklet.analysis.report import PastSession, build_report, write_report
from anklet.analysis.session_labels import SessionLabels, read_session_labels
from anklet.cli import _load_commands, app
from typer.testing import CliRunner

FIXTURE = Path(__file__).parents[1] / "fixtures" / "uci_s1_e1_u2_fast_set.csv"
_load_commands()
runner = CliRunner()
LABELS = {
    "exercise": "seated knee extension",
    "side": "right",
    "athlete": "Ana Lima",
    "load_kg": 2.5,
    "note": "after the physio visit",
}


def _session(folder: Path, labels: object = None, force: bool = False) -> Path:
    """A session folder holding the real fast set (UCI s1, shank), with a strap force if asked."""
    folder.mkdir()
    rec = read_imu_csv(FIXTURE)
    with (folder / "samples.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t_s", "ax_ms2", "ay_ms2", "az_ms2", "gx_dps", "gy_dps", "gz_dps"]
                   + (["force_n"] if force else []))  # fmt: skip
        for i, t in enumerate(rec.t_s):
            extra = [f"{20 + 0.05 * abs(rec.gyro_dps[i, 0]):.2f}"] if force else []
            w.writerow([f"{t:.3f}", *rec.acc_ms2[i], *rec.gyro_dps[i], *extra])
    meta: dict[str, object] = {"started_utc": "2026-12-01T11:49:40+00:00"}
    if labels is not None:
        meta["labels"] = labels
    (folder / "session.json").write_text(json.dumps(meta))
    return folder / "samples.csv"


def _all_text(fig) -> str:
    texts = [fig.get_suptitle()]
    for ax in fig.axes:
        texts += [t.get_text() for t in ax.texts]
        texts += [ax.get_xlabel(), ax.get_ylabel()]
        legend = ax.get_legend()
        if legend:
            texts += [t.get_text() for t in legend.get_texts()]
        for table in ax.tables:
            texts += [c.get_text().get_text() for c in table.get_celld().values()]
    return "\n".join(texts)


def test_report_names_who_trained_what_and_when_with_the_force_trace(tmp_path: Path) -> None:
    samples = _session(tmp_path / "Anklet-FFEE-20261201-114940", LABELS, force=True)
    fig, result = build_report(read_imu_csv(samples), samples)
    heading = fig.get_suptitle()
    for words in (
        "Seated knee extension",
        "right leg",
        "Ana Lima",
        "2.5 kg ankle weight",
        "Tue 1 Dec 2026, 11:49 UTC",
        "1 sets, 10 reps",
        "after the physio visit",
    ):
        assert words in heading, words  # fmt: skip
    ylabels = {ax.get_ylabel() for ax in fig.axes}
    assert {"strap force (N)", "time per rep (s)", "sideways sway (deg)",
            "range of motion (deg)"} <= ylabels  # fmt: skip
    text = _all_text(fig)
    assert "target 9 s (2 s up, 5 s hold, 2 s down)" in text  # the exercise's tempo
    assert "too fast" in " ".join(result.flags)  # the real rushed set is flagged...
    assert " ".join(result.flags[0].split()) in " ".join(text.split())  # ...in words
    assert "file clock" not in text and "acceleration (g)" not in ylabels  # no jumps: no g


def test_report_without_labels_or_force_still_renders_and_says_what_is_unknown(
    tmp_path: Path,
) -> None:
    samples = _session(tmp_path / "s", labels=None)
    fig, result = build_report(read_imu_csv(samples), samples)
    assert fig.get_suptitle().startswith("Exercise not labelled\n")
    assert "strap force (N)" not in {ax.get_ylabel() for ax in fig.axes}
    assert result.total_reps == 10
    out = tmp_path / "r.png"
    write_report(read_imu_csv(FIXTURE), FIXTURE, out)  # a bare CSV: no session.json at all
    assert out.stat().st_size > 10_000


def test_report_compares_with_the_previous_session_when_given(tmp_path: Path) -> None:
    samples = _session(tmp_path / "s", LABELS)
    week_ago = SessionLabels(started=datetime(2026, 11, 24, tzinfo=UTC))
    last = PastSession(analyze_csv(FIXTURE), week_ago)
    fig, _ = build_report(read_imu_csv(samples), samples, previous=last)
    text = _all_text(fig)
    assert "Compared with last time" in text and "last time, 24 Nov 2026" in text
    assert "last time (24 Nov 2026): " in text  # the grey lines on the per-rep charts
    fig, _ = build_report(read_imu_csv(samples), samples)
    assert "last time" not in _all_text(fig)


def test_unreadable_labels_are_ignored_and_named(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    _session(folder, {"exercise": "donkey kick", "side": "left", "load_kg": "heavy"})
    labels = read_session_labels(folder)
    assert (labels.exercise, labels.side, labels.load_kg) == (None, None, None)
    assert labels.started is not None  # the date still reads
    assert len(labels.problems) == 1 and "load_kg 'heavy' is not a number" in labels.problems[0]
    (folder / "session.json").write_text("{not json")
    assert read_session_labels(folder).problems[0].endswith("labels ignored")
    assert read_session_labels(tmp_path / "nowhere") == SessionLabels()


def test_catalogue_slugs_read_as_names(tmp_path: Path) -> None:
    _session(tmp_path / "s", {**LABELS, "exercise": "side-lying-leg-raise"})
    assert read_session_labels(tmp_path / "s").exercise == "side-lying leg raise"


def test_analyze_judges_tempo_by_the_labelled_exercise(tmp_path: Path) -> None:
    held = _session(tmp_path / "held", LABELS)  # seated knee extension: held 5 s at the top
    out = runner.invoke(app, ["analyze", str(held.parent)])
    assert out.exit_code == 0 and "too fast" in out.stdout
    kick = _session(tmp_path / "kick", {**LABELS, "exercise": "donkey kick"})
    out = runner.invoke(app, ["analyze", str(kick.parent), "--json"])
    assert out.exit_code == 0
    assert not any("too fast" in f for f in json.loads(out.stdout)["flags"])  # 2.7 s of 5 s
    out = runner.invoke(app, ["analyze", str(kick.parent), "--exercise", "straight-leg raise"])
    assert "too fast" in out.stdout  # the option overrides the label


def test_report_command_notes_a_bad_label_and_writes_the_png(tmp_path: Path) -> None:
    samples = _session(tmp_path / "s", {**LABELS, "load_kg": "heavy"}, force=True)
    out = runner.invoke(app, ["report", str(samples.parent)])
    assert out.exit_code == 0, out.stderr
    assert out.stdout.strip().endswith("report.png: 1 sets, 10 reps")
    assert "note: " in out.stderr and "load_kg 'heavy' is not a number" in out.stderr
    assert (samples.parent / "report.png").stat().st_size > 10_000
    assert np.isfinite(read_imu_csv(samples).force_n).all()


def test_free_text_labels_are_drawn_as_typed(tmp_path: Path) -> None:
    labels = {"exercise": "ACL rehab raise", "athlete": "J. $mith", "note": "cost $5 $"}
    samples = _session(tmp_path / "s", labels)
    fig, _ = build_report(read_imu_csv(samples), samples)
    fig.canvas.draw()
    heading = fig.get_suptitle()
    # escaped, so a pair of `$` is not drawn as math (italic, the text between them lost)
    assert heading.startswith("ACL rehab raise  ·  J. \\$mith") and "cost \\$5 \\$" in heading
    assert "right leg" not in heading  # no side labelled: none said


def test_report_command_compares_with_a_previous_session_folder(tmp_path: Path) -> None:
    today = _session(tmp_path / "today", LABELS)
    before = _session(tmp_path / "before", LABELS, force=True)
    out = runner.invoke(app, ["report", str(today.parent), "--previous", str(before.parent)])
    assert out.exit_code == 0, out.stderr
    assert (today.parent / "report.png").is_file()
    missing = runner.invoke(app, ["report", str(today.parent), "--previous", str(tmp_path / "x")])
    assert missing.exit_code == 2 and missing.stderr.strip().endswith("no such file")
    assert missing.stderr.count("\n") == 1
