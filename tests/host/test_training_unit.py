"""Live training events and the final analysis of a session, through a fake link: no MicroPython.

A synthetic workout (two sets of leg raises, analysis/synthetic.py) is packed into SAMPLES frames
as a board sends them, read by `Device` from a FakeTransport, and written by `SessionLog` with a
`SessionTraining` taking the rows as written. The session's clock here is the blocks' own pace.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from anklet.analysis import analyze_csv
from anklet.analysis.synthetic import SyntheticSession
from anklet.analysis.targets import DEFAULT_TARGETS, targets_for
from anklet.capture import decode_capture
from anklet.csvlog import SessionFolder
from anklet.device import Device, DeviceInfo
from anklet.session import GRAVITY, SessionLog
from anklet.training import JumpLanded, RepEnded, SessionTraining, TrainingEvent, conclude
from anklet_protocol import layout, spec, vectors
from anklet_protocol.decoder import SampleBlock
from fake_transport import FakeTransport, ScriptedBoard

STARTED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
RATE_HZ = 200
PER_BLOCK = 12
CAPTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sim_capture_200hz.bin"
SETS = (5, 4)  # reps per set, 14 s of rest between them (more than the 12 s set gap)


def _info_fields() -> dict:
    info = vectors._info("Anklet-TRAIN")
    info.update(imu_rate_hz=RATE_HZ, accel_fs_g=8, gyro_fs_dps=1000)
    return info


def _workout_frames(info: DeviceInfo) -> list[bytes]:
    """SAMPLES payloads of the workout, in LSB as the board packs them."""
    session = SyntheticSession(rate_hz=RATE_HZ).rest(3)
    session.set(reps=SETS[0], rom_deg=50, up_s=1.0, hold_s=0.5, down_s=1.2).rest(14)
    session.set(reps=SETS[1], rom_deg=50, up_s=1.0, hold_s=0.5, down_s=1.2).rest(4)
    rec, _ = session.build(np.random.default_rng(3))
    raw = np.empty((len(rec.t_s), layout.IMU_WIDTH))
    raw[:, layout.ACCEL] = rec.acc_ms2 / GRAVITY * info.accel_lsb_per_g
    raw[:, layout.GYRO] = rec.gyro_dps * info.gyro_lsb_per_dps
    samples = np.zeros(len(raw), dtype=layout.IMU_DTYPE)
    for k, name in enumerate(layout.IMU_FIELDS):
        samples[name] = np.clip(np.rint(raw[:, k]), -32768, 32767)
    period_us = round(1e6 / RATE_HZ)
    payloads = []
    for first in range(0, len(raw) - PER_BLOCK + 1, PER_BLOCK):
        header = spec.SamplesHeader.build(
            dict(first_index=first, t0_us=(first * period_us) % spec.TICKS_PERIOD_US,
                 period_us=period_us, imu_count=PER_BLOCK, load_count=0)
        )  # fmt: skip
        payloads.append(header + samples[first : first + PER_BLOCK].tobytes())
    return payloads


def _blocks_via_device() -> tuple[DeviceInfo, list[SampleBlock]]:
    async def go():
        link = FakeTransport()
        board = ScriptedBoard(link, info=_info_fields())
        blocks: list[SampleBlock] = []
        all_in = asyncio.Event()
        async with Device(link) as device:
            info = await device.get_info()
            payloads = _workout_frames(info)

            def on_samples(block: SampleBlock) -> None:
                blocks.append(block)
                if len(blocks) == len(payloads):
                    all_in.set()

            device.on_samples = on_samples
            for payload in payloads:
                board.send(spec.MsgType.SAMPLES, payload)
            await asyncio.wait_for(all_in.wait(), 30)  # a guard against hanging only
        return info, blocks

    return asyncio.run(go())


INFO, BLOCKS = _blocks_via_device()


def _session(tmp_path: Path, on_event=None, blocks=BLOCKS):
    """Record the blocks at their own pace: (log, training, [(event, last t_s fed then)])."""
    folder = SessionFolder.create(tmp_path, INFO.name, STARTED)
    training = SessionTraining.for_session(INFO, folder.path)
    seen: list[tuple[TrainingEvent, float]] = []
    last_t = [float("nan")]

    def rows(t_s, imu, force_n):
        last_t[0] = float(t_s[-1])
        training.add_rows(t_s, imu, force_n)

    training.subscribe(lambda event: seen.append((event, last_t[0])))
    if on_event is not None:
        training.subscribe(on_event)
    log = SessionLog(folder, INFO, STARTED, start_host_s=0.0, on_rows=rows)
    log.new_boot(0.0, 0.0)
    period_s = PER_BLOCK / RATE_HZ
    for n, block in enumerate(blocks):
        log.add_block(block, now_s=n * period_s)
        if n % 4 == 0:  # the recorder writes every 0.2 s
            log.write_ready(now_s=n * period_s)
    log.finish(now_s=len(blocks) * period_s + 1.0)
    return log, training, seen


def _broken(event: TrainingEvent) -> None:
    raise RuntimeError("a display's bug")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The workout recorded once, with a listener that fails on every event; then concluded."""
    log, training, seen = _session(tmp_path_factory.mktemp("training"), on_event=_broken)
    outcome = conclude(training, log)
    log.folder.write_json(log.meta(True, 0.0, "fake", {}))
    log.folder.close()
    return log, training, seen, outcome


