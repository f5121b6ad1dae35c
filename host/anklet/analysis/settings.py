"""Every threshold of the detector, with its physical reason; none is fitted to a recording.

from anklet.analysis.settings import DEFAULT_SETTINGS
dataclasses.replace(DEFAULT_SETTINGS, min_rom_deg=8.0)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    # Activity: a limb at rest turns < 2 dps (sensor noise + tremor); the slowest rehab lift
    # (20 deg in 4 s) turns at 5 dps on average and far faster at its peak.
    active_dps: float = 6.0
    # Smoothing of |gyro| before the activity test: shorter than any movement phase.
    active_smooth_s: float = 0.4
    # A bout (one axis, one angle trace) ends after this much stillness. Longer than the longest
    # hold at the top of a rep (rehab protocols use 3-10 s holds), shorter than a rest between sets.
    bout_gap_s: float = 12.0
    # Complementary filter: gravity gives the angle below 1/window, the gyro above.
    fusion_window_s: float = 1.0
    # Accelerometer smoothing before taking gravity's direction.
    gravity_smooth_s: float = 0.2
    # Turnarounds: the angle must reverse by this much to count as a change of direction.
    # Above hold tremor and postural sway (about 1 deg), below the smallest deliberate rep.
    reversal_deg: float = 3.0
    # A rep returns at least this fraction of its range before the next may start; dips during a
    # hold that come back up are part of the hold.
    return_fraction: float = 0.5
    # Absolute floor of a rep's range of motion: below it, movement is fidgeting or the shake a
    # leg picks up from the trunk and arms. Low-amplitude rehab reps are still 10+ deg at the joint.
    min_rom_deg: float = 5.0
    # A rep must turn at least this fast at its peak: deliberate lifts exceed 15 dps even when slow.
    min_peak_velocity_dps: float = 8.0
    # Relative floor: a rep smaller than this fraction of the median range of its neighbours is
    # a wobble, not a rep (a set's reps are alike).
    min_rom_fraction: float = 0.3
    # Shortest and longest plausible rep (fast kicks to 10 s holds with slow phases).
    min_rep_s: float = 0.6
    max_rep_s: float = 30.0
    # Gait: heel strikes load the ankle with more than this over g. A train of at least
    # `gait_min_strikes` such impacts, each within `gait_max_stride_s` of the last (one stride
    # of walking or running; reps are 1.5 s or longer apart), marks walking/running, and reps
    # overlapping it are dropped. A single landing at the end of a rep is not gait.
    gait_impact_ms2: float = 8.0
    gait_max_stride_s: float = 1.2
    gait_min_strikes: int = 5
    # Reps closer than this belong to one set: rests between sets are 30 s or more, pauses
    # between reps a few seconds.
    set_gap_s: float = 12.0
    # A set needs at least this many reps: a lone movement or two (shifting in the chair,
    # standing up) is not training, and repetition is what sets exercise apart from fidgeting.
    min_set_reps: int = 3
    # Velocity loss from the first to the last reps beyond this flags fatigue (see docs).
    velocity_loss_flag_pct: float = 25.0
    # Reps averaged at each end of the set for velocity loss and sway trend.
    trend_reps: int = 2
    # Sway growth from the first to the last reps flagged as compensation, in degrees.
    sway_rise_flag_deg: float = 3.0


DEFAULT_SETTINGS = Settings()
