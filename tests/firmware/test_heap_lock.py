"""The sampler's hot path allocates nothing: Sampler.drain() + Streamer.pump() (and the load
task's LoadCell.poll()) at 1000 Hz under micropython.heap_lock(), with the emulated MPU-6050
filling its FIFO and the serial link writing frames to a file the host decoder then reads."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

from anklet_protocol import StreamDecoder, parse_message
from anklet_protocol.decoder import SampleBlock

from tests.conftest import FIRMWARE, SIM_MPY, run_micropython

SCRIPT = Path(__file__).with_name("mpy_heap_lock.py")
ITERATIONS = 2000  # 20 ms of 1000 Hz each: 40 s of samples


def _run_locked(tmp_path: Path, *mode: str) -> tuple[Path, list[int]]:
    """mpy_heap_lock.py's frames file and the figures it printed after "ok"."""
    config = tmp_path / "sim.json"
    config.write_text(json.dumps({"i2c_timing": False, "motion": "leg-raise"}))
    out = tmp_path / "frames.bin"
    result = run_micropython(
        SCRIPT,
        str(out),
        str(ITERATIONS),
        *mode,
        path=[SIM_MPY, FIRMWARE],
        env={"ANKLET_SIM_CONFIG": str(config)},
    )
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    assert words[0] == "ok", result.stdout + result.stderr
    return out, [int(w) for w in words[1:]]


def test_drain_and_pump_allocate_nothing_at_1000_hz(tmp_path: Path) -> None:
    out, figures = _run_locked(tmp_path)
    done, produced, frames, dropped = figures[:4]
    assert done == ITERATIONS
    assert dropped == 0
    assert produced >= ITERATIONS * 20 - 15  # all but a partial block left in the FIFO

    # What went out under the lock is a well-formed, gap-free stream.
    decoder = StreamDecoder()
    blocks = [parse_message(f) for f in decoder.feed(out.read_bytes())]
    assert all(isinstance(b, SampleBlock) for b in blocks)
    assert decoder.stats.bad_frames == 0
    assert len(blocks) == frames
    assert all(b.imu_count * 12 + b.load_count * 12 + 26 <= 244 for b in blocks)
    assert [b.first_index for b in blocks[1:]] == [b.end_index for b in blocks[:-1]]
    assert blocks[-1].end_index == produced
    assert sum(b.load_count for b in blocks) > 0


def test_keeping_blocks_in_flash_and_resending_them_allocate_nothing(tmp_path: Path) -> None:
    # Nothing acknowledged after index 0: every block the RAM ring overwrites goes to flash
    # until its 1024 slots are used (the rest refused), and halfway a RESEND re-sends from there.
    out, figures = _run_locked(tmp_path, "spill")
    done, _produced, frames, dropped, kept, refused = figures[:6]
    assert done == ITERATIONS and dropped == 0
    assert kept == 1024 and refused > 0

    # The re-sent blocks came from flash: index 500's block again, flagged RESENT, whole.
    decoder = StreamDecoder()
    blocks = [parse_message(f) for f in decoder.feed(out.read_bytes())]
    assert decoder.stats.bad_frames == 0
    resent = [b for b in blocks if b.resent]
    assert resent and resent[0].first_index <= 500 < resent[0].end_index
    # From there in order, the kept blocks; then, once, a jump forward to the RAM ring over
    # the blocks refused once flash was full (lost, as the host is told if it asks).
    start = blocks.index(resent[0])
    after = blocks[start:]
    jumps = [
        (a.end_index, b.first_index) for a, b in pairwise(after) if b.first_index != a.end_index
    ]
    assert len(jumps) == 1 and jumps[0][1] > jumps[0][0], jumps
    assert len(blocks) == frames
