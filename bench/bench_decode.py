"""Host decode throughput: a large capture through StreamDecoder + bulk numpy, next to a plain
per-sample `construct` parse of the same bytes.

    python -m bench decode
"""

from __future__ import annotations

import time

import numpy as np
from anklet_protocol import StreamDecoder, framing, layout, parse_message, spec
from anklet_protocol.decoder import concat_imu

from bench.figure import Figure

SECONDS = 600  # of streaming at 1000 Hz in the capture
RATE_HZ = 1000


def make_capture(seconds: int = SECONDS, max_frame: int = spec.SERIAL_MAX_FRAME) -> bytes:
    n_imu, _ = spec.samples_capacity(max_frame, 80 / RATE_HZ)
    rng = np.random.default_rng(0)
    out = []
    total = seconds * RATE_HZ
    header = spec.SamplesHeader
    for seq, first in enumerate(range(0, total, n_imu)):
        count = min(n_imu, total - first)
        imu = rng.integers(-32768, 32767, size=(count, layout.IMU_WIDTH), dtype=layout.IMU_SCALAR)
        load = np.zeros(1, dtype=layout.LOAD_DTYPE)
        payload = (
            header.build(
                dict(
                    first_index=first,
                    t0_us=first * 1000,
                    period_us=1000,
                    imu_count=count,
                    load_count=1,
                )
            )
            + imu.tobytes()
            + load.tobytes()
        )
        out.append(framing.cobs_wrap(framing.encode_frame(spec.MsgType.SAMPLES, payload, seq)))
    return b"".join(out)


def decode_bulk(capture: bytes) -> int:
    decoder = StreamDecoder()
    blocks = [parse_message(f) for f in decoder.feed(capture)]
    return len(concat_imu(blocks))


def decode_construct(capture: bytes) -> int:
    """The naive way: every frame and every sample through construct."""
    from cobs import cobs

    n = 0
    for packet in capture.split(b"\x00"):
        if not packet:
            continue
        frame = spec.Frame.parse(cobs.decode(packet))
        samples = spec.Samples.parse(frame.payload)
        n += len(samples.imu)
    return n


def run() -> list[Figure]:
    capture = make_capture()
    t = time.perf_counter()
    n = decode_bulk(capture)
    bulk_s = time.perf_counter() - t
    slice_len = len(capture) // 50
    cut = capture.rfind(b"\x00", 0, slice_len) + 1
    t = time.perf_counter()
    m = decode_construct(capture[:cut])
    naive_s = time.perf_counter() - t
    bulk_rate = n / bulk_s
    naive_rate = m / naive_s
    return [
        Figure(
            "host decode",
            f"samples/s, {len(capture) / 1e6:.0f} MB capture ({SECONDS} s at {RATE_HZ} Hz)",
            f"{bulk_rate / 1e6:.1f} M/s",
            f"per-sample construct: {naive_rate / 1e6:.3f} M/s ({bulk_rate / naive_rate:.0f}×)",
            "≥ 5 M/s",
        )
    ]
