"""The `anklet` command: a thin layer over the library, one module per command group."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="anklet",
    help="Anklet: firmware and host bridge for smart ankle weights.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module registers its commands on `app` when imported.
_COMMAND_MODULES = ("device_cmds", "ble_cmds", "analysis_cmds", "device_tools_cmds")


def _load_commands() -> None:
    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(f"anklet.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"anklet.cli.{name}":
                raise


def main() -> None:
    _load_commands()
    app()
