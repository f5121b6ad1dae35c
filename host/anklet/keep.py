"""What a user would hate to lose when the board's flash is erased: its settings and calibration
(config.json) and its BLE bond keys (ble_secrets.json). `anklet flash` saves them from the board
before erasing, while a MicroPython still answers; the next `anklet deploy` puts them back.

    kept = save_from_board("/dev/ttyUSB0")          # before erase_flash
    print(kept.describe())                          # what was saved, or what will be lost
    restore_to_board(board_session, device_id)      # from deploy, on a board without config

Saved copies live in the user data directory, one folder per board (its machine.unique_id()),
so a second board flashed later does not get the first one's bonds.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .connect import data_dir

if TYPE_CHECKING:
    from .deploy import BoardSession

#: The files that make a board *this* board: settings + calibration, and the bond keys.
KEPT_FILES = ("config.json", "ble_secrets.json")

LOST_WITHOUT_BACKUP = (
    "erasing loses the board's name and settings, its load-cell calibration (redo: anklet tare, "
    "then anklet calibrate --mass-kg M) and its BLE pairings (redo: anklet pair NAME, after "
    "removing the old bond in your computer's Bluetooth settings)"
)


def backup_dir(device_id: str, root: Path | None = None) -> Path:
    return (root or data_dir() / "board-backups") / device_id


@dataclass
class Kept:
    device_id: str = ""
    folder: Path | None = None
    files: list[str] = field(default_factory=list)
    why_not: str = ""  # set when nothing could be read from the board

    def describe(self) -> str:
        if self.why_not:
            return f"could not save the board's files ({self.why_not}): {LOST_WITHOUT_BACKUP}"
        if not self.files:
            return "the board holds no settings, calibration or bonds yet: nothing to keep"
        return (
            f"saved {', '.join(self.files)} from board {self.device_id} to {self.folder}; "
            "`anklet deploy` puts them back"
        )


_READ_ID = "import machine; print(machine.unique_id().hex())"


def board_id(board: BoardSession) -> str:
    return board.exec(_READ_ID).strip()


def save_from_board(
    port: str, root: Path | None = None, repl_timeout_s: float = 20.0, listen_s: float = 2.5
) -> Kept:
    """Copy KEPT_FILES off the board on `port` (the Anklet app is stopped for it); never raises
    for a board that cannot be read: `why_not` says why, and erasing goes on knowingly."""
    from .deploy import BoardSession, DeployError, reach_repl
    from .transport.ports import PortError

    try:
        reach_repl(port, repl_timeout_s, listen_s)
        with BoardSession(port) as board:
            device_id = board_id(board)
            folder = backup_dir(device_id, root)
            kept = Kept(device_id=device_id, folder=folder)
            for name in KEPT_FILES:
                if not board.exists(name):
                    continue
                data = board.read_file(name)
                folder.mkdir(parents=True, exist_ok=True)
                tmp = folder / f".{name}.tmp"
                tmp.write_bytes(data)
                tmp.replace(folder / name)
                kept.files.append(name)
            return kept
    except (DeployError, PortError, OSError) as exc:
        return Kept(why_not=f"no MicroPython answered on {port}: {exc}")


def restore_to_board(board: BoardSession, device_id: str, root: Path | None = None) -> list[str]:
    """Write the saved files of board `device_id` that the board lacks; returns their names.

    A freshly erased board writes its own ble_secrets.json at its first boot (NimBLE makes the
    board a new identity key): that file holds no bond yet, so the saved one replaces it."""
    folder = backup_dir(device_id, root)
    restored = []
    for name in KEPT_FILES:
        saved = folder / name
        if saved.is_file() and (not board.exists(name) or _replaceable(board, name)):
            board.write_file(name, saved.read_bytes())
            restored.append(name)
    return restored


_BOND_SECRET_TYPES = (1, 2)  # NimBLE's our-keys and peer-keys records: a bond exists


def _replaceable(board: BoardSession, name: str) -> bool:
    """The board's own file carries nothing a user would lose (bond keys without any bond)."""
    if name != "ble_secrets.json":
        return False
    try:
        entries = json.loads(board.read_file(name))
        return not any(entry[0] in _BOND_SECRET_TYPES for entry in entries)
    except (ValueError, TypeError, IndexError, KeyError):
        return True  # unreadable: nothing there to keep


def forget_backup(device_id: str, root: Path | None = None) -> None:
    folder = backup_dir(device_id, root)
    for name in KEPT_FILES:
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
