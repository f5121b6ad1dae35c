"""Anklet host bridge: find the board, stream, decode, analyse and log training sessions.

from anklet.analysis import analyze_csv
result = analyze_csv("session/samples.csv")
print(result.total_reps)
"""

__version__ = "0.1.0"
