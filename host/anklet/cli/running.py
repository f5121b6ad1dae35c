"""Running a command's coroutine: logging set once, Ctrl-C as `interrupted` (exit code 130),
and every failure a user can act on as one `error:` line (exit code 2), never a traceback.

    result = run_command(main(), verbose, ble=True, ble_backend=None)
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console

from anklet.capture import CaptureError
from anklet.cli.ble_errors import ble_failure
from anklet.device import DeviceError
from anklet.transport import TransportError

T = TypeVar("T")
_console = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=2)


def run_command(
    coro: Coroutine[Any, Any, T],
    verbose: bool,
    *,
    ble: bool = False,
    ble_backend: str | None = None,
) -> T:
    """`ble`: a Bluetooth link is involved, so its stack's failures get their own words."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(coro)
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted", file=sys.stderr)
        raise typer.Exit(code=130) from None
    except Exception as exc:
        if verbose:
            _console.print_exception()
        message = ble_failure(exc, ble_backend) if ble else None
        if message is None and isinstance(
            exc, DeviceError | TransportError | CaptureError | OSError
        ):
            message = str(exc)
        if message is None:
            raise
        raise fail(message) from None
