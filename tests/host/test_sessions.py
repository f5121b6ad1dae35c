"""Sessions from the simulated board over a real pty: lossless, well timed, and robust to
link cuts, resets, corruption and Ctrl-C."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from accounting import assert_every_sample_accounted, lost_on_the_link
from simhelpers import eventually, read_meta, read_samples, record

pytestmark = pytest.mark.timeout(240)


def _indices(rows: list[dict[str, str]]) -> np.ndarray:
    return np.array([int(r["index"]) for r in rows])


@pytest.mark.parametrize("rate_hz", [200, 400])  # 400: the most 115200 baud carries
def test_session_accounts_for_every_sample_and_times_them_evenly(sim, tmp_path, rate_hz):
    summary = asyncio.run(record(sim, tmp_path / "out", 12.0, rate_hz))
    meta = assert_every_sample_accounted(summary.folder)
    assert lost_on_the_link(meta) == 0
    # At least a second of the 12 s: how much of it a busy machine spends connecting is up to
    # the scheduler; what the rows say of each sample is not.
    assert summary.samples + summary.lost == summary.expected >= rate_hz
    t = np.array([float(r["t_s"]) for r in read_samples(summary.folder)])
    index = _indices(read_samples(summary.folder))
    true_rate = meta["clock"][0]["sample_rate_hz"]
    # Even spacing at the board's true rate (the simulated IMU runs 150 ppm fast), across any
    # gap: t_s follows the index, not the arrival.
    spacing = np.diff(t) / np.diff(index)
    assert np.median(spacing) == pytest.approx(1 / true_rate, rel=1e-3)
    assert spacing.max() - spacing.min() < 1e-5
    assert true_rate == pytest.approx(rate_hz, rel=5e-3)
    assert meta["complete"] is True


def test_link_cut_mid_set_is_refilled_with_zero_loss(sim, tmp_path):
    async def cut(recorder):
        await asyncio.sleep(6)
        sim.cut_link()
        # The link comes back once the recorder has noticed it gone (2 s of silence), whatever
        # the machine's load: the cut is as long as it takes, not a fixed time.
        assert await eventually(lambda: recorder.live.reconnects >= 1, timeout_s=60)
        sim.restore_link()

    # At 100 Hz the board's ring holds ~8 s: the samples of the cut are still there to re-send.
    summary = asyncio.run(record(sim, tmp_path / "out", 16.0, 100, during=cut))
    meta = assert_every_sample_accounted(summary.folder)
    assert lost_on_the_link(meta) == 0
    assert summary.refilled >= 2.0 * 100 * 0.8
    assert summary.reconnects >= 1
    assert sim.stats.dropped_to_host > 0


def test_board_reset_mid_session_counts_the_gap_and_continues(sim, tmp_path):
    async def reset(recorder):
        await asyncio.sleep(6)
        sim.power_cycle()

    summary = asyncio.run(record(sim, tmp_path / "out", 18.0, 200, during=reset))
    meta = read_meta(summary.folder)
    assert summary.boots == 2
    assert summary.lost > 0
    reasons = {r["why"] for r in meta["loss"]["lost_ranges"]}
    assert "board reset" in reasons
    rows = read_samples(summary.folder)
    index = _indices(rows)
    assert np.all(np.diff(index) > 0)  # indices continue past the gap, never repeat
    t = np.array([float(r["t_s"]) for r in rows])
    assert t[-1] > 15.0  # the session went on after the reset
    assert summary.expected == summary.samples + summary.lost


def test_corrupted_bytes_are_counted_and_refilled(sim, tmp_path):
    async def corrupt(recorder):
        await asyncio.sleep(5)
        sim.corrupt(400)

    summary = asyncio.run(record(sim, tmp_path / "out", 12.0, 200, during=corrupt))
    meta = read_meta(summary.folder)
    decoder = meta["loss"]["decoder"]
    assert decoder["crc_errors"] + decoder["bad_cobs"] + decoder["bytes_discarded"] > 0
    assert summary.refilled > 0
    assert lost_on_the_link(assert_every_sample_accounted(summary.folder)) == 0
