"""Plain words for the analysis's numbers, shared by `anklet analyze` and `report.png`.

speed_change(-38.0)    # "speed gain +38 %": a negative loss is a gain, said as one
"""

from __future__ import annotations


def speed_change(loss_pct: float) -> str:
    """A set's lifting speed, last reps against first (`RepSet.velocity_loss_pct`)."""
    if abs(loss_pct) < 0.5:
        return "speed held"
    if loss_pct < 0:
        return f"speed gain +{-loss_pct:.0f} %"
    return f"speed loss {loss_pct:.0f} %"


def height_change(loss_pct: float) -> str:
    """A jump series' height, last jumps against first (`JumpSeries.height_loss_pct`)."""
    if abs(loss_pct) < 0.5:
        return "height held"
    if loss_pct < 0:
        return f"height gain +{-loss_pct:.0f} %"
    return f"height loss {loss_pct:.0f} %"
