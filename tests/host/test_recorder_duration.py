"""`--duration` is time recorded, counted from the stream's start: a board that took a second
to answer (a BLE scan and pairing, a busy machine) still gives the whole duration of samples.
Counted from the command's start, the same session held 0.04 s of its 1.5 s. The board is the
scripted one on a fake link (tests/streaming_board.py): no MicroPython."""

from __future__ import annotations

import asyncio
import time

from anklet.device import Device
from anklet.recorder import SessionRecorder
from anklet_protocol import spec
from fake_transport import FakeTransport
from streaming_board import StreamingBoard

SILENT_S = 1.3  # the board answers nothing for this long after the host starts asking


def test_the_duration_counts_from_the_streams_start_not_from_connecting(tmp_path):
    async def go():
        link = FakeTransport()
        board = StreamingBoard(link, blocks=600, lost=set())  # 30 s of 200 Hz if let run
        booted_at = time.monotonic() + SILENT_S

        def booting(command):
            if time.monotonic() < booted_at:
                return None  # still booting: no answer
            return spec.StatusCode.OK, board.info_payload

        board.handlers[spec.Opcode.GET_INFO] = booting
        device = Device(link, command_timeout_s=0.2)
        summary = await SessionRecorder(device, tmp_path / "out").run(duration_s=1.5)
        await device.close()
        return summary

    summary = asyncio.run(go())
    assert summary.duration_s >= SILENT_S + 1.5  # the wait, then the whole 1.5 s
    assert summary.samples >= 0.9 * 1.5 * 200  # 1.5 s of 200 Hz, less the last block's latency
