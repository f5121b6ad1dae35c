"""Watching a freshly reset board start (`wait_for_info`), on a pty standing in for its port:
a board at its REPL is never typed into and its error is kept; an app that talks is asked for
INFO; silence ends at the timeout with nothing made up."""

from __future__ import annotations

import os
import select
import threading

from anklet.deploy import open_port, wait_for_info
from anklet_protocol import framing, parse_message, spec, vectors
from anklet_protocol.decoder import StreamDecoder

INFO = vectors._info("Anklet-C0FFEE")


def board_frame(msg_type: int, payload: bytes, seq: int) -> bytes:
    return framing.cobs_wrap(framing.encode_frame(msg_type, payload, seq))


def pending(fd: int) -> bytes:
    """What the host wrote to the board, without waiting for more."""
    return os.read(fd, 4096) if select.select([fd], [], [], 0)[0] else b""


def test_a_board_stopped_at_its_repl_is_never_typed_into_and_its_error_is_kept(pty_pair):
    board_end, port = pty_pair
    listening = open_port(port)  # as deploy does, before the reset
    os.write(
        board_end,
        b'Traceback (most recent call last):\r\n  File "main.py", line 1\r\n'
        b"RuntimeError: deliberately broken\r\nMicroPython v1.29.0\r\n>>> ",
    )
    boot, ser = wait_for_info(port, 30.0, listening)
    ser.close()
    assert (boot.info, boot.error, boot.at_repl) == (
        None,
        "RuntimeError: deliberately broken",
        True,
    )
    assert pending(board_end) == b""


def test_an_app_that_talks_is_asked_for_its_info(pty_pair):
    board_end, port = pty_pair
    asked: list[int] = []

    def firmware() -> None:
        """Answers the first GET_INFO with INFO, as the app does."""
        decoder = StreamDecoder()
        while not asked:
            if not select.select([board_end], [], [], 10)[0]:
                return
            for frame in decoder.feed(os.read(board_end, 4096)):
                command = parse_message(frame)
                asked.append(command.opcode)
                reply = spec.Reply.build(
                    dict(
                        request_id=command.request_id,
                        opcode=command.opcode,
                        status=spec.StatusCode.OK,
                        payload=spec.Info.build(INFO),
                    )
                )
                os.write(board_end, board_frame(spec.MsgType.REPLY, reply, 2))

    listening = open_port(port)
    # Boot text runs into the first frame (its decoder drops both); the next STATUS is heard.
    status = board_frame(spec.MsgType.STATUS, bytes(40), 1)
    os.write(board_end, b"boot text\r\n" + status + status)
    thread = threading.Thread(target=firmware)
    thread.start()
    boot, ser = wait_for_info(port, 30.0, listening)
    ser.close()
    thread.join()
    assert asked == [spec.Opcode.GET_INFO]
    assert boot.info is not None and boot.info["name"] == "Anklet-C0FFEE"
    assert boot.error == "" and not boot.at_repl


def test_silence_ends_at_the_timeout_with_an_empty_report(pty_pair):
    board_end, port = pty_pair
    boot, ser = wait_for_info(port, 0.5)
    assert ser.is_open  # left open for the caller, as after a reset
    ser.close()
    assert (boot.info, boot.error, boot.at_repl) == (None, "", False)
    assert pending(board_end) == b""
