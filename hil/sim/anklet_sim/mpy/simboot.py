# The simulated board's ROM: what an ESP32 does at power-on, for the unix interpreter.
# Run by the launcher (anklet_sim.board) with the flash directory as the working directory and
# MICROPYPATH = <this folder>:<firmware or deployed files>:.frozen. Runs boot.py, then main.py.
import sys

try:
    import boot  # noqa: F401  (optional, as on a real board)
except ImportError as exc:
    if "boot" not in str(exc):
        raise

import main  # noqa: F401  (runs the application; returns only when it asks for the REPL)
