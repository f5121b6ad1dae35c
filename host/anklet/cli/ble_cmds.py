"""BLE commands: find boards, pair (bond) with one and remember it by name.

anklet scan
anklet pair Anklet-C0FE --as left
anklet devices
anklet forget left
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from anklet.cli import app
from anklet.cli.ble_errors import ble_failure, check_backend
from anklet.connect import DeviceRegistry
from anklet.device import Device, DeviceError
from anklet.transport import TransportError

out = Console()
T = TypeVar("T")
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]

BackendOpt = Annotated[
    str | None,
    typer.Option(
        "--ble-backend",
        envvar="ANKLET_BLE_BACKEND",
        help="default: the system's Bluetooth (BlueZ, CoreBluetooth, WinRT); "
        "bumble:TRANSPORT uses bumble's own stack, e.g. bumble:usb:0 for a USB dongle",
    ),
]


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=2)


def _run_ble(coro: Coroutine[Any, Any, T], backend: str | None) -> T:
    """Run a BLE coroutine; every failure is one line saying what to do, Ctrl-C exits 130."""
    try:
        return asyncio.run(coro)
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted", file=sys.stderr)
        raise typer.Exit(code=130) from None
    except (TransportError, DeviceError) as exc:
        raise _fail(str(exc)) from None
    except Exception as exc:
        message = ble_failure(exc, backend)
        if message is None:
            raise
        raise _fail(message) from None


def _check_backend(backend: str | None) -> None:
    problem = check_backend(backend)
    if problem:
        raise _fail(problem)


@app.command()
def scan(
    timeout: Annotated[float, typer.Option(help="seconds to listen (0.5-120)")] = 5.0,
    ble_backend: BackendOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List Anklet boards advertising nearby (name, address, signal, battery).

    Examples:

      anklet scan --timeout 10

      anklet scan --json
    """
    if not 0.5 <= timeout <= 120:
        raise _fail(f"--timeout {timeout:g}: give 0.5 to 120 seconds")
    _check_backend(ble_backend)
    from anklet.transport.ble import scan as ble_scan

    found = _run_ble(ble_scan(timeout, backend=ble_backend), ble_backend)
    if json_out:
        print(json.dumps([{"name": b.name, "address": b.address, "rssi_dbm": b.rssi_dbm,
                           "battery_pct": b.battery_pct} for b in found]))  # fmt: skip
        return
    if not found:
        out.print(f"no Anklet board seen in {timeout:.0f} s: is it on and not connected elsewhere?")
        raise typer.Exit(code=1)
    table = Table("name", "address", "RSSI (dBm)", "battery")
    for board in found:
        battery = f"{board.battery_pct} %" if board.battery_pct is not None else ""
        table.add_row(board.name, board.address, str(board.rssi_dbm), battery)
    out.print(table)


@app.command()
def pair(
    target: Annotated[
        str | None, typer.Argument(help="name or address (default: the first board found)")
    ] = None,
    remember_as: Annotated[
        str | None, typer.Option("--as", help="remember it under this name (default: its own)")
    ] = None,
    ble_backend: BackendOpt = None,
) -> None:
    """Pair (bond) with a board and remember it, so `--device NAME` finds it again.

    Examples:

      anklet pair

      anklet pair Anklet-C0FE --as left
    """
    if remember_as is not None and not remember_as.strip():
        raise _fail("--as is empty: give the name to remember the board by, e.g. --as left")
    if target is not None and not target.strip():
        raise _fail("the board's name or address is empty: omit it to pair the first one found")
    _check_backend(ble_backend)
    from anklet.transport.ble import BleTransport

    async def go() -> tuple[str, str]:
        transport = BleTransport(target, pair=True, backend=ble_backend)
        async with Device(transport) as device:
            info = await device.get_info()
            address = transport.address or target or info.device_id
            return info.name, str(address)

    name, address = _run_ble(go(), ble_backend)
    key = remember_as or name
    DeviceRegistry().remember(key, f"ble:{address}", address)
    out.print(f"paired with {name} ({address}); remembered as {key!r}")
    out.print(f"  log with: anklet log --device {key}")


@app.command()
def devices(json_out: JsonOpt = False) -> None:
    """List remembered devices.

    Examples:

      anklet devices

      anklet devices --json
    """
    try:
        remembered = DeviceRegistry().load()
    except TransportError as exc:
        raise _fail(str(exc)) from None
    if json_out:
        print(json.dumps([{"name": e.name, "device": e.device, "address": e.address}
                          for e in remembered.values()]))  # fmt: skip
        return
    if not remembered:
        out.print("no remembered devices: `anklet pair` adds one")
        return
    table = Table("name", "device")
    for entry in remembered.values():
        table.add_row(entry.name, entry.device)
    out.print(table)


@app.command()
def forget(name: Annotated[str, typer.Argument(help="a remembered device's name")]) -> None:
    """Forget a remembered device (the board keeps its bond until it is re-paired).

    Example:

      anklet forget left
    """
    if not DeviceRegistry().forget(name):
        raise _fail(f"no remembered device named {name!r} (see `anklet devices`)")
    out.print(f"forgot {name}")
