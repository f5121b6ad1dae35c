"""BLE commands: find boards, pair (bond) with one and remember it by name.

anklet scan
anklet pair Anklet-C0FE --as left
anklet devices
anklet forget left
"""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from anklet.cli import app
from anklet.connect import DeviceRegistry
from anklet.device import Device, DeviceError
from anklet.transport import TransportError

out = Console()

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


@app.command()
def scan(
    timeout: Annotated[float, typer.Option(help="seconds to listen")] = 5.0,
    ble_backend: BackendOpt = None,
) -> None:
    """List Anklet boards advertising nearby (name, address, signal, battery).

    Example:

      anklet scan --timeout 10
    """
    from anklet.transport.ble import scan as ble_scan

    try:
        found = asyncio.run(ble_scan(timeout, backend=ble_backend))
    except (TransportError, OSError) as exc:
        raise _fail(str(exc)) from None
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
    from anklet.transport.ble import BleTransport

    async def go() -> tuple[str, str]:
        transport = BleTransport(target, pair=True, backend=ble_backend)
        async with Device(transport) as device:
            info = await device.get_info()
            address = transport.address or target or info.device_id
            return info.name, str(address)

    try:
        name, address = asyncio.run(go())
    except (TransportError, DeviceError, OSError) as exc:
        raise _fail(str(exc)) from None
    key = remember_as or name
    DeviceRegistry().remember(key, f"ble:{address}", address)
    out.print(f"paired with {name} ({address}); remembered as {key!r}")
    out.print(f"  log with: anklet log --device {key}")


@app.command()
def devices() -> None:
    """List remembered devices.

    Example:

      anklet devices
    """
    try:
        remembered = DeviceRegistry().load()
    except TransportError as exc:
        raise _fail(str(exc)) from None
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
