"""`anklet flash`: image checks, chip checks and every port failure, esptool run for real where
a port without a chip can show it (a pty that answers nothing, one held open, none at all); what
it asks esptool to write, through a fake of esptool's functions holding a 4 MB flash."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import esptool.cmds
import pytest
from anklet import partitions
from anklet.cli import _load_commands, app
from anklet.flashing import (
    FlashError,
    NoAnswer,
    NoRoomForRing,
    WrongChip,
    check_chip,
    check_request,
    flash_micropython,
    offset_for,
    parse_image,
    read_image,
)
from anklet.partitions import Partition
from anklet.transport.ports import PortBusy, PortNotFound
from clihelpers import assert_one_line_error as check_error
from esp_pylib.logger import EspLog
from typer.testing import CliRunner

_load_commands()
runner = CliRunner()

CHIP_IDS = {"esp32": 0, "esp32s2": 2, "esp32c3": 5, "esp32s3": 9, "esp32c6": 13}


# MicroPython's partitions-4MiB.csv (v1.25 and before), as partitions.py reads it.
STOCK_4MIB = (
    Partition("nvs", 0x01, 0x02, 0x9000, 0x6000),
    Partition("phy_init", 0x01, 0x01, 0xF000, 0x1000),
    Partition("factory", 0x00, 0x00, 0x10000, 0x1F0000),
    Partition("vfs", 0x01, 0x81, 0x200000, 0x200000),
)
RING_TABLE = partitions.build(partitions.with_ring(STOCK_4MIB, 4 * 1024 * 1024).partitions)


def image(
    chip: str, partition_table: bool = True, table: tuple[Partition, ...] = STOCK_4MIB
) -> bytes:
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
    data = bytearray(b"\xff" * 0x9000)
    data[: len(header)] = header
    if partition_table:
        at = 0x8000 - offset_for(chip)
        data[at : at + partitions.TABLE_BYTES] = partitions.build(table)
    return bytes(data)


def write_image(tmp_path: Path, chip: str, **kw) -> Path:
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


class FakeEsptool:
    """esptool's functions as flash_micropython calls them, over a 4 MB flash: an ESP32 whose
    flash starts as `board_table` at 0x8000 and 0xFF elsewhere."""

    CHIP_NAME = "ESP32"

    def __init__(self, board_table: bytes = b"\xff" * partitions.TABLE_BYTES) -> None:
        self.flash = bytearray(b"\xff" * 0x400000)
        self.flash[0x8000 : 0x8000 + len(board_table)] = board_table
        self.calls: list[str] = []
        self.writes: list[tuple[int, bytes]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(esptool.cmds, "detect_chip", lambda *a, **kw: self)
        monkeypatch.setattr(esptool.cmds, "run_stub", lambda esp: esp)
        monkeypatch.setattr(esptool.cmds, "attach_flash", lambda esp: None)
        monkeypatch.setattr(esptool.cmds, "erase_flash", self.erase_flash)
        monkeypatch.setattr(esptool.cmds, "write_flash", self.write_flash)
        monkeypatch.setattr(esptool.cmds, "reset_chip", lambda esp, how: self.calls.append(how))

    def __enter__(self) -> FakeEsptool:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def get_chip_description(self) -> str:
        return "ESP32-D0WD-V3 (revision v3.1)"

    def change_baud(self, baud: int) -> None:
        pass

    def read_flash(self, offset: int, length: int, progress_fn: object = None) -> bytes:
        self.calls.append(f"read 0x{offset:X}")
        return bytes(self.flash[offset : offset + length])

    def erase_flash(self, esp: object) -> None:
        self.calls.append("erase")
        self.flash[:] = b"\xff" * len(self.flash)

    def write_flash(self, esp: object, addr_data: list[tuple[int, bytes]]) -> None:
        for address, data in addr_data:  # in the order given, as esptool's write_flash does
            self.calls.append(f"write 0x{address:X}")
            self.writes.append((address, data))
            self.flash[address : address + len(data)] = data


@pytest.fixture
def board(monkeypatch: pytest.MonkeyPatch) -> FakeEsptool:
    fake = FakeEsptool()
    fake.install(monkeypatch)
    return fake


def test_flash_writes_the_ring_table_at_0x8000_after_the_image(tmp_path, silent_port, board):
    path = write_image(tmp_path, "esp32")
    result = flash_micropython(silent_port, path)
    assert board.calls == ["erase", "write 0x1000", "write 0x8000", "hard-reset"]
    assert board.writes == [(0x1000, path.read_bytes()), (0x8000, RING_TABLE)]
    # the image's own table, inside what was written at 0x1000, is the one overwritten
    table = partitions.parse(bytes(board.flash[0x8000 : 0x8000 + partitions.TABLE_BYTES]))
    assert partitions.find(table, "ankring") == Partition("ankring", 1, 0x40, 0x380000, 0x80000)
    assert partitions.find(table, "vfs") == Partition("vfs", 1, 0x81, 0x200000, 0x180000)
    assert result.layout.added
    assert result.layout.ring.offset == 0x380000


def test_flash_writes_an_s3_image_at_0_and_the_table_still_at_0x8000(
    tmp_path, silent_port, monkeypatch
):
    fake = FakeEsptool()
    fake.CHIP_NAME = "ESP32-S3"
    fake.install(monkeypatch)
    path = write_image(tmp_path, "esp32s3")
    flash_micropython(silent_port, path)
    assert [address for address, _ in fake.writes] == [0x0, 0x8000]
    assert fake.writes[1][1] == RING_TABLE


def test_flash_cli_says_what_the_ring_partition_cost(tmp_path, silent_port, board):
    path = write_image(tmp_path, "esp32")
    result = flash_cli("--port", silent_port, "--firmware", str(path), "--no-erase")
    assert result.exit_code == 0, result.output
    assert re.search(
        r"partition ankring made \(512 KiB at 0x380000\), where the board keeps samples to "
        r"re-send after a dropped link; the filesystem is 512 KiB smaller \(1536 KiB\)",
        " ".join(result.output.split()),
    ), result.output
    out = flash_cli("--port", silent_port, "--firmware", str(path), "--no-erase", "--json")
    fields = json.loads(out.stdout)
    assert fields["ring_offset"] == 0x380000
    assert fields["ring_size_bytes"] == 0x80000
    assert fields["ring_added"] is True
    assert fields["fs_size_bytes"] == 0x180000


def test_image_without_vfs_is_refused_before_the_board_is_touched(tmp_path, silent_port, board):
    tinyuf2 = (*STOCK_4MIB[:3], Partition("ffat", 0x01, 0x81, 0x200000, 0x200000))
    path = write_image(tmp_path, "esp32", table=tinyuf2)
    with pytest.raises(NoRoomForRing, match=r"no 'vfs' filesystem partition .* 'ankring'"):
        check_request(path, None)
    result = flash_cli("--port", silent_port, "--firmware", str(path))
    assert_one_line_error(result, "no 'vfs' filesystem partition", "micropython.org/download")
    assert board.calls == []


def test_image_with_a_damaged_table_is_refused(tmp_path, silent_port):
    data = bytearray(image("esp32"))
    data[0x7000 + 8] ^= 0x01  # nvs's offset: the table's MD5 no longer matches
    path = tmp_path / "damaged.bin"
    path.write_bytes(bytes(data))
    result = flash_cli("--port", silent_port, "--firmware", str(path))
    assert_one_line_error(result, "MD5", "does not match", "download the image again")


def test_no_erase_refuses_to_cut_the_board_filesystem_short(tmp_path, silent_port, monkeypatch):
    fake = FakeEsptool(board_table=partitions.build(STOCK_4MIB))  # stock MicroPython, its files
    fake.install(monkeypatch)
    path = write_image(tmp_path, "esp32")
    with pytest.raises(
        FlashError, match=r"--no-erase .*\(vfs 0x200000-0x400000 becomes 0x200000-0x380000"
    ):
        flash_micropython(silent_port, path, erase=False)
    assert fake.writes == []


def test_no_erase_writes_over_a_board_that_has_the_ring_table(tmp_path, silent_port, monkeypatch):
    fake = FakeEsptool(board_table=RING_TABLE)  # flashed by anklet flash before
    fake.install(monkeypatch)
    path = write_image(tmp_path, "esp32")
    flash_micropython(silent_port, path, erase=False)
    assert fake.calls == ["read 0x8000", "write 0x1000", "write 0x8000", "hard-reset"]
