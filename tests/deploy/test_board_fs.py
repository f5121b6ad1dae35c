"""The board's file system through mpremote's transport (`BoardSession`), on the simulated
board's raw REPL: folders removed with their contents, files replaced whole or not at all, and
no helper left in the board's namespace."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from anklet.deploy import BoardSession, DeployError, reach_repl
from anklet_sim.board import SimulatedBoard
from mpremote.transport import TransportError


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatedBoard]:
    flash = tmp_path_factory.mktemp("flash")
    (flash / "main.py").write_text("print('at the REPL')\n")  # returns: the REPL follows
    with SimulatedBoard(flash_dir=flash, fast=True) as board:
        yield board


@pytest.fixture(scope="module")
def board(sim: SimulatedBoard) -> Iterator[tuple[BoardSession, Path]]:
    reach_repl(sim.port, timeout_s=10.0, listen_s=0.5)
    with BoardSession(sim.port) as session:
        yield session, sim.flash_dir


def test_a_folder_goes_with_everything_in_it(board):
    session, flash = board
    (flash / "fw_old" / "lib" / "deep").mkdir(parents=True)
    (flash / "fw_old" / "app.mpy").write_bytes(b"M\x06")
    (flash / "fw_old" / "lib" / "deep" / "x.mpy").write_bytes(b"M\x06")
    assert session.exists("fw_old/lib/deep/x.mpy")
    session.remove("fw_old")
    assert not (flash / "fw_old").exists()
    assert not session.exists("fw_old")
    session.remove("fw_old")  # nothing there: fine
    (flash / "stale.py").write_text("x = 1\n")
    session.remove("stale.py")
    assert not (flash / "stale.py").exists()


def test_a_file_is_replaced_whole_and_no_temporary_stays(board):
    session, flash = board
    (flash / "config.json").write_text('{"name": "old"}')
    data = bytes(range(256)) * 9  # several of mpremote's chunks, every byte value
    progress: list[int] = []
    session.write_file("config.json", data, progress.append)
    assert (flash / "config.json").read_bytes() == data
    assert session.read_file("config.json") == data
    assert not (flash / "config.json.tmp").exists()
    assert progress[-1] == len(data)
    session.mkdir("fw_new")
    session.write_file("fw_new/app.mpy", b"M\x06\x00\x1f")
    assert (flash / "fw_new" / "app.mpy").read_bytes() == b"M\x06\x00\x1f"
    session.remove("fw_new")


def test_a_file_that_arrives_damaged_replaces_nothing(board, monkeypatch):
    session, flash = board
    (flash / "main.py").write_text("print('at the REPL')\n")
    monkeypatch.setattr(session.transport, "fs_hashfile", lambda path, algo: b"\0" * 32)
    with pytest.raises(DeployError, match=r"^main\.py arrived damaged on the board"):
        session.write_file("main.py", b"print('new')\n")
    assert (flash / "main.py").read_text() == "print('at the REPL')\n"


def test_errors_on_the_board_are_one_line(board):
    session, _ = board
    missing = r"^making nowhere/x on the board failed: No such file or directory$"
    with pytest.raises(DeployError, match=missing):
        session.mkdir("nowhere/x")
    with pytest.raises(DeployError, match=r"^the board said: ZeroDivisionError"):
        session.exec("1/0")


def test_no_helper_is_left_in_the_boards_namespace(board):
    session, _ = board
    names = session.eval("[n for n in globals() if n.startswith('_ak')]")
    assert names == []
    assert session.free_bytes() > 0


def test_a_board_that_answers_late_is_waited_for(board, sim):
    """A clean-clone CI run lost the REPL mid-deploy: the board's answer to mpremote's raw-paste
    request came after the port's 1 s read timeout, and mpremote took it for a board without
    raw-paste. Here the board is held 1.5 s just before it would answer."""
    session, flash = board
    (flash / "late.txt").write_text("x")
    # The last command's closing ">" prompt first: holding the board before it is written would
    # delay the prompt, which mpremote waits for byte by byte, and not the answer.
    deadline = time.monotonic() + 5
    while session.transport.serial.in_waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    sim.hold(1.5)
    assert session.exists("late.txt")
    assert session.read_file("late.txt") == b"x"


def test_a_lost_repl_is_one_line(board, monkeypatch):
    session, _ = board

    def lost(path: str) -> None:
        raise TransportError("could not enter raw repl")

    monkeypatch.setattr(session.transport, "fs_stat", lost)
    with pytest.raises(DeployError, match=r"^looking for x on the board: lost the board's REPL"):
        session.exists("x")
    with pytest.raises(DeployError, match=r"^removing x on the board: lost the board's REPL"):
        session.remove("x")
