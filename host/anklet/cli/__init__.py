"""The `anklet` command: a thin layer over the library, one module per command group."""

from __future__ import annotations

import signal
import sys

_interrupted = False


def _note_interrupt(signum: int, frame: object) -> None:
    # Ctrl-C while the command's modules load: a KeyboardInterrupt raised inside the import
    # machinery can be swallowed ("Exception ignored in ..."); the flag is not.
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _note_interrupt)

import importlib  # noqa: E402

try:
    import typer
except KeyboardInterrupt:  # Ctrl-C in the first fraction of a second: no traceback
    print("interrupted", file=sys.stderr)
    sys.exit(130)

app = typer.Typer(
    name="anklet",
    help="Anklet: firmware and host bridge for smart ankle weights.\n\n"
    "Start with: anklet demo, then anklet report sessions/<the folder it prints>",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: no <bool> after flags, no defaults cut off in boxes
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from anklet_protocol import spec

        from anklet import __version__

        print(f"anklet {__version__} (protocol {spec.VERSION_MAJOR}.{spec.VERSION_MINOR})")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        callback=_print_version,
        is_eager=True,
        help="print the version and exit",
    ),
) -> None:
    """Anklet: firmware and host bridge for smart ankle weights."""


# Each module registers its commands on `app` when imported.
_COMMAND_MODULES = (
    "device_cmds",
    "ble_cmds",
    "analysis_cmds",
    "device_tools_cmds",
    "history_cmds",
)


def _load_commands() -> None:
    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(f"anklet.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"anklet.cli.{name}":
                raise


def main() -> None:
    try:
        _load_commands()
        # asyncio.run() takes over Ctrl-C only from Python's own handler.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if _interrupted:
            raise KeyboardInterrupt
        app()
    except KeyboardInterrupt:  # Ctrl-C before a command's own handling is in place
        print("interrupted", file=sys.stderr)
        sys.exit(130)
