"""Group reps into sets: consecutive reps closer than `set_gap_s` form one set.

    groups = group_sets(starts_s, ends_s, settings)   # lists of rep positions, one per set

A lone movement is not a set: groups with fewer than `min_set_reps` reps are dropped, which is
what keeps a single shift of the leg (standing up, crossing the legs) from being counted.
"""

from __future__ import annotations

from collections.abc import Sequence

from anklet.analysis.settings import Settings


def group_sets(
    starts_s: Sequence[float], ends_s: Sequence[float], settings: Settings
) -> list[list[int]]:
    """Positions of reps (in time order) grouped into sets; small groups dropped."""
    groups: list[list[int]] = []
    last_end = float("-inf")
    for i, (start, end) in enumerate(zip(starts_s, ends_s, strict=True)):
        if not groups or start - last_end > settings.set_gap_s:
            groups.append([])
        groups[-1].append(i)
        last_end = max(last_end, end)
    return [g for g in groups if len(g) >= settings.min_set_reps]
