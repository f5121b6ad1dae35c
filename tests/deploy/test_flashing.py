"""`anklet flash`: image checks, chip checks and every port failure, esptool run for real where
a port without a chip can show it (a pty that answers nothing, one held open, none at all)."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from anklet.cli import _load_commands, app
from anklet.flashing import (
    NoAnswer,
    WrongChip,
    check_chip,
    flash_micropython,
    offset_for,
    parse_image,
    read_image,
)
from anklet.transport.ports import PortBusy, PortNotFound
from clihelpers import assert_one_line_error as check_error
from esp_pylib.logger import EspLog
from typer.testing import CliRunner

_load_commands()
runner = CliRunner()

CHIP_IDS = {"esp32": 0, "esp32s2": 2, "esp32c3": 5, "esp32s3": 9, "esp32c6": 13}


def image(chip: str, partition_table: bool = True) -> bytes:
    """A MicroPython-shaped image: bootloader header with the chip id, partition table at 0x8000."""
    header = struct.pack(
        "<BBBBIB3sHBHH4sB",
        0xE9,  # magic
        3,  # segments
        2,  # flash mode DIO
        0x20,  # 4 MB, 40 MHz
        0x40080400,  # entry point
        0xEE,  # WP pin
        b"\0\0\0",
        CHIP_IDS[chip],
        0,
        0,
        0xFFFF,
        b"\0\0\0\0",
        0,
    )
    data = bytearray(0x9000)
    data[: len(header)] = header
    if partition_table:
        at = 0x8000 - offset_for(chip)
        data[at : at + 2] = b"\xaa\x50"
    return bytes(data)


def write_image(tmp_path: Path, chip: str, **kw: bool) -> Path:
    path = tmp_path / f"{chip}.bin"
    path.write_bytes(image(chip, **kw))
    return path


def flash_cli(*args: str):
    return runner.invoke(app, ["flash", *args])


def assert_one_line_error(result, *words: str) -> None:
    check_error(result, *(re.escape(word) for word in words))


@pytest.mark.parametrize(
    ("chip", "offset"), [("esp32", 0x1000), ("esp32s2", 0x1000), ("esp32s3", 0), ("esp32c3", 0)]
)
def test_image_header_gives_chip_and_flash_offset(tmp_path, chip, offset):
    info = read_image(write_image(tmp_path, chip))
    assert info.chip == chip
    assert info.chip_id == CHIP_IDS[chip]
    assert info.offset == offset


def test_s3_image_is_refused_for_an_esp32():
    s3 = parse_image(image("esp32s3"), Path("ESP32_GENERIC_S3.bin"))
    with pytest.raises(WrongChip, match=r"for the ESP32-S3, but the board .* is an ESP32:"):
        check_chip(s3, "esp32", "the board on /dev/ttyUSB0 is an")
    check_chip(s3, "esp32s3", "the board is an")  # the right chip passes


def test_flash_refuses_a_missing_file(tmp_path, silent_port):
    result = flash_cli("--port", silent_port, "--firmware", str(tmp_path / "nope.bin"))
    assert_one_line_error(result, "no such file", "micropython.org/download")


def test_flash_refuses_a_file_that_is_not_an_esp_image(tmp_path, silent_port):
    path = tmp_path / "firmware.uf2"
    path.write_bytes(b"UF2\n" + bytes(100))
    result = flash_cli("--port", silent_port, "--firmware", str(path))
    assert_one_line_error(result, "not an ESP firmware image", "0xE9")


def test_flash_refuses_a_truncated_file(tmp_path, silent_port):
    path = tmp_path / "short.bin"
    path.write_bytes(b"\xe9\x03")
    result = flash_cli("--port", silent_port, "--firmware", str(path))
    assert_one_line_error(result, "not an ESP firmware image")


def test_flash_refuses_an_app_only_image(tmp_path, silent_port):
    path = write_image(tmp_path, "esp32", partition_table=False)
    result = flash_cli("--port", silent_port, "--firmware", str(path))
    assert_one_line_error(result, "without bootloader and partition table", "ESP32_GENERIC")


def test_flash_refuses_an_image_for_another_chip_than_chip_option(tmp_path, silent_port):
    path = write_image(tmp_path, "esp32s3")
    result = flash_cli("--port", silent_port, "--firmware", str(path), "--chip", "esp32")
    assert_one_line_error(result, "ESP32-S3", "--chip asks for an ESP32")


def test_flash_refuses_an_unknown_chip_option(tmp_path, silent_port):
    path = write_image(tmp_path, "esp32")
    result = flash_cli("--port", silent_port, "--firmware", str(path), "--chip", "esp99")
    assert_one_line_error(result, "unknown chip 'esp99'")


def test_flash_reports_a_missing_port(tmp_path):
    path = write_image(tmp_path, "esp32")
    result = flash_cli("--port", "/dev/ttyUSB-nonexistent", "--firmware", str(path))
    assert_one_line_error(result, "no such port /dev/ttyUSB-nonexistent", "plugged in")
    with pytest.raises(PortNotFound):
        flash_micropython("/dev/ttyUSB-nonexistent", path)


def test_flash_reports_a_busy_port(tmp_path, busy_port):
    path = write_image(tmp_path, "esp32")
    result = flash_cli("--port", busy_port, "--firmware", str(path))
    assert_one_line_error(result, f"port {busy_port} is busy", "close the program")
    with pytest.raises(PortBusy):
        flash_micropython(busy_port, path)


def test_flash_reports_no_bootloader_answering_through_esptool(tmp_path, silent_port):
    path = write_image(tmp_path, "esp32")
    stages = []
    logger = EspLog.instance
    with pytest.raises(NoAnswer, match=r"no ESP bootloader answered .* BOOT"):
        flash_micropython(
            silent_port, path, connect_attempts=1, progress=lambda s, d, t: stages.append(s)
        )
    assert stages == ["connect"]
    assert EspLog.instance is logger  # esptool's logger is put back


def test_flash_cli_reports_no_bootloader_answering(tmp_path, silent_port, monkeypatch):
    # A 1 s wait for a REPL (was 8) and one connect attempt (was esptool's 7): the one-line
    # error is the point, not how patient esptool is (its attempts: the test above).
    import anklet.cli.device_tools_cmds as commands
    import anklet.keep as keep

    save, flash = keep.save_from_board, commands.flash_micropython
    monkeypatch.setattr(
        keep, "save_from_board", lambda port, **_: save(port, repl_timeout_s=1.0, listen_s=0.5)
    )
    monkeypatch.setattr(
        commands, "flash_micropython", lambda *a, **kw: flash(*a, **{**kw, "connect_attempts": 1})
    )
    path = write_image(tmp_path, "esp32")
    result = flash_cli("--port", silent_port, "--firmware", str(path))
    assert_one_line_error(result, "no ESP bootloader answered", "BOOT")
