# The simulated board's ROM: what an ESP32 does at power-on, for the unix interpreter.
# Run by the launcher (anklet_sim.board) with the flash directory as the working directory and
# MICROPYPATH = <this folder>:<firmware or deployed files>:.frozen. Runs boot.py, then main.py,
# then, as a board does when main.py returns or fails, serves the REPL (repl.py) on the port.
import sys

fresh = set(sys.modules), list(sys.path)

try:
    import boot  # noqa: F401  (optional, as on a real board)
except ImportError as exc:
    if "boot" not in str(exc):
        sys.print_exception(exc)
except Exception as exc:  # noqa: BLE001  (a board reports a failing boot.py and goes on)
    sys.print_exception(exc)

try:
    import main  # noqa: F401  (runs the application; returns only when it asks for the REPL)
except Exception as exc:  # noqa: BLE001  (a board prints the traceback and offers the REPL)
    sys.print_exception(exc)

import repl  # noqa: E402

repl.run(*fresh)
