"""The serial transport against a real pty through pyserial: whole frames both ways, COBS added
and removed inside, noise counted, an unplugged or busy port as one line; on an event loop that
has no add_reader (as Windows' default Proactor loop has none)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import tty

import pytest
import serial
from anklet.transport import LinkLost
from anklet.transport.ports import PortBusy, PortDenied, PortError, PortNotFound, open_error
from anklet.transport.serial import SerialTransport
from anklet_protocol import framing, spec
from anklet_protocol.deframer import CobsDeframer, Discarded


class NoReaderLoop(asyncio.SelectorEventLoop):
    """An event loop without file-descriptor callbacks, as ProactorEventLoop is on Windows."""

    def add_reader(self, *args, **kwargs):
        raise NotImplementedError("no add_reader on this loop")

    def add_writer(self, *args, **kwargs):
        raise NotImplementedError("no add_writer on this loop")


def run(coro):
    with asyncio.Runner(loop_factory=NoReaderLoop) as runner:
        return runner.run(coro)


_UNPLUGGED: set[int] = set()  # board ends a test closed itself (`_unplug`)


@pytest.fixture
def pty_port():
    """(fd of the board's end, path of the host's end) of a fresh pty pair."""
    master, slave = os.openpty()
    tty.setraw(master)
    path = os.ttyname(slave)
    yield master, path
    for fd in (master, slave):
        # Not closed twice: by then the number may be another's (a port's wake-up pipe).
        if fd in _UNPLUGGED:
            _UNPLUGGED.discard(fd)
        else:
            os.close(fd)


def _unplug(board: int) -> None:
    """The cable pulled: the board's end closed (the host's end reads EIO)."""
    _UNPLUGGED.add(board)
    os.close(board)


def _frame(seq: int, text: str = "hi") -> bytes:
    payload = spec.Log.build(dict(level=20, text=text))
    return framing.encode_frame(spec.MsgType.LOG, payload, seq=seq)


async def _connected_counting_discards(path: str) -> tuple[SerialTransport, list[Discarded]]:
    """A connected transport whose discarded bytes are collected in the returned list."""
    link = SerialTransport(path)
    discarded: list[Discarded] = []
    link.on_discard = discarded.append
    await link.connect()
    return link, discarded


async def _read_board_end(fd: int, frames: int) -> list[bytes | Discarded]:
    """What the host wrote, deframed at the board's end (without blocking the loop)."""
    got: list[bytes] = []
    deframer = CobsDeframer()
    while len(got) < frames:
        got += deframer.feed(await asyncio.to_thread(os.read, fd, 4096))
    return got  # a Discarded among them fails the caller's comparison


def test_frames_cross_both_ways_with_cobs_inside_the_transport(pty_port):
    board, path = pty_port
    sent = [_frame(i, "x" * (i * 37 % 200)) for i in range(12)]
    wire = b"".join(framing.cobs_wrap(f) for f in sent)

    async def go():
        link = SerialTransport(path)
        await link.connect()
        try:
            for at in range(0, len(wire), 13):  # chunks that cut frames anywhere
                os.write(board, wire[at : at + 13])
            got = [await link.read_frame() for _ in sent]
            await link.write_frame(sent[3])
            await link.write_frame(sent[4])
            written = await _read_board_end(board, 2)
        finally:
            await link.disconnect()
        return got, written

    got, written = run(go())
    assert got == sent  # whole raw frames, COBS removed
    assert written == [sent[3], sent[4]]


def test_noise_between_frames_is_handed_to_on_discard_not_dropped(pty_port):
    board, path = pty_port
    noise = b"\x01\x02\x05garbage"  # a COBS code byte that points past the packet's end

    async def go():
        link, discarded = await _connected_counting_discards(path)
        try:
            os.write(board, framing.cobs_wrap(_frame(0)) + noise + b"\x00")
            os.write(board, framing.cobs_wrap(_frame(1)))
            frames = [await link.read_frame(), await link.read_frame()]
        finally:
            await link.disconnect()
        return frames, discarded

    frames, discarded = run(go())
    assert frames == [_frame(0), _frame(1)]
    assert discarded == [Discarded(noise, "bad COBS encoding", bad_cobs=True)]


