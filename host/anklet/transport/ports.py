"""Serial ports: opening one, and the one place where a port's failures become one-line messages
(busy, missing, no permission, unplugged mid-session), for every command that uses a port.

    ser = open_port("/dev/ttyUSB0", 115200, timeout_s=0.1)   # raises PortBusy, PortNotFound, ...
    except (serial.SerialException, OSError) as exc:
        raise lost_error("/dev/ttyUSB0", exc) from None       # LinkLost: the board went away
"""

from __future__ import annotations

import errno
import os
import sys

import serial

from .base import LinkLost, TransportError

_LIST_PORTS = "list ports with `anklet ports`"


class PortError(TransportError):
    """A serial port could not be opened; the message says what to do."""


class PortNotFound(PortError):
    pass


class PortBusy(PortError):
    pass


class PortDenied(PortError):
    pass


def not_found(port: str) -> PortNotFound:
    return PortNotFound(f"no such port {port}: is the board plugged in? ({_LIST_PORTS})")


def open_error(port: str, exc: BaseException, platform: str = sys.platform) -> PortError:
    """The PortError for a port that would not open (pyserial's or the OS's exception)."""
    text = str(exc)  # pyserial's own lock failure is only in the text
    code = getattr(exc, "errno", None)
    # Windows answers "Access is denied" to a COM port another program holds open.
    windows_busy = platform == "win32" and (code == errno.EACCES or "Access is denied" in text)
    if (
        windows_busy
        or "exclusively lock" in text
        or code in (errno.EBUSY, errno.EAGAIN)
        or "busy" in text
        or "Resource temporarily unavailable" in text
    ):
        return PortBusy(
            f"port {port} is busy: close the program using it (a serial monitor, another "
            "anklet, mpremote) and try again"
        )
    if code == errno.EACCES or "Permission denied" in text:
        return PortDenied(
            f"no permission to open {port}: add yourself to the `dialout` group "
            "(`sudo usermod -aG dialout $USER`, then log in again)"
        )
    if (
        code == errno.ENOENT
        or isinstance(exc, FileNotFoundError)
        or "No such file" in text
        or "cannot find the file" in text
    ):
        return not_found(port)
    return PortError(f"cannot open {port}: {_one_line(text) or type(exc).__name__}")


def lost_error(port: str, exc: BaseException | None = None) -> LinkLost:
    """The LinkLost for a port that failed while open: the board was unplugged or reset."""
    detail = _one_line(str(exc)) if exc is not None else ""
    because = f" ({detail})" if detail else ""
    return LinkLost(
        f"serial:{port}: the board went away{because}: check the cable; a board that reset "
        "comes back on the same port"
    )


def open_port(
    port: str, baudrate: int, *, timeout_s: float | None = None, platform: str = sys.platform
) -> serial.Serial:
    """Open a serial port for this process alone; raises PortError with what to do.
    `timeout_s`: reads wait at most that long (None: until data comes; 0: never)."""
    if "://" not in port and platform != "win32" and not os.path.exists(port):
        raise not_found(port)  # COM ports have no path to look for
    try:
        return serial.Serial(port, baudrate, timeout=timeout_s, exclusive=True)
    except (serial.SerialException, OSError) as exc:
        raise open_error(port, exc, platform) from None


def _one_line(text: str) -> str:
    return " ".join(text.split())
