"""The same detector, fed live: block by block (or sample by sample) as the logger receives data.

    det = OnlineRepDetector()
    for block in stream:
        for rep in det.feed(block.t_s, block.acc_ms2, block.gyro_dps, block.force_n):
            print("rep", rep.rom_deg)              # within 1 s of the rep's end
    result = det.finish()                          # == analyze() on the same samples

It builds the same 50 Hz working grid as the offline path (same cell means), settles each grid
sample's activity once its smoothing window has arrived, and closes a bout after the same
stillness; a closed bout is analysed from its own samples exactly as offline. While a bout is
open it is re-analysed every quarter second and reps that have come back to rest are reported.
Reported reps are provisional: a lone movement (fewer than `min_set_reps` in its group) is
dropped from the final result, as offline.
"""

from __future__ import annotations

import numpy as np

from anklet.analysis.bouts import BOUT_PAD_S
from anklet.analysis.filters import moving_mean
from anklet.analysis.loading import AnalysisInputError, FloatArray
from anklet.analysis.pipeline import analyse_bout, assemble, bout_reps
from anklet.analysis.resample import (
    GRAVITY_MS2,
    WORKING_RATE_HZ,
    WorkingGrid,
    cell_max,
    cell_means,
    grid_times,
)
from anklet.analysis.results import Rep, SessionAnalysis
from anklet.analysis.settings import DEFAULT_SETTINGS, Settings
from anklet.analysis.targets import DEFAULT_TARGETS, FormTargets

_LIVE_EVERY_S = 0.25  # re-analyse the open bout this often
_SETTLE_S = 0.1  # report a rep once this much rest follows its end


class _Grow:
    """A growable (n, k) float array."""

    def __init__(self, width: int) -> None:
        self._data = np.empty((1024, width))
        self.n = 0

    def extend(self, rows: FloatArray) -> None:
        need = self.n + len(rows)
        if need > len(self._data):
            bigger = np.empty((max(need, 2 * len(self._data)), self._data.shape[1]))
            bigger[: self.n] = self._data[: self.n]
            self._data = bigger
        self._data[self.n : need] = rows
        self.n = need

    @property
    def view(self) -> FloatArray:
        return self._data[: self.n]


