# The simulated board's `esp32` module: esp32.Partition, as MicroPython's ESP32 port offers it,
# over the emulated flash (flash_chip.py: the table, the `ankring` partition's bytes, timing).
#
#     ring = esp32.Partition.find(esp32.Partition.TYPE_DATA, label="ankring")[0]
#     ring.ioctl(6, 0)                          # erase block 0: the interpreter stalls 45 ms
#     ring.writeblocks(0, b"\x12\x34", 16)      # program at byte 16 of block 0, no erase
#
# Checked against ports/esp32/esp32_partition.c (the version with block_size and romfs, 1.2x)
# and what it calls: ESP-IDF's components/esp_partition/partition_target.c (range checks) and
# the port's check_esp_err (ports/esp32/mphalport.c: OSError(-code, esp_err_to_name(code)),
# except ESP_ERR_NOT_SUPPORTED -> EOPNOTSUPP, NO_MEM -> ENOMEM, TIMEOUT -> ETIMEDOUT):
# - find(type=TYPE_APP, subtype=0xff, label=None, block_size=4096): new objects, table order.
#   Partition(label) looks among the apps, then the data partitions; Partition(BOOT or RUNNING)
#   is the factory app (no OTA slots); nothing found: OSError(ENOENT); another int: ValueError.
# - readblocks(n, buf[, off]) reads len(buf) bytes at n * 4096 + off. writeblocks(n, buf)
#   erases the sectors buf covers, then programs it; writeblocks(n, buf, off) only programs:
#   a NOR program clears bits, never sets them (stored = old & new; ESP-IDF does not verify).
# - n * 4096 + off is a C uint32 (a negative block wraps far past the end). Past the end:
#   offset > size -> OSError(-258, 'ESP_ERR_INVALID_ARG'), offset + len > size ->
#   OSError(-260, 'ESP_ERR_INVALID_SIZE'); an erase of a partial sector (writeblocks(n, buf)
#   with len(buf) not whole sectors): ESP_ERR_INVALID_SIZE.
# - ioctl(op, arg): 1 init, 2 deinit, 3 sync -> 0; 4 -> block count; 5 -> 4096; 6 erases block
#   arg -> 0; anything else -> None.
# Not emulated: block_size other than 4096 (ValueError); reading or writing any partition but
# ankring (the simulated file system is a folder, the app is the unix interpreter): OSError(95,
# 'ESP_ERR_NOT_SUPPORTED'), where a board would read or write them; set_boot,
# get_next_update, mark_app_valid_cancel_rollback (OTA); the rest of the module (NVS, RMT, ULP,
# wake_on_*, raw_temperature, idf_heap_info).
# The calls are hardware for the CPU model (cpu.py): free, besides the flash's own stall.
import errno

import cpu as _cpu
import flash_chip as _flash
import world as _world

_BLOCK = _flash.SECTOR
_U32 = 0xFFFFFFFF
_SMALL = 0x3FFFFFFF  # a small int's top on a 32-bit interpreter


def _u32(x):
    """x as the port's uint32_t arithmetic makes it. A flash offset is far below 2**30, a small
    int: only a bad argument (negative, huge) pays for the mask, which allocates here."""
    return x if 0 <= x <= _SMALL else x & _U32


_ESP_ERR_INVALID_ARG = 0x102
_ESP_ERR_INVALID_SIZE = 0x104
_EOPNOTSUPP = 95  # check_esp_err's errno for ESP_ERR_NOT_SUPPORTED


def _matches(entry, type, subtype, label):
    return (
        (type == 0xFF or entry[0] == type)
        and (subtype == 0xFF or entry[1] == subtype)
        and (label is None or entry[4] == label)
    )


def _first(type, label):
    for entry in _world.get().flash.table:
        if _matches(entry, type, 0xFF, label):
            return entry
    return None


def _check(off, n, size):
    """esp_partition_read/write's range checks (partition_target.c)."""
    if off > size:
        raise OSError(-_ESP_ERR_INVALID_ARG, "ESP_ERR_INVALID_ARG")
    if off + n > size:
        raise OSError(-_ESP_ERR_INVALID_SIZE, "ESP_ERR_INVALID_SIZE")


class Partition:
    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id, block_size=_BLOCK):
        if isinstance(id, tuple):  # a table entry, from find()
            entry = id
        elif isinstance(id, int):
            if id not in (self.BOOT, self.RUNNING):
                raise ValueError
            entry = _first(self.TYPE_APP, None)
        else:
            entry = _first(self.TYPE_APP, id) or _first(self.TYPE_DATA, id)
        if entry is None:
            raise OSError(errno.ENOENT)
        if block_size != _BLOCK:
            raise ValueError("simulated esp32.Partition: block_size 4096 only")
        self._type, self._subtype, self._addr, self._size, self._label = entry
        self._chip = _world.get().flash
        self._backed = self._label == _flash.RING_LABEL
        if self._backed:
            self._chip.open()

    @staticmethod
    def find(type=0, subtype=0xFF, label=None, block_size=_BLOCK):
        return [
            Partition(entry, block_size)
            for entry in _world.get().flash.table
            if _matches(entry, type, subtype, label)
        ]

    def info(self):
        return (self._type, self._subtype, self._addr, self._size, self._label, False)

    def __repr__(self):
        return "<Partition type=%u, subtype=%u, address=%u, size=%u, label=%s, encrypted=0>" % (
            self._type,
            self._subtype,
            self._addr,
            self._size,
            self._label,
        )

    def readblocks(self, block_num, buf, offset=0):
        _cpu.enter()
        try:
            off = _u32(block_num * _BLOCK + offset)
            _check(off, len(buf), self._size)
            self._bytes()
            self._chip.read_into(off, buf)
        finally:
            _cpu.leave()

    def writeblocks(self, block_num, buf, offset=None):
        _cpu.enter()
        try:
            off = _u32(block_num * _BLOCK)
            n = len(buf)
            if offset is None:  # the block protocol's plain write: erase first
                self._erase(off, n)
            else:  # the extended one: the caller erased
                off = _u32(off + offset)
            _check(off, n, self._size)
            self._bytes()
            self._chip.program(off, buf)
        finally:
            _cpu.leave()

    def ioctl(self, op, arg):
        if op == 1 or op == 2 or op == 3:  # init, deinit, sync
            return 0
        if op == 4:  # block count
            return self._size // _BLOCK
        if op == 5:  # block size
            return _BLOCK
        if op == 6:  # erase one block
            _cpu.enter()
            try:
                self._erase(_u32(arg * _BLOCK), _BLOCK)
            finally:
                _cpu.leave()
            return 0
        return None

    def _erase(self, off, n):
        """esp_partition_erase_range's checks (partition_target.c), then the erase."""
        _check(off, n, self._size)
        if n % _BLOCK:
            raise OSError(-_ESP_ERR_INVALID_SIZE, "ESP_ERR_INVALID_SIZE")
        if off % _BLOCK:
            raise OSError(-_ESP_ERR_INVALID_ARG, "ESP_ERR_INVALID_ARG")
        self._bytes()
        self._chip.erase(off, n)

    def _bytes(self):
        if not self._backed:
            raise OSError(_EOPNOTSUPP, "ESP_ERR_NOT_SUPPORTED")
