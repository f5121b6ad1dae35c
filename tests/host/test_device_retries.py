"""`Device`'s retries (tenacity) against a scripted board: a BUSY command is sent again and
nothing else is; wait_ready asks again while the board is silent and gives up with one line.
No MicroPython: the board is `ScriptedBoard`; the only waits are the command timeouts under test.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from anklet.device import CommandFailed, CommandTimeout, Device
from anklet.transport.base import LinkLost
from anklet.transport.ports import PortNotFound
from anklet_protocol import spec, vectors
from fake_transport import FakeTransport, ScriptedBoard

INFO = vectors._info("Anklet-C0FFEE")


def run(coro_fn, timeout_s: float = 2.0) -> Any:
    async def go():
        link = FakeTransport()
        board = ScriptedBoard(link, info=INFO)
        device = Device(link, command_timeout_s=timeout_s)
        await device.open()
        try:
            return await coro_fn(device, board)
        finally:
            await device.close()

    return asyncio.run(go())


def answers(*statuses: int):
    """A handler that answers with `statuses` in turn, then OK."""
    queue = list(statuses)
    return lambda command: (queue.pop(0) if queue else spec.StatusCode.OK, b"")


def asked(board: ScriptedBoard, opcode: int) -> int:
    return sum(1 for c in board.commands if c.opcode == opcode)


def test_a_busy_command_is_sent_again_until_the_board_takes_it():
    async def go(device, board):
        board.handlers[spec.Opcode.START] = answers(spec.StatusCode.BUSY, spec.StatusCode.BUSY)
        await device.start()
        return asked(board, spec.Opcode.START)

    assert run(go) == 3


def test_busy_beyond_the_retries_is_the_boards_refusal():
    async def go(device, board):
        board.handlers[spec.Opcode.START] = lambda c: (spec.StatusCode.BUSY, b"")
        with pytest.raises(CommandFailed, match="BUSY") as refused:
            await device.command_raw(spec.Opcode.START, b"", busy_retries=2)
        return refused.value.status, asked(board, spec.Opcode.START)

    assert run(go) == (spec.StatusCode.BUSY, 3)


def test_a_refusal_other_than_busy_is_not_sent_again():
    async def go(device, board):
        board.handlers[spec.Opcode.START] = answers(spec.StatusCode.INVALID_STATE)
        with pytest.raises(CommandFailed, match="INVALID_STATE"):
            await device.start()
        return asked(board, spec.Opcode.START)

    assert run(go) == 1


def test_wait_ready_asks_again_until_a_booting_board_answers():
    async def go(device, board):
        silent = [None, None]  # the first two GET_INFO arrive while it boots
        board.handlers[spec.Opcode.GET_INFO] = lambda c: (
            silent.pop() if silent else (spec.StatusCode.OK, board.info_payload)
        )
        info = await device.wait_ready(timeout_s=30)
        return info.name, asked(board, spec.Opcode.GET_INFO)

    assert run(go, timeout_s=0.05) == ("Anklet-C0FFEE", 3)


def test_wait_ready_gives_up_with_one_line_once_its_time_is_spent():
    async def go(device, board):
        board.handlers[spec.Opcode.GET_INFO] = lambda c: None
        with pytest.raises(CommandTimeout) as timed_out:
            await device.wait_ready(timeout_s=1)
        return str(timed_out.value), asked(board, spec.Opcode.GET_INFO)

    text, tries = run(go, timeout_s=0.05)
    assert text == (
        "fake:cobs did not answer within 1 s: is it powered and running the Anklet firmware?"
    )
    assert tries >= 2


@pytest.mark.parametrize(
    "ask",
    [
        lambda device: device.wait_ready(timeout_s=30),
        lambda device: device.get_info(ask_again_s=0.05),  # the recorder's reconnect
    ],
    ids=["wait_ready", "query"],
)
def test_a_refusal_is_raised_at_once_not_asked_again(ask):
    async def go(device, board):
        board.handlers[spec.Opcode.GET_INFO] = lambda c: (spec.StatusCode.INTERNAL_ERROR, b"")
        with pytest.raises(CommandFailed, match="INTERNAL_ERROR"):
            await ask(device)
        return asked(board, spec.Opcode.GET_INFO)

    assert run(go, timeout_s=30) == 1


def test_a_query_asked_again_is_answered_as_soon_as_the_link_is_back():
    # The recorder's reconnect: its first GET_INFO went into a link still down. Asked again
    # every 0.05 s, the third ask is answered, long before the first ask's 30 s are up.
    async def go(device, board):
        lost = [None, None]
        board.handlers[spec.Opcode.GET_INFO] = lambda c: (
            lost.pop() if lost else (spec.StatusCode.OK, board.info_payload)
        )
        info = await device.get_info(ask_again_s=0.05)
        return info.name, asked(board, spec.Opcode.GET_INFO), len(device._pending)

    assert run(go, timeout_s=30) == ("Anklet-C0FFEE", 3, 0)


def test_a_status_reply_lost_on_the_way_is_asked_for_again_by_default():
    # A reply lost to a full port buffer (a starved host: seen beside two busy loops) or a bad
    # byte: GET_STATUS changes nothing, so it is sent again each second (device.ASK_AGAIN_S)
    # rather than left to its whole timeout (30 s here).
    async def go(device, board):
        lost = [None]
        board.handlers[spec.Opcode.GET_STATUS] = lambda c: (
            lost.pop() if lost else (spec.StatusCode.OK, spec.Status.build(vectors._status()))
        )
        status = await device.get_status()
        return status.battery_pct, asked(board, spec.Opcode.GET_STATUS), len(device._pending)

    assert run(go, timeout_s=30) == (vectors._status()["battery_pct"], 2, 0)


def test_a_start_reply_lost_is_asked_again_and_the_stream_begins_at_the_repeats_index():
    # A lost START reply ended `anklet log` before it began (seen beside two busy loops). The
    # repeat finds the board streaming: it answers the next index, where this host's stream
    # begins; the samples between belong to no session (session.stream_starts_at).
    async def go(device, board):
        answers = [
            None,  # lost
            (spec.StatusCode.OK, spec.StartReply.build({"first_index": 500})),
        ]
        board.handlers[spec.Opcode.START] = lambda c: answers.pop(0)
        first_index = await device.start(ask_again_s=0.05)
        return first_index, asked(board, spec.Opcode.START), len(device._pending)

    assert run(go) == (500, 2, 0)


def test_a_start_nobody_answers_times_out_with_one_line_after_its_window():
    async def go(device, board):
        board.handlers[spec.Opcode.START] = lambda c: None
        with pytest.raises(CommandTimeout, match=r"did not answer start within 0\.3 s: is it"):
            await device.start(ask_again_s=0.05, timeout_s=0.3)
        return asked(board, spec.Opcode.START), len(device._pending)

    tries, pending = run(go, timeout_s=30)  # START's own window, not the command timeout
    assert tries >= 3
    assert pending == 0


def test_a_query_nobody_answers_times_out_with_the_first_ask():
    async def go(device, board):
        board.handlers[spec.Opcode.GET_STATUS] = lambda c: None
        with pytest.raises(CommandTimeout, match=r"did not answer get_status within 0\.3 s"):
            await device.get_status(ask_again_s=0.05)
        return asked(board, spec.Opcode.GET_STATUS), len(device._pending)

    tries, pending = run(go, timeout_s=0.3)
    assert tries >= 3  # asked again while the first ask waited
    assert pending == 0  # no ask left waiting for an answer


def run_unopened(coro_fn, connect_errors: list[Exception]) -> Any:
    async def go():
        link = FakeTransport()
        link.connect_errors = list(connect_errors)
        ScriptedBoard(link, info=INFO)  # answers through the link
        device = Device(link, command_timeout_s=2.0)
        try:
            return await coro_fn(device, link)
        finally:
            await device.close()

    return asyncio.run(go())


def test_wait_ready_connects_again_when_the_link_drops_while_being_set_up():
    # Over BLE, bumble aborts a connection's MTU exchange when the link drops (LinkLost):
    # the board is there, so connect again, as a phone does, instead of giving up.
    async def go(device, link):
        info = await device.wait_ready(timeout_s=30)
        return info.name, link.connects

    dropped = LinkLost("ble:Anklet-C0FFEE: the link dropped during connecting")
    assert run_unopened(go, [dropped, dropped]) == ("Anklet-C0FFEE", 3)


def test_wait_ready_gives_up_at_once_on_a_port_that_is_not_there():
    async def go(device, link):
        with pytest.raises(PortNotFound, match="no such port"):
            await device.wait_ready(timeout_s=30)
        return link.connects

    assert run_unopened(go, [PortNotFound("no such port")]) == 1
