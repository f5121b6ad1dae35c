"""Plain words for the analysis's numbers, shared by `anklet analyze` and `report.png`.

speed_change(-38.0)    # "speed gain +38 %": a negative loss is a gain, said as one
"""

from __future__ import annotations


def speed_change(loss_pct: float) -> str:
    """A set's lifting speed, last reps against first (`RepSet.velocity_loss_pct`)."""
    return _change("speed", loss_pct)


def height_change(loss_pct: float) -> str:
    """A jump series' height, last jumps against first (`JumpSeries.height_loss_pct`)."""
    return _change("height", loss_pct)


def _change(what: str, loss_pct: float) -> str:
    if abs(loss_pct) < 0.5:
        return f"{what} held"
    if loss_pct < 0:
        return f"{what} gain +{-loss_pct:.0f} %"
    return f"{what} loss {loss_pct:.0f} %"
