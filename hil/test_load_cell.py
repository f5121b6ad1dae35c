"""The strap's load cell: TARE zeroes it, CALIBRATE with a known mass makes it read m·g.

On the simulator the strap force is the motion's `mass` × |specific force|: `still:mass=0` is
an empty strap, `still:mass=M` a mass M hanging still (force M·g). On a real board the tare
test expects an empty, still strap; the calibration test asks the operator to hang the mass
given by --known-mass-kg.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from conftest import GRAVITY

EMPTY_STRAP = "still:mass=0,sway=0"
SIM_MASS_KG = 5.0


async def load_counts(device, seconds=1.5):
    """Tared load-cell counts streamed over `seconds` (the board streams, then stops)."""
    counts = []
    device.on_samples = lambda block: counts.extend(int(c) for c in block.load["counts"])
    await device.start()
    await asyncio.sleep(seconds)
    await device.stop()
    device.on_samples = lambda block: None
    return np.array(counts, dtype=np.float64)


def test_tare_brings_the_load_reading_to_zero(hil, figure):
    async def body(board):
        before = await load_counts(board.device)
        offset = await board.device.tare(40)
        after = await load_counts(board.device)
        info = await board.device.get_info()
        return before, offset, after, info

    before, offset, after, info = hil.run(body, motion=EMPTY_STRAP)
    scale = info.load_scale_counts_per_n
    noise = float(np.std(after))
    figure(
        f"before {np.mean(before) / scale:+.2f} N, after {np.mean(after) / scale:+.3f} N "
        f"(noise {noise / scale:.3f} N, offset {offset} counts, {len(after)} samples)"
    )
    assert len(after) >= 50
    assert info.load_offset == offset
    # Zero within the reading's own noise: the tare averaged 40 conversions.
    assert abs(np.mean(after)) <= max(3 * noise, 0.002 * abs(scale))


def test_calibrate_with_a_known_mass_reads_m_times_g(hil, target, pytestconfig, operator, figure):
    mass_kg = pytestconfig.getoption("--known-mass-kg")
    if not target.is_sim and mass_kg is None:
        pytest.skip("give --known-mass-kg (the calibration mass) to calibrate a real board")
    mass_kg = mass_kg or SIM_MASS_KG

    async def body(board):
        if board.sim is None:
            operator("Take everything off the strap and keep it still")
        await board.device.tare(40)
        if board.sim is None:
            operator(f"Hang {mass_kg:g} kg on the strap and let it settle")
        else:
            await board.power_cycle(motion=f"still:mass={mass_kg},sway=0")
            await asyncio.sleep(1.0)  # the HX711 settles after power-up
        scale = await board.device.calibrate(mass_kg)
        counts = await load_counts(board.device)
        info = await board.device.get_info()
        return scale, counts, info

    scale, counts, info = hil.run(body, motion=EMPTY_STRAP)
    force_n = counts / scale
    expected_n = mass_kg * GRAVITY
    figure(
        f"{np.mean(force_n):.2f} N for {mass_kg:g} kg (m·g = {expected_n:.2f} N), scale "
        f"{scale:.1f} counts/N"
    )
    assert info.load_scale_counts_per_n == pytest.approx(scale, rel=1e-6)
    assert np.mean(force_n) == pytest.approx(expected_n, rel=0.01)
