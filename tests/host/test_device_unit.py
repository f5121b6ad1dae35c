"""`Device` against a fake link: commands, replies, request ids, timeouts, compatibility.

No MicroPython here: the board is `ScriptedBoard` (tests/fake_transport.py), which answers the
way the firmware does and replays golden vectors and a recorded capture. Timeouts are the only
waits, and only in the tests about timeouts.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from anklet.device import (
    CommandFailed,
    CommandTimeout,
    Device,
    DeviceError,
    IncompatibleDevice,
    StatusReport,
)
from anklet.transport import LinkLost
from anklet_protocol import framing, spec, vectors
from anklet_protocol.decoder import SampleBlock
from fake_transport import FakeTransport, ScriptedBoard

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "protocol" / "vectors" / "vectors.json").read_text())
CAPTURE = ROOT / "tests" / "fixtures" / "sim_capture_200hz.bin"
INFO = vectors._info("Anklet-C0FFEE")
STATUS = vectors._status()


def run(coro_fn, link: FakeTransport | None = None, timeout_s: float = 2.0, **board_kw: Any):
    """Run `coro_fn(device, board, link)` against a scripted board on a fake link."""

    async def go():
        fake = link or FakeTransport()
        board = ScriptedBoard(fake, info=INFO, status=STATUS, **board_kw)
        device = Device(fake, command_timeout_s=timeout_s)
        await device.open()
        try:
            return await coro_fn(device, board, fake)
        finally:
            await device.close()

    return asyncio.run(go())


@pytest.mark.parametrize("framing_kind", ["cobs", "raw"])
def test_get_info_reads_the_boards_identity_and_sensitivity(framing_kind):
    async def go(device, board, link):
        return await device.get_info()

    info = run(go, link=FakeTransport(framing_kind))
    assert info.name == "Anklet-C0FFEE"
    assert info.device_id == "24a160c0ffee"
    assert info.firmware == "0.3.1" and info.firmware_git == "1a2b3c4d"
    assert info.protocol == f"1.{spec.VERSION_MINOR}"
    assert (info.imu_model, info.accel_fs_g, info.gyro_fs_dps) == ("MPU6050", 8, 1000)
    assert info.accel_lsb_per_g == 4096.0 and info.gyro_lsb_per_dps == 32.8
    assert info.reset_cause == "WATCHDOG"
    assert info.resend_window_ms == 25800


def test_info_and_status_from_a_1_0_board_read_the_newer_fields_as_defaults():
    old_info = vectors.peer_payload(spec.MsgType.INFO, INFO, minor=0)
    old_status = vectors.peer_payload(spec.MsgType.STATUS, STATUS, minor=0)

    async def go(device, board, link):
        board.handlers[spec.Opcode.GET_STATUS] = lambda c: (spec.StatusCode.OK, old_status)
        return await device.get_info(), await device.get_status()

    info, status = run(go, info_payload=old_info)
    assert info.resend_window_ms == 0 and info.name == "Anklet-C0FFEE"
    assert info.load_scale_counts_per_n == pytest.approx(2280.5)
    assert status.load_dropped == 0 and status.samples_dropped == 12
    assert status.flags == ["STREAMING", "CONFIG_DEFAULTS"]


def test_info_and_status_from_a_newer_board_ignore_its_extra_fields():
    new_info = vectors.peer_payload(spec.MsgType.INFO, INFO, minor=spec.VERSION_MINOR + 1)
    new_status = vectors.peer_payload(spec.MsgType.STATUS, STATUS, minor=spec.VERSION_MINOR + 1)

    async def go(device, board, link):
        board.handlers[spec.Opcode.GET_STATUS] = lambda c: (spec.StatusCode.OK, new_status)
        return await device.get_info(), await device.get_status()

    info, status = run(go, info_payload=new_info)
    assert info.resend_window_ms == 25800 and info.max_frame == 244
    assert status == StatusReport.from_message(spec.Status.parse(spec.Status.build(STATUS)))
    assert status.load_dropped == 3


def test_a_reply_too_short_for_its_payload_is_a_one_line_device_error():
    async def go(device, board, link):
        with pytest.raises(DeviceError) as failure:
            await device.get_info()
        return str(failure.value), device.decoder.stats.malformed_payload

    message, counted = run(go, info_payload=b"12345")
    assert message == (
        "fake:cobs answered get_info with a malformed reply (5 bytes: Error in path (parsing) "
        "-> device_id; stream read less than specified amount, expected 6, found 5): update "
        "the firmware (anklet deploy)"
    )
    assert counted == 1


def test_each_command_carries_a_new_request_id_and_its_arguments():
    async def go(device, board, link):
        board.handlers[spec.Opcode.TARE] = lambda c: (
            spec.StatusCode.OK,
            spec.TareReply.build({"offset": -81234}),
        )
        await device.set_rates(imu_rate_hz=400, accel_fs_g=16)
        offset = await device.tare(samples=30)
        await device.set_name("Left ankle")
        await device.start()
        return offset, board.commands, link.written

    offset, commands, written = run(go)
    assert offset == -81234
    ids = [c.request_id for c in commands]
    assert len(set(ids)) == len(ids) == 4
    assert [c.opcode for c in commands] == [
        spec.Opcode.SET_RATES,
        spec.Opcode.TARE,
        spec.Opcode.SET_NAME,
        spec.Opcode.START,
    ]
    rates = spec.SetRatesArgs.parse(commands[0].args)
    assert (rates.imu_rate_hz, rates.load_rate_hz, rates.accel_fs_g, rates.gyro_fs_dps) == (
        400,
        0,
        16,
        0,
    )
    assert spec.TareArgs.parse(commands[1].args).samples == 30
    assert spec.SetNameArgs.parse(commands[2].args).name == "Left ankle"
    assert commands[3].args == b""
    # Frame sequence numbers count the host's frames on this link.
    seqs = [framing.HEADER.unpack_from(raw)[5] for raw in written]
    assert seqs == list(range(seqs[0], seqs[0] + 4))


def test_replies_are_matched_by_request_id_whatever_their_order():
    held: list[Any] = []

    async def go(device, board, link):
        def hold(command):
            held.append(command)
            if len(held) == 2:  # answer the second first, then the first
                for c in reversed(held):
                    payload = spec.TimeSyncReply.build(
                        {
                            "host_token": spec.TimeSyncArgs.parse(c.args).host_token,
                            "device_us": 1000 * c.request_id,
                        }
                    )
                    board.reply(c.request_id, c.opcode, spec.StatusCode.OK, payload)
            return None

        board.handlers[spec.Opcode.TIME_SYNC] = hold
        first, second = await asyncio.gather(device.time_sync(), device.time_sync())
        return first, second

    first, second = run(go)
    assert first.device_us == 1000 * held[0].request_id
    assert second.device_us == 1000 * held[1].request_id
    assert first.device_us != second.device_us


def test_a_reply_to_no_pending_request_is_ignored():
    async def go(device, board, link):
        board.reply(4242, spec.Opcode.START, spec.StatusCode.OK)  # stale: from a past session
        return await device.get_info()

    assert run(go).name == "Anklet-C0FFEE"


def test_a_refused_command_raises_command_failed_naming_the_status():
    async def go(device, board, link):
        board.handlers[spec.Opcode.SET_RATES] = lambda c: (spec.StatusCode.OUT_OF_RANGE, b"")
        with pytest.raises(CommandFailed) as failure:
            await device.set_rates(imu_rate_hz=300)
        return failure.value

    failure = run(go)
    assert failure.status == spec.StatusCode.OUT_OF_RANGE
    assert str(failure) == (
        "set_rates refused by the board: OUT_OF_RANGE "
        "(an argument is outside what the hardware supports)"
    )


def test_resend_of_samples_no_longer_held_returns_the_boards_window():
    window = spec.ResendReply.build({"from_index": 10, "oldest_index": 500, "next_index": 900})

    async def go(device, board, link):
        board.handlers[spec.Opcode.RESEND] = lambda c: (spec.StatusCode.NOT_AVAILABLE, window)
        return await device.resend(10)

    answer = run(go)
    assert (answer.ok, answer.oldest_index, answer.next_index) == (False, 500, 900)


def test_a_board_that_never_answers_times_out_with_a_one_line_message():
    async def go(device, board, link):
        board.handlers[spec.Opcode.GET_STATUS] = lambda c: None
        with pytest.raises(CommandTimeout) as timeout:
            await device.get_status()
        return str(timeout.value), device._pending

    message, pending = run(go, timeout_s=0.05)
    assert message == (
        "fake:cobs did not answer get_status within 0.1 s: is it powered and running the "
        "Anklet firmware?"
    )
    assert "\n" not in message
    assert pending == {}  # the request id is forgotten, a late reply is ignored


def test_a_board_of_another_major_version_is_named_instead_of_a_timeout():
    async def go(device, board, link):
        def answer_as_2_0(command):
            reply = spec.Reply.build(
                dict(request_id=command.request_id, opcode=command.opcode, status=0, payload=b"")
            )
            link.deliver_frame(framing.encode_frame(spec.MsgType.REPLY, reply, 0, version=(2, 0)))
            return None

        board.handlers[spec.Opcode.GET_INFO] = answer_as_2_0
        with pytest.raises(IncompatibleDevice) as refused:
            await device.get_info()
        return str(refused.value), device.decoder.stats.incompatible_version

    message, counted = run(go, timeout_s=0.05)
    assert message.startswith("fake:cobs speaks protocol 2.0, this host speaks 1.")
    assert message.endswith("update the host (pip install -U anklet)")
    assert counted == 1


def test_a_lost_link_fails_the_pending_command_and_sets_link_lost():
    async def go(device, board, link):
        board.handlers[spec.Opcode.STOP] = lambda c: link.drop("cable pulled")
        with pytest.raises(LinkLost, match="cable pulled"):
            await device.stop()
        return device.link_lost.is_set()

    assert run(go, timeout_s=30.0) is True  # LinkLost, long before any timeout


def test_golden_frames_reach_on_samples_and_on_message():
    board_types = {
        spec.MsgType.INFO,
        spec.MsgType.STATUS,
        spec.MsgType.SAMPLES,
        spec.MsgType.EVENT,
        spec.MsgType.LOG,
    }
    replayed = [v for v in VECTORS if v["msg_type"] in board_types]

    async def go(device, board, link):
        blocks: list[SampleBlock] = []
        messages: list[tuple[spec.MsgType, Any]] = []
        done = asyncio.Event()
        device.on_samples = blocks.append

        def on_message(msg_type, message):
            messages.append((msg_type, message))
            if len(blocks) + len(messages) == len(replayed):
                done.set()

        device.on_message = on_message
        for vector in replayed:
            link.deliver(bytes.fromhex(vector["wire"]))
        await done.wait()
        return blocks, messages, device.info

    blocks, messages, info = run(go)
    want_samples = [v for v in replayed if v["msg_type"] == spec.MsgType.SAMPLES]
    assert [b.first_index for b in blocks] == [v["fields"]["first_index"] for v in want_samples]
    kinds = [int(t) for t, _ in messages]
    assert kinds == [v["msg_type"] for v in replayed if v["msg_type"] != spec.MsgType.SAMPLES]
    assert info is not None and info.name == "Anklet-C0FFEE"  # the last INFO seen, a 1.x one


def test_a_malformed_status_is_counted_and_the_stream_goes_on():
    async def go(device, board, link):
        got: list[Any] = []
        done = asyncio.Event()

        def on_message(msg_type, message):
            got.append(message)
            done.set()

        device.on_message = on_message
        board.send(spec.MsgType.STATUS, spec.Status.build(STATUS)[:-2])  # ends inside a field
        board.send(spec.MsgType.STATUS, spec.Status.build(STATUS))
        await done.wait()
        return got, device.decoder.stats.malformed_payload, list(device.decoder.recent_errors)

    got, malformed, errors = run(go)
    assert len(got) == 1 and got[0].load_dropped == 3
    assert malformed == 1
    assert any("STATUS payload" in e and "load_dropped" in e for e in errors)


@pytest.mark.parametrize("chunk", [1, 7, 64, 4096])
def test_a_recorded_capture_replays_in_any_chunking(chunk):
    data = CAPTURE.read_bytes()

    async def go(device, board, link):
        blocks: list[SampleBlock] = []
        statuses: list[Any] = []
        all_in = asyncio.Event()

        def on_samples(block):
            blocks.append(block)
            if sum(b.imu_count for b in blocks) >= 600:
                all_in.set()

        device.on_samples = on_samples
        device.on_message = lambda msg_type, message: statuses.append(message)
        board.replay(data, chunk)
        await asyncio.wait_for(all_in.wait(), 10)  # a guard against hanging, not a pacing
        return blocks, statuses, device.decoder.stats

    blocks, statuses, stats = run(go)
    assert stats.bad_frames == 0 and stats.bytes_discarded == 0 and stats.frames_missing == 0
    assert [b.first_index for b in blocks] == list(range(0, 600, 12))
    assert all(b.imu.shape == (12, 6) for b in blocks)
    assert len(statuses) == 3 and all(s.load_dropped == 0 for s in statuses)  # a 1.1 board
