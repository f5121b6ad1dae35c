"""Write MicroPython onto the board with esptool: check the image, erase, write, reset.

    image = read_image(Path("ESP32_GENERIC-v1.25.0.bin"))      # checks the file, says its chip
    result = flash_micropython("/dev/ttyUSB0", image.path, progress=print)
    print(result.chip, hex(result.offset), hex(result.layout.ring.offset))

After the image, a partition table of our own goes to 0x8000 over the image's: the same one with
the filesystem 512 KiB shorter and the `ankring` partition in the space freed at its end, where
the firmware keeps samples to re-send after a dropped link (partitions.py).

Every failure is a `FlashError` (or, for the port, a `PortError`) whose message says what to
do. The chip that answers is compared with the chip the image was built for, and the image's
partition table checked for room for `ankring`, before anything is erased.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import serial
from esptool.targets import CHIP_DEFS

from . import partitions
from .partitions import Partition, PartitionError, RingLayout
from .transport.ports import PortError, open_error, open_port

IMAGE_MAGIC = 0xE9  # first byte of every ESP application and bootloader image
_HEADER = struct.Struct("<BBBBIB3sHBHH4sB")  # esp_image_header_t: 8 bytes + 16 extended
_PARTITION_TABLE_AT = 0x8000  # flash address of the partition table in ESP-IDF builds
_PARTITION_MAGIC = b"\xaa\x50"  # first bytes of a partition table entry
ROM_BAUD = 115_200  # the ROM bootloader's speed; esptool switches to `baud` after connecting
DEFAULT_BAUD = 460_800
DOWNLOADS = "https://micropython.org/download/"

#: Chips MicroPython supports on the ESP32 family, by esptool's name.
CHIPS = tuple(name for name in CHIP_DEFS if name != "esp8266")
#: MicroPython's download page for each chip's generic board.
DOWNLOAD_PAGES = {
    "esp32": DOWNLOADS + "ESP32_GENERIC/",
    "esp32s2": DOWNLOADS + "ESP32_GENERIC_S2/",
    "esp32s3": DOWNLOADS + "ESP32_GENERIC_S3/",
    "esp32c3": DOWNLOADS + "ESP32_GENERIC_C3/",
    "esp32c6": DOWNLOADS + "ESP32_GENERIC_C6/",
}

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class FlashError(Exception):
    """Flashing failed; the message says what to do about it."""


class NoAnswer(FlashError):
    """The port opened but no ESP bootloader answered."""


class BadImage(FlashError):
    """The file is missing, unreadable or not a MicroPython image for the ESP32 family."""


class WrongChip(FlashError):
    """The image, the --chip option and the connected chip disagree."""


class NoRoomForRing(FlashError):
    """The image's partition table has no filesystem to take the `ankring` partition from."""


@dataclass(frozen=True)
class ImageInfo:
    path: Path
    size_bytes: int
    chip: str  # esptool's name: "esp32", "esp32s3", ...
    chip_id: int  # the image header's chip id
    flash_size_bytes: int  # the header's flash size, which the bootloader holds partitions to
    partitions: tuple[Partition, ...]  # the table inside the image

    @property
    def offset(self) -> int:
        """Where the image goes: the chip's bootloader address."""
        return offset_for(self.chip)


@dataclass(frozen=True)
class FlashResult:
    port: str
    chip: str  # what answered, as esptool describes it: "ESP32-D0WD-V3 (revision v3.1)"
    image: ImageInfo
    offset: int
    erased: bool
    layout: RingLayout  # the table written at 0x8000: `ankring` and the filesystem's new size


def chip_name(esptool_name: str) -> str:
    """'esp32s3' -> 'ESP32-S3'."""
    return CHIP_DEFS[esptool_name].CHIP_NAME


def offset_for(chip: str) -> int:
    """The flash address of a full MicroPython image: 0x1000 on the ESP32, 0x0 on S3/C3, ..."""
    if chip not in CHIPS:
        raise WrongChip(f"unknown chip {chip!r}: choose one of {', '.join(CHIPS)}")
    return CHIP_DEFS[chip].BOOTLOADER_FLASH_OFFSET


def _chip_for_id(chip_id: int) -> str | None:
    for name in CHIPS:
        if chip_id == CHIP_DEFS[name].IMAGE_CHIP_ID:
            return name
    return None


