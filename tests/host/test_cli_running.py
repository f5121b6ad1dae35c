"""run_command, under every `anklet` command that talks to a board: Ctrl-C is "interrupted"
(exit 130), whether asyncio.run gives it as KeyboardInterrupt or, when the main task was
cancelled more than once (a Ctrl-C while connecting), as CancelledError; a board's failure is
one `error:` line."""

from __future__ import annotations

import asyncio

import pytest
import typer
from anklet.cli.running import run_command
from anklet.transport import LinkLost


async def _raise(exc: BaseException) -> None:
    raise exc


def test_ctrl_c_is_interrupted(capsys):
    with pytest.raises(typer.Exit) as leaving:
        run_command(_raise(KeyboardInterrupt()), verbose=False)
    assert leaving.value.exit_code == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_ctrl_c_given_as_a_cancellation_is_interrupted_too(capsys):
    with pytest.raises(typer.Exit) as leaving:
        run_command(_raise(asyncio.CancelledError()), verbose=False)
    assert leaving.value.exit_code == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_a_lost_link_is_one_error_line(capsys):
    with pytest.raises(typer.Exit) as leaving:
        run_command(_raise(LinkLost("ble:Anklet-FFEE: the link dropped")), verbose=False)
    assert leaving.value.exit_code == 2
    assert capsys.readouterr().err == "error: ble:Anklet-FFEE: the link dropped\n"
