"""Where the firmware's MicroPython sources are, however Anklet was installed.

    firmware_dir()      # ANKLET_FIRMWARE_DIR, else the copy installed with Anklet

The firmware ships as data in the package `anklet_firmware` (pyproject.toml): in a development
install that is the repository's firmware/ itself, in a wheel a copy beside `anklet`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def firmware_dir() -> Path:
    override = os.environ.get("ANKLET_FIRMWARE_DIR")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("anklet_firmware")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        if (Path(location) / "main.py").is_file():
            return Path(location)
    # A source tree used without installing: the repository's own folder. (Whoever uses it
    # checks for main.py and names the folder if it is not the firmware.)
    return Path(__file__).resolve().parents[2] / "firmware"
