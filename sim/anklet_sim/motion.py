"""The simulated board's motion sources (mpy/motion.py) under CPython: the very code the
emulator runs, so a test's or a benchmark's reference signal is what the board felt.

    from anklet_sim import motion
    source = motion.from_spec("jumps:series=2,jumps=10")
    source.sample(1.25)            # ax, ay, az (m/s²), gx, gy, gz (deg/s), strap force (N)
    source.events()                # jumps: every (take-off, landing) time
    t, x = motion.sampled(source, 200, source.length_s)   # x: (n, 7), as sample() gives
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

MOTION_PY = Path(__file__).resolve().parent / "mpy" / "motion.py"


@functools.cache
def module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("anklet_sim_mpy_motion", MOTION_PY)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def from_spec(spec: str) -> Any:
    """A motion source, as the simulated board builds it from its `motion` setting."""
    return module().from_spec(spec)


def check_spec(spec: str) -> None:
    """Raise ValueError with one line naming the bad kind, key or value, and what is allowed."""
    mod = module()
    kind, params = mod.parse_spec(spec)  # ValueError for 'x' without '=', 'sets=two'
    classes = {"leg-raise": mod.LegRaise, "still": mod.LegRaise, "jumps": mod.Jumps,
               "csv": mod.CsvReplay}  # fmt: skip
    if kind not in classes:
        raise ValueError(f"motion spec: unknown kind {kind!r} (use {', '.join(classes)})")
    allowed = [p for p in inspect.signature(classes[kind]).parameters if p != "self"]
    unknown = [key for key in params if key not in allowed]
    if unknown:
        raise ValueError(
            f"motion spec: {kind} has no key {unknown[0]!r} (keys: {', '.join(allowed)})"
        )
    if kind == "csv":
        if not Path(str(params.get("path", ""))).is_file():
            raise ValueError(f"motion spec: no such recording {params.get('path', '')!r}")
        return  # replayed as it is read: its columns are checked by the board
    try:
        mod.from_spec(spec)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"motion spec: {exc}") from None


def sampled(source: Any, rate_hz: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """The source sampled at `rate_hz` from t = 0 for `seconds`: times (n,) and samples (n, 7)."""
    t = np.arange(0.0, seconds, 1.0 / rate_hz)
    return t, np.array([source.sample(v) for v in t])
