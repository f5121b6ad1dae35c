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
    # ... and slower than this fraction of their median peak angular velocity is not one of them
    # either: the reps of a set are made at one tempo; a leg shifted between sets moves slowly.
    min_speed_fraction: float = 0.25
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
    # Form flags (form.py; sources in docs/ANALYSIS.md, "Form flags"). Range lost within a set:
    # the last reps' range this far (%) under the first reps' (fatigue shortens the movement).
    rom_loss_flag_pct: float = 20.0
    # A set whose median range is under this fraction of the reference (the target, or the
    # session's largest set) is a low-amplitude set. Chosen by leave-one-subject-out (UCI).
    low_rom_fraction: float = 0.8
    # A set whose median rep takes under this fraction of the exercise's tempo is rushed.
    # Chosen by leave-one-subject-out (UCI: too-fast sets).
    fast_tempo_fraction: float = 0.35
    # ... and over this multiple of it, too slow (no slow sets in the data: a physical prior).
    slow_tempo_factor: float = 2.0
    # No exercise named: a set whose median rep takes under this fraction of the session's
    # slowest set's is rushed. Half, a round number picked after looking at UCI (not
    # cross-validated): rushed sets 0.31-0.52 of the slowest, correct and low-amplitude
    # 0.75-1.0 (docs/ANALYSIS.md, "Form flags").
    fast_relative_fraction: float = 0.5
    # Limb symmetry index under this (%) is flagged: the usual return-to-sport criterion.
    lsi_flag_pct: float = 90.0
    # Jumps. At the foot or shank |a| does not fall to 0 g in flight: the segment rotates and
    # swings (forsyth_dropjump: mean |a| 0.7-1.1 g over the flight), so flights are found between
    # the two signatures a jump does have: the push-off and the landing impact. Both pass this:
    # landings at the shoe reach 11-27 g, the push-off's release 7-10 g; the flight's own swing
    # and a stance stay under 3 g.
    impact_ms2: float = 4.0 * 9.80665
    # In flight the segment's acceleration relative to the falling body passes near zero at some
    # moment (real flights: minima 0.12-0.33 g, 10 ms mean); standing on the ground it does not
    # (contact minima >= 0.57 g), because the ground holds the foot up against gravity.
    free_fall_ms2: float = 0.5 * 9.80665
    # Shortest and longest flight: 0.1 s is a 1 cm hop; 1.2 s would be a 1.8 m vertical jump.
    min_flight_s: float = 0.1
    max_flight_s: float = 1.2
    # The push-off's release: the shoe rings as the load leaves it, its last spike following the
    # moment the toe leaves the ground within this time; take-off is the quietest sample in it.
    release_s: float = 0.025
    # Leaving the ground needs a push: the ground force exceeds body weight, so over the last
    # 0.1 s before take-off the loaded foot reads more than this on average (real drop jumps:
    # about 2 g). A heel strike or a knock, preceded by a swing, does not.
    min_push_ms2: float = 1.3 * 9.80665
    # With a gyro: in flight the foot or shank swings and turns (a 0.2-0.5 s flight of the
    # simulated shank peaks near 45-100 dps); a "flight" whose segment never turns faster than
    # this (rest is under 2-3 dps of noise and tremor) is a knock on a resting limb.
    min_flight_turn_dps: float = 10.0
    # The shortest ground contact a jump can push off from (stiff pogo hops: 0.12-0.15 s; sprint
    # strides 0.08 s): an impact followed at once by a "flight" is a heel strike, not a rebound.
    min_contact_s: float = 0.08
    # A drop off a box: a dip under free_fall_ms2 lasting this long (a step-off falls freely only
    # in part: 0.3-0.6 g for 0.35 s in the real recordings) before a landing with no push-off.
    min_drop_s: float = 0.1
    # Ground contact between jumps this short or shorter is reactive (rebound, pogo, depth
    # jump): its time is the ground-contact time. Longer is a reset between single jumps.
    max_contact_s: float = 1.0
    # A series of jumps ends after this long on the ground.
    series_gap_s: float = 3.0
    # Jump height loss from the first to the last jumps of a series beyond this flags fatigue:
    # the usual cut-off for plyometric quality (see docs/ANALYSIS.md).
    height_loss_flag_pct: float = 10.0


DEFAULT_SETTINGS = Settings()
