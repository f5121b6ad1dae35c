"""The serial link's REPL request under MicroPython: a Ctrl-C that starts something (after a
quiet line, a CR, another Ctrl-C or a frame's end) and is not followed by a frame within 200 ms
asks for the REPL; a 0x03 among other bytes is noise. A host at another baud rate sends random
garbage, and one 0x03 in it took the board to its REPL (a clean-clone CI run of
tests/sim/test_uart_model.py's baud-mismatch test): the app then no longer answered."""

from __future__ import annotations

import json

SCRIPT = """
import json, sys
import ticks
from serial_link import SerialLink

class Clock:
    t = 5_000_000

clock = Clock()
ticks.now_us = lambda: clock.t & ticks.MASK

def case(steps):
    # steps: (ms to wait before this poll, bytes that arrive before it); True if it asked
    path = sys.argv[1]
    feed = open(path, "wb")
    link = SerialLink(open(path, "rb"), open("/dev/null", "wb"), 244)
    for wait_ms, data in steps:
        clock.t += wait_ms * 1000
        feed.write(data)
        feed.flush()
        link.poll(lambda *a: None)
    feed.close()
    return link.wants_repl

print(json.dumps({
    # a person at a terminal: Ctrl-C once on a quiet line, then nothing
    "person": case([(1000, b"\\x03"), (300, b"")]),
    # mpremote and anklet deploy: CR, Ctrl-C (then Ctrl-A or Ctrl-B) right after host traffic
    "mpremote": case([(1000, b"abc"), (10, b"\\r\\x03\\x01"), (300, b"")]),
    # garbage from a host at another baud rate: a 0x03 among other bytes, the burst ending
    "garbage": case([(1000, b"\\x91\\x7f\\x03\\x44\\xe0"), (300, b"")]),
    # ... or the 0x03 first in a poll that comes 10 ms after other bytes
    "garbage_split": case([(1000, b"\\x91\\x7f\\x44"), (10, b"\\x03\\xe0"), (300, b"")]),
    # a Ctrl-C followed by a frame's end within 200 ms is a frame's byte (its COBS code)
    "in_a_frame": case([(1000, b"\\x03" + b"\\x11" * 5 + b"\\x00"), (300, b"")]),
}))
"""


def test_only_a_ctrl_c_that_starts_something_asks_for_the_repl(micropython, tmp_path):
    script = tmp_path / "repl_request.py"
    script.write_text(SCRIPT)
    result = micropython(script, str(tmp_path / "line.bin"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "person": True,
        "mpremote": True,
        "garbage": False,
        "garbage_split": False,
        "in_a_frame": False,
    }
