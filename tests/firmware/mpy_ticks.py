# Runs under MicroPython (test_ticks.py): ticks.add() and ticks.diff() on the given cases, each
# under micropython.heap_lock(). Prints one line per case: "add|diff A B RESULT ALLOCATED" where
# ALLOCATED is 1 if the call needed the heap (MemoryError), and the interpreter's small-int limit.
import sys

import micropython
import ticks


def trial(f, a, b):
    # Locals only: storing a new global under the lock would itself allocate.
    micropython.heap_lock()
    try:
        f(a, b)
        allocated = 0
    except MemoryError:
        allocated = 1
    micropython.heap_unlock()
    return allocated


print("maxsize", sys.maxsize)
for line in sys.stdin.read().split("\n"):
    if line:
        op, a, b = line.split()
        f = ticks.add if op == "add" else ticks.diff
        a, b = int(a), int(b)
        print(op, a, b, f(a, b), trial(f, a, b))