class OnlineRepDetector:
    """Feed samples in time order; `feed` returns reps as they complete; `finish` the session."""

    def __init__(
        self,
        settings: Settings = DEFAULT_SETTINGS,
        *,
        source: str = "live",
        planned_sets: int | None = None,
        targets: FormTargets = DEFAULT_TARGETS,
    ) -> None:
        self.settings = settings
        self.source = source
        self.planned_sets = planned_sets
        self.targets = targets
        self.rate_hz = WORKING_RATE_HZ
        self._half = 0.5 / self.rate_hz
        # raw samples not yet turned into grid cells: t, acc(3), gyro(3), |acc|-g, force
        self._raw = np.empty((0, 9))
        self._t0: float | None = None
        self._t_last = -np.inf
        self._n_raw = 0
        self._force_seen = False
        self._grid = _Grow(9)  # t, acc(3), gyro(3), impact, force
        self._active = _Grow(1)
        self._act_width = max(round(settings.active_smooth_s * self.rate_hz), 1)
        self._act_half = self._act_width // 2
        self._gap = round(settings.bout_gap_s * self.rate_hz)
        self._pad = round(BOUT_PAD_S * self.rate_hz)
        self._open_first: int | None = None
        self._last_active = -1
        self._reps: list[Rep] = []  # from closed bouts
        self._reported: list[Rep] = []  # of the open bout
        self._next_live = 0
        self.reported_count = 0
        self._finished = False

    # -- input -------------------------------------------------------------------------------

    def feed(
        self,
        t_s: FloatArray | float,
        acc_ms2: FloatArray,
        gyro_dps: FloatArray,
        force_n: FloatArray | float | None = None,
    ) -> list[Rep]:
        """Add samples (scalars + 3-vectors, or arrays (n,), (n, 3)); return newly ended reps."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        acc = np.asarray(acc_ms2, dtype=np.float64).reshape(-1, 3)
        gyro = np.asarray(gyro_dps, dtype=np.float64).reshape(-1, 3)
        if force_n is None:
            force = np.full(len(t), np.nan)
        else:
            force = np.atleast_1d(np.asarray(force_n, dtype=np.float64))
        if not len(t) == len(acc) == len(gyro) == len(force):
            raise AnalysisInputError(f"{self.source}: block arrays differ in length")
        if len(t) == 0:
            return []
        steps = np.diff(np.concatenate([[self._t_last], t]))
        if np.any(steps <= 0):
            i = int(np.flatnonzero(steps <= 0)[0])
            raise AnalysisInputError(
                f"{self.source}: t_s is not increasing at sample {self._n_raw + i}"
            )
        if not (np.all(np.isfinite(acc)) and np.all(np.isfinite(gyro))):
            raise AnalysisInputError(f"{self.source}: non-finite IMU value near t={t[0]:g} s")
        if self._t0 is None:
            self._t0 = float(t[0])
        self._t_last = float(t[-1])
        self._n_raw += len(t)
        self._force_seen = self._force_seen or bool(np.any(np.isfinite(force)))
        dev = np.abs(np.linalg.norm(acc, axis=1) - GRAVITY_MS2)
        self._raw = np.vstack([self._raw, np.column_stack([t, acc, gyro, dev, force])])
        centres = self._pending_centres(final=False)
        if not centres.size:
            return []  # no grid cell completed: activity, bouts and live reps are as they were
        self._add_grid(centres)
        return self._advance(final=False)

    def finish(self) -> SessionAnalysis:
        """Flush the data's end exactly as the offline analysis treats it; return the session."""
        if not self._finished:
            self._finished = True
            if self._t0 is not None:
                centres = self._pending_centres(final=True)
                if centres.size:
                    self._add_grid(centres)
                self._advance(final=True)
        duration = self._t_last - self._t0 if self._t0 is not None else 0.0
        rate = (self._n_raw - 1) / duration if duration > 0 else 0.0
        return assemble(
            list(self._reps),
            self.settings,
            source=self.source,
            rate_hz=rate,
            duration_s=duration,
            planned_sets=self.planned_sets,
            targets=self.targets,
        )

    # -- working grid ----------------------------------------------------------------------

    def _pending_centres(self, *, final: bool) -> FloatArray:
        assert self._t0 is not None
        done = self._grid.n
        if final:
            all_t = grid_times(self._t0, self._t_last, self.rate_hz)
            return all_t[done:]
        # a cell is complete once a sample lies beyond its end
        count = int(np.floor((self._t_last - self._half - self._t0) * self.rate_hz - 1e-9)) + 1
        count = max(count, 0)
        return self._t0 + np.arange(done, count) / self.rate_hz

    def _add_grid(self, centres: FloatArray) -> None:
        raw = self._raw
        t = raw[:, 0]
        means = cell_means(t, raw[:, 1:7], centres, self._half)
        impact = cell_max(t, raw[:, 7], centres, self._half)
        force = np.full(len(centres), np.nan)
        ok = np.isfinite(raw[:, 8])
        if np.count_nonzero(ok) >= 2:
            force = cell_means(t[ok], raw[ok, 8][:, None], centres, self._half)[:, 0]
            force[(centres < t[ok][0]) | (centres > t[ok][-1])] = np.nan
        self._grid.extend(np.column_stack([centres, means, impact, force]))
        # keep one raw sample before the next cell for interpolation
        next_lo = centres[-1] + self._half
        keep = max(int(np.searchsorted(t, next_lo, side="left")) - 1, 0)
        self._raw = raw[keep:]

    def _grid_view(self) -> WorkingGrid:
        g = self._grid.view
        force = g[:, 8] if self._force_seen else None
        return WorkingGrid(
            t_s=g[:, 0],
            acc_ms2=g[:, 1:4],
            gyro_dps=g[:, 4:7],
            force_n=force,
            impact_ms2=g[:, 7],
            rate_hz=self.rate_hz,
        )

    # -- activity, bouts, reps -------------------------------------------------------------

    def _advance(self, *, final: bool) -> list[Rep]:
        n = self._grid.n
        settled = n if final else n - self._act_half - 1
        a = self._active.n
        if settled > a:
            lo = max(a - self._act_half, 0)
            hi = n if final else settled + self._act_half
            # Only the cells the new window reaches: the whole grid's norm each feed grew with
            # the session (quadratic cost over a long one).
            speed = np.linalg.norm(self._grid.view[lo:hi, 4:7], axis=1)
            mm = moving_mean(speed, self._act_width)[a - lo : a - lo + settled - a]
            new_active = mm > self.settings.active_dps
            self._active.extend(new_active[:, None].astype(np.float64))
            for j in np.flatnonzero(new_active).tolist():
                j += a
                if self._open_first is not None and j - self._last_active > self._gap:
                    self._close_bout()
                if self._open_first is None:
                    self._open_first = j
                self._last_active = j
        if self._open_first is not None and (
            final or self._active.n - 1 - self._last_active > self._gap
        ):
            self._close_bout()
            return []
        if self._open_first is not None and self._active.n >= self._next_live:
            self._next_live = self._active.n + round(_LIVE_EVERY_S * self.rate_hz)
            return self._live_reps()
        return []

    def _bout_range(self, stop_limit: int) -> tuple[int, int]:
        assert self._open_first is not None
        start = max(self._open_first - self._pad, 0)
        stop = min(self._last_active + 1 + self._pad, stop_limit)
        return start, stop

    def _close_bout(self) -> None:
        start, stop = self._bout_range(self._active.n)
        grid = self._grid_view()
        active = self._active.view[start:stop, 0] > 0.5
        bout = analyse_bout(grid, start, stop, active, self.settings)
        self._reps.extend(bout_reps(grid, bout))
        self._open_first = None
        self._reported = []

    def _live_reps(self) -> list[Rep]:
        start = max((self._open_first or 0) - self._pad, 0)
        stop = self._active.n
        if stop - start < 3:
            return []
        grid = self._grid_view()
        active = self._active.view[start:stop, 0] > 0.5
        bout = analyse_bout(grid, start, stop, active, self.settings)
        now_s = float(grid.t_s[stop - 1])
        new: list[Rep] = []
        for rep in bout_reps(grid, bout):
            if rep.end_s > now_s - _SETTLE_S:
                continue
            if any(rep.start_s < r.end_s and r.start_s < rep.end_s for r in self._reported):
                continue
            self._reported.append(rep)
            new.append(rep)
        self.reported_count += len(new)
        return new
