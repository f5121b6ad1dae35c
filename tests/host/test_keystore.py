"""The host's BLE long-term keys are readable by the user alone."""

from __future__ import annotations

import asyncio
import os
import stat

from anklet.ble.keystore import PrivateJsonKeyStore
from bumble.keys import JsonKeyStore, PairingKeys


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _keys() -> PairingKeys:
    keys = PairingKeys()
    keys.ltk = PairingKeys.Key(value=bytes(range(16)), authenticated=False)
    return keys


def _save(store: JsonKeyStore) -> None:
    asyncio.run(store.update("24:A1:60:C0:FF:EE/P", _keys()))


def test_bumbles_own_store_leaves_the_keys_readable_by_others(tmp_path):
    # Why PrivateJsonKeyStore exists: with the usual umask, bumble's file is 0644.
    old = os.umask(0o022)
    try:
        _save(JsonKeyStore("host", str(tmp_path / "open" / "keys.json")))
    finally:
        os.umask(old)
    assert _mode(tmp_path / "open" / "keys.json") & 0o044


def test_long_term_keys_are_written_for_the_user_alone(tmp_path):
    old = os.umask(0o022)
    try:
        store = PrivateJsonKeyStore("host", str(tmp_path / "anklet" / "keys.json"))
        _save(store)
        _save(store)  # a second save replaces the file, keeping its mode
    finally:
        os.umask(old)
    assert _mode(tmp_path / "anklet" / "keys.json") == 0o600
    assert _mode(tmp_path / "anklet") == 0o700
    loaded = asyncio.run(store.get("24:A1:60:C0:FF:EE/P"))
    assert loaded is not None and loaded.ltk is not None
    assert loaded.ltk.value == bytes(range(16))


def test_a_key_file_left_open_by_an_older_version_is_closed_at_start(tmp_path):
    folder = tmp_path / "anklet"
    folder.mkdir(mode=0o755)
    keys = folder / "keys.json"
    keys.write_text("{}")
    keys.chmod(0o644)
    PrivateJsonKeyStore("host", str(keys))
    assert _mode(keys) == 0o600
    assert _mode(folder) == 0o700


def test_the_bumble_backend_writes_its_bonds_for_the_user_alone(tmp_path, monkeypatch):
    import bumble.transport
    from anklet.ble.bumble_backend import BumbleCentral

    class NoRadio:  # the HCI transport of a USB dongle, minus the dongle
        source = sink = None

        async def close(self) -> None:
            pass

    async def open_transport(name: str) -> NoRadio:
        return NoRadio()

    monkeypatch.setattr(bumble.transport, "open_transport", open_transport)
    path = tmp_path / "data" / "bumble-keys.json"

    async def bond() -> None:
        central = await BumbleCentral.open("usb:0", keystore_path=path)
        assert central.device.keystore is not None
        await central.device.keystore.update("24:A1:60:C0:FF:EE/P", _keys())
        await central.close()

    old = os.umask(0o022)
    try:
        asyncio.run(bond())
    finally:
        os.umask(old)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