def test_a_board_unplugged_mid_frame_is_link_lost_in_one_line_and_the_cut_frame_counted(
    pty_port,
):
    board, path = pty_port
    whole = framing.cobs_wrap(_frame(0))
    cut = framing.cobs_wrap(_frame(1))[:9]

    async def go():
        link, discarded = await _connected_counting_discards(path)
        try:
            os.write(board, whole + cut)
            first = await link.read_frame()
            await asyncio.to_thread(_unplug, board)
            with pytest.raises(LinkLost) as lost:
                await link.read_frame()
        finally:
            await link.disconnect()
        return first, str(lost.value), discarded

    first, message, discarded = run(go())
    assert first == _frame(0)
    assert "the board went away" in message and "check the cable" in message
    assert "\n" not in message
    assert [d.data for d in discarded] == [cut]


def test_disconnect_ends_a_pending_read_and_the_reader_thread(pty_port):
    _board, path = pty_port

    async def go():
        link = SerialTransport(path)
        await link.connect()
        thread = link._thread
        pending = asyncio.create_task(link.read_frame())
        await asyncio.sleep(0)  # the read is waiting for bytes that never come
        await link.disconnect()
        with pytest.raises(LinkLost, match="closed"):
            await pending
        assert thread is not None
        return thread.is_alive(), link.connected

    alive, connected = run(go())
    assert not alive and not connected


# A frame the port cannot take at once: a pty holds 11.8 KB here while its board end is unread
# (each test asserts that the write was held), the largest frame the deframer takes is 64 KB.
BIG = b"\x01" * 65_000


def _fill_until_held(link: SerialTransport) -> asyncio.Task[None]:
    return asyncio.create_task(link.write_frame(BIG))


def _drain_later(fd: int, after_s: float) -> threading.Timer:
    """The held frame read off the board end after `after_s`: a hang guard, so that a write
    which held the event loop fails the test (the write was not held) instead of hanging it."""
    wire = 1 + len(framing.cobs_wrap(BIG))

    def drain() -> None:
        left = wire
        with contextlib.suppress(OSError):
            while left > 0:
                left -= len(os.read(fd, left))

    timer = threading.Timer(after_s, drain)
    timer.daemon = True
    timer.start()
    return timer


@contextlib.asynccontextmanager
async def _held_write(board: int, path: str):
    """A connected transport whose BIG write the port holds; the hang guard stops before the
    link closes, never left to read a later test's reuse of the descriptor."""
    link = SerialTransport(path)
    await link.connect()
    guard = _drain_later(board, 60)
    try:
        yield link, _fill_until_held(link), guard
    finally:
        guard.cancel()
        await link.disconnect()


def test_a_write_the_port_holds_does_not_stall_reading(pty_port):
    # A port slow to take bytes (a USB-serial bridge's full buffer; a busy machine's pty held a
    # 21-byte write for 7.5 s) must hold only its writer: the stream is read meanwhile.
    board, path = pty_port

    async def go():
        async with _held_write(board, path) as (link, held, guard):
            await asyncio.sleep(0)  # the write has started
            os.write(board, framing.cobs_wrap(_frame(5)))
            got = await link.read_frame()
            assert not held.done()  # read while the write was still waiting for room
            guard.cancel()
            deframer = CobsDeframer()
            out: list[bytes | Discarded] = []
            while not out:  # the board now reads: the held write goes out, whole
                out += deframer.feed(await asyncio.to_thread(os.read, board, 1 << 16))
            await held
        return got, out

    got, out = run(go())
    assert got == _frame(5)
    assert out == [BIG]


def test_frames_go_out_whole_and_in_order_and_a_cancelled_one_not_at_all(pty_port):
    board, path = pty_port

    async def go():
        async with _held_write(board, path) as (link, held, guard):
            queued = [asyncio.create_task(link.write_frame(_frame(i))) for i in (1, 2, 3)]
            await asyncio.sleep(0)
            queued[1].cancel()  # its sender gave up while the port held the first
            assert not held.done()
            guard.cancel()
            written = await _read_board_end(board, 3)
            await asyncio.gather(held, queued[0], queued[2])
        return written, queued[1].cancelled()

    written, cancelled = run(go())
    assert written == [BIG, _frame(1), _frame(3)]
    assert cancelled


