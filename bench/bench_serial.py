"""Serial transport throughput: SAMPLES frames written into a pty as fast as it takes them,
read back as whole frames by SerialTransport (reader thread + COBS deframing on the loop),
next to the same bytes read from the pty alone (no deframing, no loop).

    python -m bench serial
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import tty

from anklet.transport.serial import SerialTransport
from anklet_protocol import spec

from bench.bench_decode import make_capture
from bench.figure import Figure

SECONDS = 120  # of streaming at 1000 Hz (simulated frames, bench_decode.make_capture)
_CHUNK = 4096


def _pty() -> tuple[int, int, str]:
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    return master, slave, os.ttyname(slave)


def _write_all(fd: int, data: bytes) -> None:
    for at in range(0, len(data), _CHUNK):
        os.write(fd, data[at : at + _CHUNK])


def _through_transport(capture: bytes, frames: int) -> float:
    master, slave, path = _pty()

    async def go() -> float:
        link = SerialTransport(path)
        await link.connect()
        writer = threading.Thread(target=_write_all, args=(master, capture), daemon=True)
        t = time.perf_counter()
        writer.start()
        for _ in range(frames):
            await link.read_frame()
        elapsed = time.perf_counter() - t
        await link.disconnect()
        writer.join()
        return elapsed

    try:
        return asyncio.run(go())
    finally:
        os.close(master)
        os.close(slave)


def _pty_alone(capture: bytes) -> float:
    master, slave, _path = _pty()
    writer = threading.Thread(target=_write_all, args=(master, capture), daemon=True)
    t = time.perf_counter()
    writer.start()
    got = 0
    while got < len(capture):
        got += len(os.read(slave, 65536))
    elapsed = time.perf_counter() - t
    writer.join()
    os.close(master)
    os.close(slave)
    return elapsed


def run() -> list[Figure]:
    capture = make_capture(SECONDS)
    frames = capture.count(0)
    samples = SECONDS * 1000
    transport_s = _through_transport(capture, frames)
    alone_s = _pty_alone(capture)
    line_hz = spec.fastest_serial_rate_hz()
    return [
        Figure(
            "host",
            f"serial transport: {frames} SAMPLES frames ({len(capture) // 1024} KiB) "
            "through a pty, read as frames (simulated data, not tuned)",
            f"{samples / transport_s:,.0f} samples/s ({len(capture) / transport_s / 1e6:.1f} MB/s)",
            f"pty alone: {len(capture) / alone_s / 1e6:.1f} MB/s",
            f"≥ {line_hz} samples/s (the fastest rate {spec.SERIAL_BAUD} baud carries)",
        )
    ]
