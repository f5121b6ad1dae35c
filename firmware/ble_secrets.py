"""BLE bond keys on flash: what NimBLE hands over through _IRQ_SET_SECRET and asks back through
_IRQ_GET_SECRET, so a paired host stays paired across reboots (the pattern of micropython-lib's
aioble/security.py).

    secrets = BleSecrets("ble_secrets.json")
    secrets.load()
    secrets.set(sec_type, key, value)      # from _IRQ_SET_SECRET: RAM only; value None deletes
                                           # (False: nothing there to delete)
    secrets.get(sec_type, index, key)      # from _IRQ_GET_SECRET; key None: the index-th one
    if secrets.dirty: secrets.save()       # from the main loop, never the IRQ handler

What NimBLE stores (extmod/nimble/modbluetooth_nimble.c): type 1, our keys for a peer, and
type 2, the peer's keys (LTK, IRK, identity), each keyed by the peer's 7-byte ble_addr_t
(address type + 6 bytes) with the raw ble_store_value_sec as the value; type 10, our own IRK
(key b"irk"), which must outlive any bond: without it our resolvable address changes identity.
"""

import binascii
import json
import os

from micropython import const

_MAX_ENTRIES = 24  # a few bonds' worth (NimBLE stores our keys, peer keys and CCCDs apart)
_TYPE_OUR_IRK = const(10)  # MicroPython's secret type for the local IRK: never evicted


class BleSecrets:
    def __init__(self, path):
        self.path = path
        self.entries = []  # [sec_type, key bytes, value bytes], oldest first
        self.errors = 0
        self.dirty = False  # changed in RAM since the last save()

    def load(self):
        self.entries = []
        try:
            with open(self.path) as f:
                for sec_type, key, value in json.load(f):
                    self.entries.append([sec_type, binascii.a2b_base64(key),
                                         binascii.a2b_base64(value)])
        except (OSError, ValueError, TypeError):
            pass  # no bonds yet, or a corrupt file: hosts pair again

    def _find(self, sec_type, key):
        for i in range(len(self.entries)):
            entry = self.entries[i]
            if entry[0] == sec_type and entry[1] == key:
                return i
        return -1

    def get(self, sec_type, index, key):
        if key is None:
            i = 0
            for entry in self.entries:
                if entry[0] == sec_type:
                    if i == index:
                        return entry[2]
                    i += 1
            return None
        i = self._find(sec_type, bytes(key))
        return self.entries[i][2] if i >= 0 else None

    def set(self, sec_type, key, value):
        """Store (or, value None, delete) one secret in RAM; save() puts it on flash.

        A delete of a key that is not there answers False: NimBLE deletes a peer's entries in a
        loop until the store says none is left (ble_store_util_delete_all), as it does when a
        bonded central that lost its keys pairs again; True there loops forever."""
        key = bytes(key)
        i = self._find(sec_type, key)
        if i >= 0:
            self.entries.pop(i)
        elif value is None:
            return False
        if value is not None:
            if len(self.entries) >= _MAX_ENTRIES:
                self._evict()
            self.entries.append([sec_type, key, bytes(value)])
        self.dirty = True
        return True

    def _evict(self):
        # Forget the oldest bond's entry, never our own IRK.
        for i in range(len(self.entries)):
            if self.entries[i][0] != _TYPE_OUR_IRK:
                self.entries.pop(i)
                return

    def save(self):
        """Write every secret to flash (atomically); True once there."""
        self.dirty = False
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump([(t, binascii.b2a_base64(k).decode().strip(),
                            binascii.b2a_base64(v).decode().strip())
                           for t, k, v in self.entries], f)
            try:
                os.rename(tmp, self.path)
            except OSError:
                os.remove(self.path)  # FAT cannot rename over a file (littlefs can)
                os.rename(tmp, self.path)
            return True
        except OSError:
            self.errors += 1
            return False