def parse_image(data: bytes, path: Path = Path("<image>")) -> ImageInfo:
    """Check an image's header and layout; raises BadImage saying what is wrong."""
    where = f"{path}"
    if len(data) < _HEADER.size:
        raise BadImage(f"{where} is not an ESP firmware image ({len(data)} bytes): {_get_it()}")
    fields = _HEADER.unpack_from(data)
    if fields[0] != IMAGE_MAGIC:
        raise BadImage(
            f"{where} is not an ESP firmware image (first byte 0x{data[0]:02X}, expected "
            f"0x{IMAGE_MAGIC:02X}): {_get_it()}"
        )
    chip_id = fields[7]
    chip = _chip_for_id(chip_id)
    if chip is None:
        raise BadImage(f"{where} is for an unknown chip (image chip id {chip_id}): {_get_it()}")
    table_at = _PARTITION_TABLE_AT - offset_for(chip)
    if data[table_at : table_at + 2] != _PARTITION_MAGIC:
        raise BadImage(
            f"{where} is an {chip_name(chip)} image without bootloader and partition table "
            f"(an app-only .app-bin?): download the complete .bin from {_page(chip)}"
        )
    try:
        table = partitions.parse(data[table_at : table_at + partitions.TABLE_BYTES])
    except PartitionError as exc:
        raise BadImage(f"{where}: {exc}: download the image again from {_page(chip)}") from None
    sizes = {
        code: int(name.removesuffix("MB")) * 1024 * 1024
        for name, code in CHIP_DEFS[chip].FLASH_SIZES.items()
        if name.endswith("MB")
    }
    flash_bytes = sizes.get(fields[3] & 0xF0)  # the header's spi_size, its byte 3's high nibble
    if flash_bytes is None:
        raise BadImage(f"{where} has an unknown flash size in its header: {_get_it()}")
    return ImageInfo(
        path=path,
        size_bytes=len(data),
        chip=chip,
        chip_id=chip_id,
        flash_size_bytes=flash_bytes,
        partitions=tuple(table),
    )


def ring_layout(image: ImageInfo) -> RingLayout:
    """The partition table `anklet flash` writes for `image`: the image's, with `ankring`."""
    try:
        return partitions.with_ring(image.partitions, image.flash_size_bytes)
    except PartitionError as exc:
        raise NoRoomForRing(
            f"{image.path.name}: {exc}. Anklet needs that room for the samples it re-sends "
            f"after a dropped link: use MicroPython's generic image for the "
            f"{chip_name(image.chip)} ({_page(image.chip)}), on a board with 4 MB of flash or more"
        ) from None


def check_request(firmware: Path, chip: str | None) -> ImageInfo:
    """The image, checked, against `--chip` when given and for room for `ankring`: what needs
    no board at all."""
    image = read_image(firmware)
    if chip is not None:
        if chip not in CHIPS:
            raise WrongChip(f"unknown chip {chip!r}: choose one of {', '.join(CHIPS)}")
        check_chip(image, chip, "--chip asks for an")
    ring_layout(image)
    return image


