"""The flag file that makes the next boot stop at the REPL (after EXIT_TO_REPL or Ctrl-C).

    replflag.set()     # before machine.reset()
    replflag.take()    # at boot: True once, and the flag is gone
"""

import os

PATH = "repl_next_boot"


def set():  # noqa: A001 (the module's verb)
    try:
        with open(PATH, "w") as f:
            f.write("1")
    except OSError:
        pass


def take():
    try:
        os.remove(PATH)
        return True
    except OSError:
        return False
