"""One row of the benchmark table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    area: str
    name: str
    value: str
    reference: str = ""
    target: str = ""
