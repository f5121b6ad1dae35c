"""What a rep should look like: the tempo each exercise is prescribed at, and a target range.

targets = targets_for("seated knee extension")          # tempo 2 s up, 5 s hold, 2 s down
targets = targets_for(None, target_rom_deg=60.0)         # unknown exercise: the default tempo
targets.tempo.total_s                                    # 9.0

Sources (docs/ANALYSIS.md, "Form flags"): ACSM's position stand on resistance training
(Med Sci Sports Exerc 41:687-708, 2009) gives 1-2 s lifting and 1-2 s lowering as a moderate
velocity; rehabilitation leaflets for straight-leg raises and knee extensions say "hold for
five seconds, then slowly lower"; the UCI physical-therapy protocol holds ~5 s at the top.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Tempo:
    up_s: float  # lifting
    hold_s: float  # held at the top
    down_s: float  # lowering

    @property
    def total_s(self) -> float:
        return self.up_s + self.hold_s + self.down_s

    def __str__(self) -> str:
        return f"{self.up_s:g} s up, {self.hold_s:g} s hold, {self.down_s:g} s down"


# Held exercises (rehabilitation, 5 s at the top) and dynamic ones (a short pause at the top).
HELD = Tempo(2.0, 5.0, 2.0)
DYNAMIC = Tempo(2.0, 1.0, 2.0)

# Keys are normalised names (`exercise_key`); free text that is none of these gets DEFAULT.
TEMPO_BY_EXERCISE: dict[str, Tempo] = {
    "seated_knee_extension": HELD,
    "straight_leg_raise": HELD,
    "side_lying_leg_raise": HELD,
    "prone_hip_extension": HELD,
    "standing_hip_abduction": DYNAMIC,
    "prone_hamstring_curl": DYNAMIC,
    "donkey_kick": DYNAMIC,
}
# Unknown exercise: ankle weights are mostly used for rehabilitation raises held at the top.
DEFAULT_TEMPO = HELD


@dataclass(frozen=True)
class FormTargets:
    tempo: Tempo = DEFAULT_TEMPO
    exercise: str | None = None  # as given (for messages); None when unknown
    rom_deg: float | None = None  # the athlete's target range; None: the session's best set

    @property
    def tempo_known(self) -> bool:
        """The exercise is in the catalogue, so its prescribed tempo is known; otherwise (none
        given, or free text) sets are timed against the session's own slowest set."""
        return bool(self.exercise) and exercise_key(self.exercise or "") in TEMPO_BY_EXERCISE


def exercise_key(name: str) -> str:
    """'Side-lying leg raise' -> 'side_lying_leg_raise'."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def tempo_for(exercise: str | None) -> Tempo:
    if not exercise:
        return DEFAULT_TEMPO
    return TEMPO_BY_EXERCISE.get(exercise_key(exercise), DEFAULT_TEMPO)


def targets_for(exercise: str | None, target_rom_deg: float | None = None) -> FormTargets:
    return FormTargets(tempo=tempo_for(exercise), exercise=exercise or None, rom_deg=target_rom_deg)


DEFAULT_TARGETS = FormTargets()
