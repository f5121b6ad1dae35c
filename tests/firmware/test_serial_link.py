"""The firmware's serial link under MicroPython: SAMPLES frames go out no faster than the UART's
TX FIFO takes them (the rest waits, and send_frame says busy), control frames go out whole, and
the link counts as connected only while a host speaks."""

from __future__ import annotations

from pathlib import Path

from anklet_protocol import StreamDecoder, parse_message

SCRIPT = """
import sys
import anklet_wire as W
import framing
from serial_link import SerialLink

out = open(sys.argv[1], "wb")
inp = open("/dev/null", "rb")
# 300 baud: 30 bytes/s, so nothing drains between the calls below however loaded the machine.
link = SerialLink(inp, out, 244, baud=300)
w = link.writer
w.payload[:200] = bytes(range(200))
n = w.seal(W.MSG_LOG, 0, 200)
first = link.send_frame(w, n)
out.flush()
import os
in_fifo = os.stat(sys.argv[1])[6]
second = link.send_frame(w, n)
n2 = w.seal(W.MSG_LOG, 0, 10)
link.send_control(w, n2)  # waits for the frame in progress, then goes whole
out.close()
print(first, second, in_fifo, link.tx_retries, link.connected, link.bytes_per_s)
"""


def test_samples_frames_wait_for_the_uart_fifo_and_control_frames_go_whole(
    micropython, tmp_path: Path
) -> None:
    script = tmp_path / "link.py"
    script.write_text(SCRIPT)
    out = tmp_path / "wire.bin"
    result = micropython(script, str(out))
    assert result.returncode == 0, result.stderr
    first, second, in_fifo, retries, connected, limit = result.stdout.split()
    assert first == "True"
    assert second == "False"  # the first frame is still going out: busy, keep the block
    assert int(in_fifo) == 128  # only what the TX FIFO holds (the boot's delimiter + 127) left
    assert int(retries) == 1
    assert connected == "True"  # just booted: a host that had the port open hears the boot
    assert int(limit) == 300 // 10 * 85 // 100
    decoder = StreamDecoder()
    frames = [parse_message(f) for f in decoder.feed(out.read_bytes())]
    assert decoder.stats.bad_frames == 0
    assert len(frames) == 2  # the frame that was trickling, completed, then the control frame
