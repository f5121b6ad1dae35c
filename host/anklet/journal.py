"""A session's timeline beside its raw capture (`capture.jsonl` beside `capture.bin`): every
input the live data path received, in order, with the host time it came at, so that
`anklet decode` can feed the same inputs to the same SessionLog and write the same files.

    journal = Journal.create(folder / "capture.jsonl", started_utc, start_host_s)
    log.journal = journal            # SessionLog records each input it takes
    header, entries = read_journal(folder / "capture.jsonl")

SAMPLES blocks are not copied: an entry names a block by its key (first index, device time,
sample counts) and the block itself is read back from capture.bin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from anklet_protocol.decoder import SampleBlock

JOURNAL_NAME = "capture.jsonl"
_VERSION = 1

BlockKey = tuple[int, int, int, int]


def block_key(block: SampleBlock) -> BlockKey:
    """What identifies a block's content: a re-sent block has the same key and the same data."""
    return (block.first_index, block.t0_us, block.imu_count, block.load_count)


@dataclass(frozen=True)
class JournalHeader:
    started_utc: datetime
    start_host_s: float
    device_name: str
    folder_name: str


class Journal:
    """Appends one JSON line per input; each line is flushed, so a crash loses at most one."""

    def __init__(self, fh: TextIO) -> None:
        self._fh = fh

    @classmethod
    def create(
        cls, path: Path, started_utc: datetime, start_host_s: float, device_name: str
    ) -> Journal:
        fh = path.open("a", encoding="utf-8", buffering=1)
        header = {
            "journal": _VERSION,
            "started_utc": started_utc.isoformat(),
            "start_host_s": start_host_s,
            "device_name": device_name,
            "folder_name": path.parent.name,
        }
        fh.write(json.dumps(header) + "\n")
        return cls(fh)

    def record(self, kind: str, *args: Any) -> None:
        self._fh.write(json.dumps([kind, *args]) + "\n")

    def close(self) -> None:
        self._fh.close()


class JournalError(ValueError):
    pass


def read_journal(path: Path) -> tuple[JournalHeader, Iterator[list[Any]]]:
    """The header and the entries; a line cut off by a crash ends the entries."""
    fh = path.open(encoding="utf-8")
    try:
        head = json.loads(fh.readline())
        header = JournalHeader(
            started_utc=datetime.fromisoformat(head["started_utc"]),
            start_host_s=float(head["start_host_s"]),
            device_name=str(head["device_name"]),
            folder_name=str(head["folder_name"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        fh.close()
        raise JournalError(f"{path}: not a capture journal ({exc})") from None

    def entries() -> Iterator[list[Any]]:
        with fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    return  # the last line, cut off
                yield entry

    return header, entries()
