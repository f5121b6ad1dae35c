"""BLE bond keys on flash: what NimBLE hands over through _IRQ_SET_SECRET and asks back through
_IRQ_GET_SECRET, so a paired host stays paired across reboots (the pattern of micropython-lib's
aioble/security.py).

    secrets = BleSecrets("ble_secrets.json")
    secrets.load()
    secrets.set(sec_type, key, value)      # from _IRQ_SET_SECRET; value None deletes
    secrets.get(sec_type, index, key)      # from _IRQ_GET_SECRET; key None: the index-th one
"""

import binascii
import json
import os

_MAX_ENTRIES = 24  # a few bonds' worth (NimBLE stores our keys, peer keys and CCCDs apart)


class BleSecrets:
    def __init__(self, path):
        self.path = path
        self.entries = []  # [sec_type, key bytes, value bytes], oldest first
        self.errors = 0

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
        """Store (or, value None, delete) one secret; returns True once it is on flash."""
        key = bytes(key)
        i = self._find(sec_type, key)
        if i >= 0:
            self.entries.pop(i)
        elif value is None:
            return True
        if value is not None:
            if len(self.entries) >= _MAX_ENTRIES:
                self.entries.pop(0)  # forget the oldest bond
            self.entries.append([sec_type, key, bytes(value)])
        return self.save()

    def save(self):
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
