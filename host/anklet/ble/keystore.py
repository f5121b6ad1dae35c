"""bumble's JSON key store, readable by the user alone: it holds the long-term keys of every
bonded board, and whoever reads them can decrypt (and impersonate) those links.

    store = PrivateJsonKeyStore(namespace=address, filename="~/.local/share/anklet/keys.json")

bumble's JsonKeyStore writes with the process umask (0644 on most systems). This one creates
the directory 0700 and the file 0600, from the first byte (the temp file is created with those
bits, never chmod-ed after the keys are in it), and tightens a file an older version left open.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from bumble.keys import JsonKeyStore

_DIR_MODE = 0o700
_FILE_MODE = 0o600


def make_private(path: Path, mode: int) -> None:
    """chmod `path` to `mode` if it grants anything to group or others."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(mode)


class PrivateJsonKeyStore(JsonKeyStore):
    def __init__(self, namespace: str | None, filename: str | None = None) -> None:
        super().__init__(namespace, filename)
        self.directory_name.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        make_private(self.directory_name, _DIR_MODE)
        make_private(self.filename, _FILE_MODE)

    async def save(self, db: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.directory_name.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        temp = self.filename.with_name(self.filename.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()  # a leftover could carry other bits; O_EXCL makes ours
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as output:
            json.dump(db, output, sort_keys=True, indent=4)
            output.flush()
            os.fsync(output.fileno())
        os.replace(temp, self.filename)
