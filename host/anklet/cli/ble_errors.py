"""What a Bluetooth failure means for the user, in one line: the system's stack is missing,
the USB dongle is absent, or `--ble-backend` names nothing.

    message = ble_failure(exc, "bumble:usb:0")   # None: not a Bluetooth-stack failure
"""

from __future__ import annotations

from anklet.ble.bumble_backend import parse_backend

_USE_DONGLE = "or drive a USB Bluetooth dongle with --ble-backend bumble:usb:0"


def check_backend(backend: str | None) -> str | None:
    """None if `backend` is usable as written, else the one-line reason."""
    try:
        parse_backend(backend)
    except ValueError as exc:
        return f"--ble-backend: {exc}"
    return None


def ble_failure(exc: BaseException, backend: str | None) -> str | None:
    transport = parse_backend(backend) if check_backend(backend) is None else None
    detail = str(exc) or type(exc).__name__
    if type(exc).__module__.startswith("usb1"):
        return (
            f"cannot open the USB Bluetooth dongle {transport or ''} ({detail}): plug one in "
            "(usb:0 is the first), or give your user access to it (a udev rule)"
        )
    if transport is not None:
        return None
    try:
        from bleak.exc import BleakError
    except ImportError:  # pragma: no cover - bleak is a dependency
        return None
    if isinstance(exc, BleakError) or (isinstance(exc, OSError) and not exc.filename):
        # bleak on Linux reaches BlueZ over the D-Bus system socket: ENOENT when it is absent.
        return (
            f"the system's Bluetooth is not available ({detail}): start its Bluetooth service "
            f"(Linux: systemctl start bluetooth), {_USE_DONGLE}"
        )
    return None
