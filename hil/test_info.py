"""INFO: the board says who it is, in a protocol this host speaks."""

from __future__ import annotations

import re

from anklet_protocol import spec


def test_info_reports_the_protocol_major_of_this_host(hil, figure):
    async def body(board):
        return await board.device.get_info()

    info = hil.run(body)
    figure(f"protocol {info.protocol} (host {spec.VERSION_MAJOR}.{spec.VERSION_MINOR})")
    assert int(info.protocol.split(".")[0]) == spec.VERSION_MAJOR


def test_info_reports_firmware_version_and_git_revision(hil, figure):
    async def body(board):
        return await board.device.get_info()

    info = hil.run(body)
    figure(f"firmware {info.firmware} ({info.firmware_git}), {info.imu_model}, id {info.device_id}")
    assert re.fullmatch(r"\d+\.\d+\.\d+", info.firmware)
    assert info.firmware_git.strip()
    assert info.device_id != "000000000000"
    assert info.imu_model != "UNKNOWN"