def test_disconnect_ends_a_write_the_port_holds(pty_port):
    board, path = pty_port  # not read: the write waits for room until the link closes

    async def go():
        link = SerialTransport(path)
        await link.connect()
        writer = link._writer
        guard = _drain_later(board, 60)
        held = _fill_until_held(link)
        queued = asyncio.create_task(link.write_frame(_frame(1)))
        await asyncio.sleep(0)
        still_held = not held.done()
        guard.cancel()
        await link.disconnect()
        results = await asyncio.gather(held, queued, return_exceptions=True)
        assert writer is not None
        return results, writer.is_alive(), still_held

    results, alive, still_held = run(go())
    assert still_held
    assert [type(r) for r in results] == [LinkLost, LinkLost]
    assert all("closed" in str(r) for r in results)
    assert not alive


def test_the_same_transport_reconnects_and_reads_the_new_connection(pty_port):
    board, path = pty_port

    async def go():
        link = SerialTransport(path)
        await link.connect()
        await link.disconnect()
        await link.connect()
        try:
            os.write(board, framing.cobs_wrap(_frame(7)))
            return await link.read_frame()
        finally:
            await link.disconnect()

    assert run(go()) == _frame(7)


def test_a_disconnect_cancelled_midway_still_closes_the_port(pty_port):
    """A reconnect cut short by the session's deadline (a saturated run: it was cancelled while
    disconnect() waited for the reader thread) left the port open and locked; every reconnect
    after it found the port busy, and the end of the session lost all the board still held."""
    board, path = pty_port

    async def go():
        link = SerialTransport(path)
        await link.connect()
        cut = asyncio.create_task(link.disconnect())
        await asyncio.sleep(0)  # into disconnect(), as far as waiting for its threads
        cut.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cut
        assert cut.cancelled()
        await link.connect()  # the port is free again (opened for this process alone)
        try:
            os.write(board, framing.cobs_wrap(_frame(8)))
            return await link.read_frame()
        finally:
            await link.disconnect()

    assert run(go()) == _frame(8)


class _PausedAfterFirstByte(serial.Serial):
    """A port whose reader stops after its first byte until `resume` is set, so that a
    disconnect lands between the reader's two reads, as a busy PC's scheduler let it. It notes
    whether its reader thread (`reader`) was still running when the port was closed."""

    def __init__(self, *args, **kwargs) -> None:
        self.paused = threading.Event()
        self.resume = threading.Event()
        self.reader: threading.Thread | None = None
        self.reader_alive_at_close: bool | None = None
        super().__init__(*args, **kwargs)

    def read(self, size: int = 1) -> bytes:
        data = super().read(size)
        if data and not self.paused.is_set():
            self.paused.set()
            self.resume.wait(10)
        return data

    def close(self) -> None:
        if self.reader is not None and self.reader_alive_at_close is None:
            self.reader_alive_at_close = self.reader.is_alive()
        super().close()


@pytest.fixture
def paused_ports(monkeypatch) -> list[_PausedAfterFirstByte]:
    """The ports the transport opens, in order, each a _PausedAfterFirstByte."""
    opened: list[_PausedAfterFirstByte] = []

    def open_port(port: str, baudrate: int, *, timeout_s: float | None = None):
        opened.append(_PausedAfterFirstByte(port, baudrate, timeout=timeout_s, exclusive=True))
        return opened[-1]

    monkeypatch.setattr("anklet.transport.serial.ports.open_port", open_port)
    return opened


