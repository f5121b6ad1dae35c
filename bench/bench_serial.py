"""Serial transport throughput: SAMPLES frames written into a pty as fast as it takes them,
read back as whole frames by SerialTransport (reader thread + COBS deframing on the loop),
next to the same bytes read from the pty alone (no deframing, no loop). And reconnecting while
the board streams: a disconnect must end the reader at once and leave the port free to reopen.

    python -m bench serial
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
import time
import tty

from anklet.transport.ports import PortBusy
from anklet.transport.serial import SerialTransport
from anklet_protocol import spec

from bench.bench_decode import make_capture
from bench.figure import Figure

SECONDS = 120  # of streaming at 1000 Hz (simulated frames, bench_decode.make_capture)
RECONNECTS = 1000
_SLOW_DISCONNECT_S = 1.0  # half the 2 s a disconnect waits for its reader thread
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


def _reconnecting(capture: bytes, times: int) -> tuple[int, int, float]:
    """Disconnect and connect again `times` times, each after reading for 1-20 ms, while the
    board end streams: (disconnects that waited out the reader, reopens found busy, the
    slowest disconnect in s)."""
    master, slave, path = _pty()
    streaming = threading.Event()
    streaming.set()

    def board() -> None:  # ~40 KB/s, about what 115200 baud carries: always bytes in flight
        at = 0
        while streaming.is_set():
            with contextlib.suppress(OSError):
                os.write(master, capture[at : at + 80])
            at = (at + 80) % (len(capture) - 80)
            time.sleep(0.002)

    async def go() -> tuple[int, int, float]:
        link = SerialTransport(path)
        pick = random.Random(1)
        slow = busy = 0
        slowest = 0.0
        await link.connect()
        for _ in range(times):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(link.read_frame(), pick.uniform(0.001, 0.02))
            t = time.perf_counter()
            await link.disconnect()
            took = time.perf_counter() - t
            slowest = max(slowest, took)
            slow += took > _SLOW_DISCONNECT_S
            while True:
                try:
                    await link.connect()
                    break
                except PortBusy:
                    busy += 1
                    await asyncio.sleep(0.01)
        await link.disconnect()
        return slow, busy, slowest

    streamer = threading.Thread(target=board, daemon=True)
    streamer.start()
    try:
        return asyncio.run(go())
    finally:
        streaming.clear()
        streamer.join()
        os.close(master)
        os.close(slave)


def run() -> list[Figure]:
    capture = make_capture(SECONDS)
    frames = capture.count(0)
    samples = SECONDS * 1000
    transport_s = _through_transport(capture, frames)
    alone_s = _pty_alone(capture)
    line_hz = spec.fastest_serial_rate_hz()
    slow, busy, slowest_s = _reconnecting(capture, RECONNECTS)
    return [
        Figure(
            "host",
            f"serial transport: {frames} SAMPLES frames ({len(capture) // 1024} KiB) "
            "through a pty, read as frames (simulated data, not tuned)",
            f"{samples / transport_s:,.0f} samples/s ({len(capture) / transport_s / 1e6:.1f} MB/s)",
            f"pty alone: {len(capture) / alone_s / 1e6:.1f} MB/s",
            f"≥ {line_hz} samples/s (the fastest rate {spec.SERIAL_BAUD} baud carries)",
        ),
        Figure(
            "host",
            f"serial transport: {RECONNECTS} reconnects while the board end of a pty streams "
            "(simulated data, not tuned)",
            f"{slow} disconnects waited out the reader, {busy} reopens found the port busy; "
            f"slowest disconnect {slowest_s * 1000:.0f} ms",
            "00aa501 (before 325ceac): 3-10 and 0-1 in 3 runs, slowest 2.0 s (idle PC)",
            "0 and 0",
        ),
    ]
