"""Live rep feedback: each rep as it ends against a target range of motion, a bell for a short
one, the rest timer; and `anklet log`'s labels and target from the training history."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from anklet.analysis import Rep
from anklet.feedback import BELL, RepCoach, Target
from anklet.labels import read_labels
from anklet.recorder import LiveStats
from anklet.training import JumpLanded, RepEnded
from historyhelpers import anklet

# One set of 4 reps of the given range of motion after 1 s of stillness (~8 s of recording).
# The exercise starts at the recording's START, not at power-on: a machine slow to reach the
# board cuts no rep short.
SIM = "sim?motion_from=start"
MOTION = "leg-raise:sets=1,reps=4,up=0.6,hold=0.2,down=0.6,pause=0.3,lead=1,rom={rom},seed=3"


def _rep(rom_deg: float) -> Rep:
    return Rep(
        index=1, start_s=1.0, end_s=3.0, turnaround_s=1.8, concentric_end_s=1.8,
        eccentric_start_s=2.2, duration_s=2.0, concentric_s=0.8, hold_s=0.4, eccentric_s=0.8,
        rom_deg=rom_deg, peak_velocity_dps=rom_deg, mean_velocity_dps=rom_deg / 1.6,
        concentric_mean_velocity_dps=rom_deg / 0.8, sway_deg=1.0,
    )  # fmt: skip


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_rep_under_nine_tenths_of_the_target_is_short_and_rings_the_bell():
    rung: list[str] = []
    clock = _Clock()
    coach = RepCoach(Target(60.0, "--target-rom"), beep=True, bell=rung.append, clock=clock)
    assert coach.rest_s() is None
    coach.on_event(RepEnded(1, 1, 1, _rep(58.0)))
    clock.now += 1
    coach.on_event(RepEnded(1, 2, 2, _rep(50.0)))
    assert [v.short for v in coach.verdicts] == [False, True]
    assert rung == [BELL]
    assert coach.lines[0].startswith("set 1 rep 1  58° of 60°, lifting 72°/s, up 0.8")
    assert "50° of 60° SHORT" in coach.lines[1]
    clock.now += 35.5
    assert coach.rest_s() == 35.5  # the rest timer runs from the last rep's end


def test_without_beep_or_target_nothing_rings_and_nothing_is_short():
    rung: list[str] = []
    quiet = RepCoach(Target(60.0, "x"), beep=False, bell=rung.append)
    quiet.on_event(RepEnded(1, 1, 1, _rep(20.0)))
    untargeted = RepCoach(None, beep=True, bell=rung.append)
    untargeted.on_event(RepEnded(1, 1, 1, _rep(20.0)))
    untargeted.on_event(JumpLanded(1, jump=None))  # type: ignore[arg-type]  # not a rep
    assert quiet.verdicts[0].short is True and rung == []
    assert untargeted.verdicts[0].short is False and "of" not in untargeted.lines[0]
    assert len(untargeted.lines) == 1


class _SessionEndingOnARep:
    """A LogSession whose last rep ends as the session does (what `log --duration` meets)."""

    rate_note = ""
    live = LiveStats()

    def __init__(self) -> None:
        self.listeners = []

    def subscribe(self, listener) -> None:
        self.listeners.append(listener)

    def stop(self) -> None:
        pass

    async def run(self) -> str:
        for listener in self.listeners:
            listener(RepEnded(1, 1, 1, _rep(50.0)))
        return "summary"


def test_a_rep_that_ends_with_the_session_is_still_printed(capsys):
    from anklet.cli.device_cmds import _record

    rung: list[str] = []
    coach = RepCoach(Target(60.0, "--target-rom"), beep=True, bell=rung.append)
    assert asyncio.run(_record(_SessionEndingOnARep(), "lines", coach)) == "summary"  # type: ignore[arg-type]
    assert rung == [BELL]
    assert "set 1 rep 1  50° of 60° SHORT" in capsys.readouterr().err


def test_log_labels_the_session_and_holds_reps_to_the_athletes_best_recent_session(tmp_path):
    env = {"ANKLET_DATA_DIR": str(tmp_path / "data")}
    out = tmp_path / "sessions"
    labels = ["--exercise", "seated knee extension", "--side", "left", "--athlete", "Ana"]
    first = anklet(
        "log", "--device", SIM, "--duration", "8", "--json", "--out", str(out),
        "--motion", MOTION.format(rom=60), *labels, "--load-kg", "2.5", env=env,
    )  # fmt: skip
    assert first.exit_code == 0, first.output
    folder = Path(json.loads(first.output.strip().splitlines()[-1])["session"])
    stored = read_labels(folder)
    assert (stored.exercise, stored.side, stored.athlete, stored.load_kg) == (
        "seated-knee-extension", "left", "Ana", 2.5,
    )  # fmt: skip
    assert json.loads((folder / "session.json").read_text())["labels"]["athlete"] == "Ana"

    # A week later, tired: the same exercise at 40°, with no --target-rom. The target is the
    # best recent session's range of motion (about 60°), and every rep rings the bell.
    second = anklet(
        "log", "--device", SIM, "--duration", "8", "--out", str(out), "--beep",
        "--motion", MOTION.format(rom=40), *labels, env=env,
    )  # fmt: skip
    assert second.exit_code == 0, second.output
    rep_lines = [line.strip() for line in second.output.splitlines() if " rep " in line]
    assert len(rep_lines) >= 3, second.output
    assert all("SHORT" in line for line in rep_lines), rep_lines
    target = int(rep_lines[0].split(" of ")[1].split("°")[0])
    assert 54 <= target <= 66
    assert second.output.count(BELL) == len(rep_lines)


def test_bad_labels_and_targets_are_one_line_errors_before_anything_opens(tmp_path):
    from clihelpers import assert_one_line_error

    out = str(tmp_path / "out")
    assert_one_line_error(anklet("log", "--out", out, "--side", "up"), "side 'up'")
    assert_one_line_error(anklet("log", "--out", out, "--load-kg", "-3"), "load_kg")
    assert_one_line_error(
        anklet("log", "--out", out, "--exercise", "seated knee extensoin"), "did you mean"
    )
    assert_one_line_error(anklet("log", "--out", out, "--target-rom", "0"), "--target-rom 0")
    assert not Path(out).exists()