def test_a_disconnect_between_the_readers_two_reads_ends_the_reader_first(pty_port, paused_ports):
    """The reader takes a byte, then what came with it. A disconnect between the two had its
    one wake-up taken by the second read: the reader read on and waited in select() on the port
    while disconnect() waited out its 2 s for it, then closed the port under it. A select()
    still waiting keeps the port's lock, so the reconnect that followed could find the port
    busy (a reconnect on a saturated PC, with the session's deadline near)."""
    board, path = pty_port
    opened = paused_ports

    async def go():
        link = SerialTransport(path)
        await link.connect()
        first = opened[0]
        first.reader = link._thread
        os.write(board, b"abcd")  # the reader's first read takes "a", then it pauses
        assert await asyncio.to_thread(first.paused.wait, 10)
        cut = asyncio.create_task(link.disconnect())
        await asyncio.sleep(0)  # disconnect() has cancelled the read and waits for the reader
        first.resume.set()  # the reader's second read meets the cancel
        await cut
        await link.connect()
        opened[-1].paused.set()  # the new connection reads without pausing
        try:
            os.write(board, b"\x00" + framing.cobs_wrap(_frame(9)))
            return first.reader_alive_at_close, await link.read_frame()
        finally:
            await link.disconnect()

    reader_alive_at_close, frame = run(go())
    assert reader_alive_at_close is False  # it ended at the cancel, before the port closed
    assert frame == _frame(9)


def test_a_lost_wake_up_still_ends_the_reader_and_frees_the_port(pty_port, paused_ports):
    """disconnect() wakes the reader with pyserial's cancel_read(): a byte into a pipe the
    reader's select() watches. On a saturated run that wake-up was lost (the reader still in
    select() seconds after, its pipe closed, its port's lock held: every reconnect found the
    port busy until the board's next byte). Here the pipe's number is taken over by a socket
    that never speaks, as a descriptor closed twice elsewhere in a process would do it."""
    board, path = pty_port
    opened = paused_ports
    mute, _other_end = socket.socketpair()

    async def go():
        link = SerialTransport(path)
        await link.connect()
        first = opened[0]
        first.reader = link._thread
        os.write(board, b"\x00" + framing.cobs_wrap(_frame(3)))
        assert await asyncio.to_thread(first.paused.wait, 10)  # after the frame's first byte
        os.dup2(mute.fileno(), first.pipe_abort_read_r)  # the wake-up pipe's number, taken
        first.resume.set()
        assert await link.read_frame() == _frame(3)  # handed over: the reader's next read waits
        await link.disconnect()
        await link.connect()  # PortBusy here: the old reader still waited on the port
        opened[-1].paused.set()
        try:
            os.write(board, b"\x00" + framing.cobs_wrap(_frame(4)))
            return first.reader_alive_at_close, await link.read_frame()
        finally:
            await link.disconnect()

    try:
        reader_alive_at_close, frame = run(go())
    finally:
        mute.close()
        _other_end.close()
    assert reader_alive_at_close is False
    assert frame == _frame(4)


def test_a_port_held_by_another_program_is_busy_in_one_line(pty_port):
    _board, path = pty_port

    async def go():
        holder = SerialTransport(path)
        await holder.connect()
        try:
            with pytest.raises(PortBusy) as busy:
                await SerialTransport(path).connect()
        finally:
            await holder.disconnect()
        return str(busy.value)

    message = run(go())
    assert message.startswith(f"port {path} is busy: close the program using it")
    assert "anklet stream" not in message  # there is no such command


def test_a_missing_port_says_to_plug_the_board_in(tmp_path):
    with pytest.raises(PortNotFound, match=r"no such port .*: is the board plugged in\?"):
        run(SerialTransport(str(tmp_path / "ttyUSB9")).connect())


@pytest.mark.parametrize(
    ("exc", "platform", "kind", "words"),
    [
        (OSError(16, "Device or resource busy"), "linux", PortBusy, "is busy"),
        (OSError(13, "Permission denied"), "linux", PortDenied, "dialout"),
        # Windows' answer for a COM port another program holds open
        (PermissionError(13, "Access is denied."), "win32", PortBusy, "is busy"),
        (
            FileNotFoundError(2, "The system cannot find the file specified."),
            "win32",
            PortNotFound,
            "plugged in",
        ),
        (OSError(5, "Input/output\nerror"), "linux", PortError, "cannot open"),
    ],
)
def test_port_failures_map_to_one_actionable_line(exc, platform, kind, words):
    error = open_error("COM7" if platform == "win32" else "/dev/ttyUSB0", exc, platform)
    assert type(error) is kind
    text = str(error)
    assert words in text and "\n" not in text
    assert "anklet stream" not in text