def test_each_rep_is_an_event_with_its_metrics_as_it_ends(recorded):
    _, training, seen, _ = recorded
    reps = [(event, t) for event, t in seen if isinstance(event, RepEnded)]
    assert [(e.set_number, e.rep_number) for e, _ in reps] == [
        (s + 1, r + 1) for s, count in enumerate(SETS) for r in range(count)
    ]
    assert [e.reps_total for e, _ in reps] == list(range(1, sum(SETS) + 1))
    for event, fed_until_s in reps:
        rep = event.rep
        # Reported within a second of coming back to rest, not after the set's 12 s gap.
        assert rep.end_s < fed_until_s < rep.end_s + 1.0
        assert rep.rom_deg == pytest.approx(50, abs=6)
        assert rep.concentric_s == pytest.approx(1.0, abs=0.3)  # tempo: up, hold, down
        assert rep.hold_s == pytest.approx(0.5, abs=0.3)
        assert rep.eccentric_s == pytest.approx(1.2, abs=0.3)
        assert rep.concentric_mean_velocity_dps > 20  # lifting speed
    assert (training.live.sets, training.live.reps) == (len(SETS), sum(SETS))
    assert training.live.last_rep == reps[-1][0].rep
    assert not any(isinstance(event, JumpLanded) for event, _ in seen)


def test_a_listener_that_fails_does_not_stop_the_others_or_the_rows(recorded):
    log, training, seen, _ = recorded  # _broken raised on every event
    assert len([e for e, _ in seen if isinstance(e, RepEnded)]) == sum(SETS)
    assert training.rows == log.samples_written == len(BLOCKS) * PER_BLOCK
    assert not training.live.paused


def test_final_analysis_on_the_kept_rows_equals_analyze_csv_of_the_file(recorded):
    log, _, _, outcome = recorded
    samples = log.folder.path / "samples.csv"
    assert outcome.analysis is not None and outcome.reps == sum(SETS)
    # Equal, every float to the bit: the rows kept are the values the file holds.
    np.testing.assert_equal(asdict(outcome.analysis), asdict(analyze_csv(samples)))
    meta = json.loads((log.folder.path / "session.json").read_text())
    assert meta["analysis"]["sets"] == len(SETS) and meta["analysis"]["reps"] == sum(SETS)
    assert [s["rep_count"] for s in meta["analysis"]["per_set"]] == list(SETS)
    assert "mean_rom_deg" in meta["analysis"]["per_set"][0]
    reps_csv = (log.folder.path / "reps.csv").read_text().splitlines()
    assert len(reps_csv) == 1 + sum(SETS)


def test_final_analysis_covers_only_the_rows_it_is_given(recorded):
    _, training, _, _ = recorded
    first_set_only = training.finish(rows=int(30 * RATE_HZ))  # the first 30 s: one set
    assert first_set_only.analysis is not None
    assert (first_set_only.sets, first_set_only.reps) == (1, SETS[0])


def test_a_session_too_short_to_analyse_says_why_and_still_has_its_tables(tmp_path):
    log, training, _ = _session(tmp_path, blocks=BLOCKS[:10])  # 0.6 s
    outcome = conclude(training, log)
    log.folder.close()
    assert outcome.analysis is None and "need at least 2 s" in outcome.skipped
    assert (log.folder.path / "sets.csv").read_text().startswith("set_index,")
    assert (log.folder.path / "reps.csv").exists()


def test_decode_ends_with_the_same_analysis_as_analyze_csv(tmp_path):
    result = decode_capture(CAPTURE, tmp_path / "decoded")
    assert result.training is not None and result.training.analysis is not None
    np.testing.assert_equal(
        asdict(result.training.analysis), asdict(analyze_csv(result.folder / "samples.csv"))
    )
    meta = json.loads((result.folder / "session.json").read_text())
    assert meta["analysis"] == result.training.summary()
    assert (result.folder / "sets.csv").exists() and (result.folder / "reps.csv").exists()


def test_final_form_flags_judge_the_labelled_exercises_tempo(recorded):
    # The workout's reps take 2.7 s (1.0 up, 0.5 hold, 1.2 down): rushed for a raise held 5 s
    # at the top (the default, 9 s), on tempo for a donkey kick (2-1-2 s).
    # Unlabelled, the sets are judged against the session's slowest: one steady tempo is fine.
    _, training, _, _ = recorded
    unlabelled = training.finish()
    try:
        training.targets = targets_for("seated knee extension")
        held = training.finish()
        training.targets = targets_for("donkey-kick")
        kick = training.finish()
    finally:
        training.targets = DEFAULT_TARGETS
    assert held.analysis is not None and kick.analysis is not None
    assert [f.split(":")[0] for f in held.flags if "too fast" in f] == ["Set 1", "Set 2"]
    assert not any("too fast" in f for f in kick.flags)
    assert not any("too fast" in f for f in unlabelled.flags)
