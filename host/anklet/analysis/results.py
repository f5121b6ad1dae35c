"""What the analysis returns: sessions of sets of reps, every number with its unit in its name.

result.sets[0].reps[0].rom_deg, result.total_reps, result.flags
result.to_dict()   # the `anklet analyze --json` document
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Rep:
    index: int  # 1-based within its set
    start_s: float  # leaves rest (file's t_s clock)
    end_s: float  # back at rest
    turnaround_s: float  # highest point: lifting turns into lowering
    concentric_end_s: float  # reaches the top (hold begins)
    eccentric_start_s: float  # leaves the top (hold ends)
    duration_s: float
    concentric_s: float
    hold_s: float
    eccentric_s: float
    rom_deg: float  # range of motion about the movement's axis
    peak_velocity_dps: float  # largest |angular velocity| about the axis
    mean_velocity_dps: float  # mean |angular velocity| over the lifting and lowering phases
    concentric_mean_velocity_dps: float  # mean lifting velocity: the velocity-loss signal
    sway_deg: float  # largest rotation off the main axis during the rep
    peak_force_n: float | None = None  # strap force, when a load cell is present
    mean_force_n: float | None = None
    impulse_ns: float | None = None  # integral of strap force over the rep (N*s)


@dataclass(frozen=True)
class RepSet:
    index: int  # 1-based within the session
    start_s: float
    end_s: float
    reps: list[Rep]
    rep_count: int
    cadence_rpm: float  # reps per minute over the set
    time_under_tension_s: float  # sum of rep durations
    mean_rom_deg: float
    velocity_loss_pct: float  # first reps vs last reps, mean lifting velocity; + means slower
    sway_first_deg: float  # mean sway of the first reps
    sway_last_deg: float  # mean sway of the last reps
    sway_trend_deg: float  # last minus first: + means the movement got less clean
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Jump:
    index: int  # 1-based within its series
    takeoff_s: float  # leaves the ground (file's t_s clock)
    landing_s: float  # touches down
    flight_s: float
    height_cm: float  # from the flight time: g t² / 8
    contact_s: float | None  # ground contact before this take-off, when it was a rebound
    rsi: float | None  # reactive strength index: height (m) / contact time (s)
    landing_peak_g: float  # largest |acceleration| in the 0.15 s after touchdown
    landing_clipped: bool = False  # an axis hit the accelerometer's range: the peak is a floor


@dataclass(frozen=True)
class JumpSeries:
    index: int  # 1-based within the session
    start_s: float  # first take-off
    end_s: float  # last landing
    jumps: list[Jump]
    jump_count: int
    mean_flight_s: float
    mean_height_cm: float
    mean_contact_s: float | None  # over the rebounds; None when every jump was from standing
    mean_rsi: float | None
    height_loss_pct: float  # first jumps vs last jumps; + means lower
    contact_change_pct: float | None  # first rebounds vs last; + means longer on the ground
    flags: list[str] = field(default_factory=list)
    drop_landing_s: float | None = None  # a drop jump: the landing off the box, contact starts here


@dataclass(frozen=True)
class SessionAnalysis:
    source: str
    rate_hz: float  # input sample rate, read from t_s
    duration_s: float
    sets: list[RepSet]
    total_reps: int
    flags: list[str]
    jump_series: list[JumpSeries] = field(default_factory=list)
    total_jumps: int = 0

    @property
    def set_count(self) -> int:
        return len(self.sets)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, numbers rounded to 1 ms / 0.001 unit."""
        return _rounded(asdict(self))


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value