def read_image(path: Path) -> ImageInfo:
    """Read and check a MicroPython image file; raises BadImage."""
    path = Path(path)
    if not path.exists():
        raise BadImage(f"no such file {path}: {_get_it()}")
    if not path.is_file():
        raise BadImage(f"{path} is not a file: {_get_it()}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadImage(f"cannot read {path}: {exc.strerror}") from None
    return parse_image(data, path)


def check_chip(image: ImageInfo, chip: str, source: str) -> None:
    """Raise WrongChip unless `image` was built for `chip`; `source` says who named the chip."""
    if image.chip != chip:
        raise WrongChip(
            f"{image.path.name} is MicroPython for the {chip_name(image.chip)}, but {source} "
            f"{chip_name(chip)}: download the image for the {chip_name(chip)} from {_page(chip)}"
        )


def _page(chip: str) -> str:
    return DOWNLOAD_PAGES.get(chip, DOWNLOADS + "?port=esp32")


def _get_it() -> str:
    return f"download MicroPython for your board from {DOWNLOADS} (e.g. {DOWNLOAD_PAGES['esp32']})"


def check_port(port: str) -> None:
    """Open and close the port once to turn the usual failures into clear errors."""
    if "://" in port:
        return  # rfc2217:// or socket://: esptool opens those itself
    open_port(port, ROM_BAUD).close()


def _esptool_error(port: str, exc: Exception) -> FlashError | PortError:
    text = str(exc)
    if "Could not open" in text:
        inner = re.search(r"\((.*)\)", text)
        return open_error(port, OSError(inner.group(1) if inner else text))
    if "Failed to connect" in text or "No serial data received" in text:
        return NoAnswer(
            f"no ESP bootloader answered on {port}: is it the board's port? Hold the BOOT "
            "button, press and release EN (RESET), release BOOT, then try again"
        )
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return FlashError(f"esptool: {first}")


class _Logger:
    """esptool's output, turned into progress callbacks and a transcript."""

    def __init__(self, progress: Progress | None, stage: list[str]) -> None:
        self.progress = progress
        self.stage_name = stage
        self.lines: list[str] = []

    def print(self, *args: Any, **kwargs: Any) -> None:
        text = " ".join(str(a) for a in args).strip()
        if text:
            self.lines.append(text)

    def note(self, message: str) -> None:
        self.lines.append(f"note: {message}")

    def warning(self, message: str, suggestion: str | None = None) -> None:
        self.lines.append(f"warning: {message}")

    def error(self, message: str, suggestion: str | None = None) -> None:
        self.lines.append(f"error: {message}")

    def stage(self, finish: bool = False) -> None:
        pass

    def progress_bar(
        self,
        cur_iter: int,
        total_iters: int,
        prefix: str = "",
        suffix: str = "",
        bar_length: int = 30,
    ) -> None:
        if self.progress is not None:
            self.progress(self.stage_name[0], cur_iter, total_iters)

    def set_verbosity(self, verbosity: str) -> None:
        pass


@contextmanager
def _esptool_logger(progress: Progress | None, stage: list[str]) -> Iterator[_Logger]:
    from esp_pylib.logger import EspLog
    from esptool.logger import TemplateLogger, log

    class Logger(_Logger, TemplateLogger):
        pass

    previous = EspLog.instance
    logger = Logger(progress, stage)
    cast(Any, log).set_logger(logger)  # EsptoolLogger.set_logger, behind esp-pylib's proxy
    try:
        yield logger
    finally:
        EspLog.instance = previous


def flash_micropython(
    port: str,
    firmware: Path,
    chip: str | None = None,
    baud: int = DEFAULT_BAUD,
    progress: Progress | None = None,
    erase: bool = True,
    connect_attempts: int = 7,
) -> FlashResult:
    """Erase the flash, write a MicroPython image at the chip's bootloader address, then the
    image's partition table with `ankring` at 0x8000 (over the image's own).

    `chip` (esptool's name) is checked against the image and the connected chip before
    anything is erased. `progress(stage, done, total)` reports "connect", "erase", "write".
    With `erase=False` the board's filesystem stays, so a table that would move or shorten it
    is refused before anything is written.
    """
    from esptool.cmds import attach_flash, detect_chip, erase_flash, reset_chip, run_stub
    from esptool.cmds import write_flash as esptool_write_flash
    from esptool.util import FatalError

    image = check_request(firmware, chip)
    check_port(port)
    data = image.path.read_bytes()
    layout = ring_layout(image)
    table = partitions.build(layout.partitions)
    stage = ["connect"]

    def report(name: str, done: int, total: int) -> None:
        stage[0] = name
        if progress is not None:
            progress(name, done, total)

    with _esptool_logger(progress, stage):
        report("connect", 0, 1)
        try:
            loader = detect_chip(port, ROM_BAUD, connect_attempts=connect_attempts)
        except (FatalError, OSError, serial.SerialException) as exc:
            raise _esptool_error(port, exc) from None
        with loader as esp:
            try:
                found = next(k for k in CHIPS if CHIP_DEFS[k].CHIP_NAME == esp.CHIP_NAME)
                if chip is not None and chip != found:
                    raise WrongChip(
                        f"--chip {chip} but the board on {port} is an {esp.CHIP_NAME}: drop "
                        f"--chip or use --chip {found}"
                    )
                check_chip(image, found, f"the board on {port} is an")
                description = cast(Any, esp).get_chip_description()  # defined per chip
                report("connect", 1, 1)
                esp = run_stub(esp)
                if baud != ROM_BAUD:
                    esp.change_baud(baud)
                attach_flash(esp)
                if erase:
                    report("erase", 0, 1)
                    erase_flash(esp)
                    report("erase", 1, 1)
                else:
                    board_table = esp.read_flash(_PARTITION_TABLE_AT, len(table))
                    _check_kept_filesystem(port, board_table, layout)
                total = len(data) + len(table)
                report("write", 0, total)
                # In this order: the table lands on the image's own copy of it (esptool's API
                # writes the pairs as given; its command line would refuse the overlap).
                esptool_write_flash(esp, [(image.offset, data), (_PARTITION_TABLE_AT, table)])
                report("write", total, total)
                reset_chip(esp, "hard-reset")
            except StopIteration:
                raise WrongChip(f"the board on {port} is an unsupported chip") from None
            except (FatalError, OSError, serial.SerialException) as exc:
                raise _esptool_error(port, exc) from None
    return FlashResult(
        port=port,
        chip=description,
        image=image,
        offset=image.offset,
        erased=erase,
        layout=layout,
    )


def _check_kept_filesystem(port: str, board_table: bytes, layout: RingLayout) -> None:
    """Refuse to write, without erasing, a table that moves the board's filesystem: its files
    would be cut short (and MicroPython would find it corrupt at boot)."""
    try:
        board = partitions.parse(board_table)
    except PartitionError:
        return  # no table MicroPython could have used: no filesystem to keep
    if not board:
        return

    def span(parts: Sequence[Partition], label: str) -> str:
        p = partitions.find(parts, label)
        return f"0x{p.offset:X}-0x{p.end:X}" if p is not None else "none"

    fs, ring = partitions.FS_LABEL, partitions.RING_LABEL
    if all(span(board, label) == span(layout.partitions, label) for label in (fs, ring)):
        return
    raise FlashError(
        f"--no-erase keeps the filesystem on {port}, but the new partition table changes it "
        f"({fs} {span(board, fs)} becomes {span(layout.partitions, fs)}, {ring} "
        f"{span(board, ring)} becomes {span(layout.partitions, ring)}) and would cut its files "
        "short: run without --no-erase (anklet flash saves config.json and ble_secrets.json "
        "first)"
    )
