"""Device schemes: one registry that packages extend through entry points; the product never
imports the simulator, which registers `sim` and `sim:ble` like any other plug-in."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from anklet import connect, schemes
from anklet.device import Device
from anklet.transport import TransportError

HOST = Path(__file__).resolve().parents[2] / "host"


def test_the_host_package_never_imports_the_simulator():
    offenders = []
    for source in HOST.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "anklet_sim" or n.startswith("anklet_sim.") for n in names):
                offenders.append(f"{source.relative_to(HOST)}:{node.lineno}")
    assert offenders == []


def test_the_simulator_registers_its_schemes_through_entry_points():
    names = {e.name: e.value for e in schemes.entry_points(group=schemes.ENTRY_POINT_GROUP)}
    assert names == {"sim": "anklet_sim.scheme:SIM", "sim-ble": "anklet_sim.scheme:SIM_BLE"}
    found = {s.usage for s in schemes.registered()}
    assert found == {"serial:PATH", "ble:NAME_OR_ADDRESS", "sim", "sim:ble"}
    assert isinstance(schemes.find("sim"), schemes.ServingScheme)
    assert not isinstance(schemes.find("serial:/dev/ttyUSB0"), schemes.ServingScheme)


class _EchoScheme:
    """A plug-in as a third-party package would write one."""

    name = "echo"
    usage = "echo:WORD"

    def __init__(self) -> None:
        self.opened: list[str] = []

    def matches(self, dev: str) -> bool:
        return dev.startswith("echo:")

    @contextlib.asynccontextmanager
    async def open(self, dev: str, options: schemes.OpenOptions) -> AsyncIterator[Device]:
        self.opened.append(dev)
        yield Device(_NoTransport(), options.command_timeout_s)


class _NoTransport:
    description = "echo"


ECHO = _EchoScheme()


def _with_plugins(monkeypatch: pytest.MonkeyPatch, *entries: EntryPoint) -> None:
    real = list(schemes.entry_points(group=schemes.ENTRY_POINT_GROUP))
    monkeypatch.setattr(schemes, "_entry_points", lambda: iter([*real, *entries]))


def test_a_plugin_scheme_is_resolved_and_opened_like_a_built_in_one(monkeypatch):
    _with_plugins(monkeypatch, EntryPoint("echo", f"{__name__}:ECHO", schemes.ENTRY_POINT_GROUP))

    async def go() -> str:
        async with connect.open_device("echo:hello") as device:
            return device.transport.description

    assert connect.resolve("echo:hello") == "echo:hello"
    assert asyncio.run(go()) == "echo"
    assert ECHO.opened == ["echo:hello"]
    assert "echo:WORD" in schemes.usages()


def test_a_broken_plugin_is_logged_and_the_others_still_work(monkeypatch, caplog):
    _with_plugins(
        monkeypatch,
        EntryPoint("broken", "no_such_module_anywhere:X", schemes.ENTRY_POINT_GROUP),
        EntryPoint("odd", f"{__name__}:_NoTransport", schemes.ENTRY_POINT_GROUP),
    )
    with caplog.at_level(logging.WARNING, logger="anklet.schemes"):
        usages = schemes.usages()
    assert usages == "serial:PATH, ble:NAME_OR_ADDRESS, sim, sim:ble"
    assert "device scheme broken" in caplog.text and "failed to load" in caplog.text
    assert "device scheme odd" in caplog.text and "is not a DeviceScheme" in caplog.text


def test_an_unknown_device_names_every_installed_scheme(tmp_path):
    registry = connect.DeviceRegistry(tmp_path / "devices.json")
    with pytest.raises(TransportError) as caught:
        connect.resolve("left-ankle", registry)
    message = str(caught.value)
    assert "unknown device 'left-ankle'" in message
    for usage in ("sim", "sim:ble", "serial:PATH", "ble:NAME_OR_ADDRESS"):
        assert usage in message
