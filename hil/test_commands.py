"""Commands the board must refuse, each with its documented status code (docs/PROTOCOL.md)."""

from __future__ import annotations

import asyncio
import time

import pytest
from anklet.device import CommandFailed
from anklet_protocol import framing, spec


async def raw_command(device, opcode, args):
    """Send a COMMAND with exactly these argument bytes; returns (status, reply payload).

    Device.command builds valid arguments from the spec; this writes what it is given, through
    the same request ids, sequence numbers and pending replies."""
    request_id = next(device._ids) & 0xFFFF
    payload = spec.Command.build(dict(request_id=request_id, opcode=opcode, args=args))
    frame = framing.encode_frame(spec.MsgType.COMMAND, payload, seq=next(device._seq))
    future = asyncio.get_running_loop().create_future()
    device._pending[request_id] = future
    await device.transport.write_frame(frame)
    try:
        return await asyncio.wait_for(future, device.command_timeout_s)
    finally:
        device._pending.pop(request_id, None)


def test_unsupported_imu_rate_is_out_of_range(hil, figure):
    async def body(board):
        with pytest.raises(CommandFailed) as refused:
            await board.device.set_rates(imu_rate_hz=300)
        return refused.value, await board.device.get_info()

    refused, info = hil.run(body)
    figure(
        f"SET_RATES 300 Hz → {spec.StatusCode(refused.status).name}; rate stays "
        f"{info.imu_rate_hz} Hz"
    )
    assert refused.status == spec.StatusCode.OUT_OF_RANGE
    assert info.imu_rate_hz in (100, 200, 400, 1000)


def test_short_arguments_are_bad_length(hil, figure):
    async def body(board):
        # SET_RATES takes 6 bytes of arguments (u16, u8, u8, u16); send 2.
        return await raw_command(board.device, spec.Opcode.SET_RATES, b"\x2c\x01")

    status, _ = hil.run(body)
    figure(f"SET_RATES with 2 of 6 argument bytes → {spec.StatusCode(status).name}")
    assert status == spec.StatusCode.BAD_LENGTH


def test_unknown_opcode_is_refused(hil, figure):
    async def body(board):
        answer = await raw_command(board.device, 99, b"")
        info = await board.device.get_info()  # and the board carries on
        return answer, info

    (status, _), info = hil.run(body)
    figure(f"opcode 99 → {spec.StatusCode(status).name}; still answers ({info.name})")
    assert status == spec.StatusCode.UNKNOWN_OPCODE


def test_resend_older_than_the_ring_is_not_available(hil, target, figure):
    top = max(spec.IMU_RATES_HZ) if target.is_ble else spec.fastest_serial_rate_hz()

    async def body(board):
        device = board.device
        await device.set_rates(imu_rate_hz=top)  # the ring wraps soonest at the top rate
        await device.start()
        deadline = time.monotonic() + 120
        status = await device.get_status()
        while status.ring_oldest == 0:  # until the ring has wrapped: index 0 is gone
            assert time.monotonic() < deadline, "the ring never wrapped"
            await asyncio.sleep(0.5)
            status = await device.get_status()
        with pytest.raises(CommandFailed) as refused:
            await device.command(spec.Opcode.RESEND, from_index=0)
        await device.stop()
        await device.set_rates(imu_rate_hz=200)
        return status, refused.value

    status, refused = hil.run(body)
    reply = spec.ResendReply.parse(refused.payload)
    figure(
        f"RESEND 0 → {spec.StatusCode(refused.status).name}; board holds "
        f"{reply.oldest_index}..{reply.next_index}"
    )
    assert refused.status == spec.StatusCode.NOT_AVAILABLE
    # The refusal says what the board still holds, so the host can count the rest as lost.
    assert reply.from_index == 0
    assert reply.oldest_index >= status.ring_oldest > 0
    assert reply.next_index > reply.oldest_index
