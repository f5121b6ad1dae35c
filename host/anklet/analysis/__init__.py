"""Sets, reps and training metrics from an ankle IMU (and strap force), offline and live.

    from anklet.analysis import analyze_csv, write_session_tables
    result = analyze_csv(Path("session/samples.csv"))
    write_session_tables(result, Path("session"))

See docs/ANALYSIS.md for the method, its thresholds and its measured accuracy.
"""

from __future__ import annotations

from anklet.analysis.jumps import OnlineJumpDetector, find_jumps
from anklet.analysis.loading import AnalysisInputError, ImuRecording, read_imu_csv
from anklet.analysis.online import OnlineRepDetector
from anklet.analysis.pipeline import analyze, analyze_arrays, analyze_csv
from anklet.analysis.results import Jump, JumpSeries, Rep, RepSet, SessionAnalysis
from anklet.analysis.settings import DEFAULT_SETTINGS, Settings
from anklet.analysis.tables import write_session_tables

__all__ = [
    "DEFAULT_SETTINGS",
    "AnalysisInputError",
    "ImuRecording",
    "Jump",
    "JumpSeries",
    "OnlineJumpDetector",
    "OnlineRepDetector",
    "Rep",
    "RepSet",
    "SessionAnalysis",
    "Settings",
    "analyze",
    "analyze_arrays",
    "analyze_csv",
    "find_jumps",
    "read_imu_csv",
    "write_session_tables",
]
