"""`make bench`: run every bench/bench_*.py module and print one table of figures.

Each module exposes `run() -> list[Figure]`; a figure stands next to its reference measured in
the same run, so the numbers mean something on a noisy machine.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figure import Figure


def main(argv: list[str]) -> int:
    only = set(argv)
    figures: list[Figure] = []
    package_dir = Path(__file__).resolve().parent
    for info in sorted(pkgutil.iter_modules([str(package_dir)]), key=lambda m: m.name):
        if not info.name.startswith("bench_"):
            continue
        if only and info.name.removeprefix("bench_") not in only:
            continue
        module = importlib.import_module(f"bench.{info.name}")
        print(f"running {info.name} ...", file=sys.stderr, flush=True)
        figures.extend(module.run())
    table = Table(title="Anklet benchmarks")
    for column in ("area", "figure", "value", "reference", "target"):
        table.add_column(column)
    for fig in figures:
        table.add_row(fig.area, fig.name, fig.value, fig.reference, fig.target)
    Console(width=160).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
