# Runs under MicroPython: tare and calibrate average the load cell robustly. Prints "ok NAME" or
# "FAIL NAME: why" per check; the CPython test asserts every line is ok.
import asyncio

import commands

results = []


def check(name, cond, why=""):
    results.append(("ok " if cond else "FAIL ") + name + ("" if cond else ": " + str(why)))


class FakeLoad:
    """LoadCell's averaging interface over a list of raw conversions."""

    def __init__(self, readings):
        self.readings = readings
        self.at = 0
        self.mean = 0

    def stale_ms(self):
        return 0

    def start_average(self, n):
        chunk = self.readings[self.at : self.at + n]
        self.at += n
        self.mean = sum(chunk) // len(chunk)

    def average_done(self):
        return True

    def average_raw(self):
        return self.mean


class FakeApp:
    def __init__(self, readings):
        self.load = FakeLoad(readings)
        self.cfg = type("Cfg", (), {"values": {"load_rate_hz": 80}})()


def averaged(readings, n):
    handler = commands.CommandHandler(FakeApp(readings))
    return asyncio.run(handler.average(n))


steady = [1000 + (i % 3) for i in range(40)]
check("steady readings average to their mean", abs(averaged(steady, 40) - 1001) <= 1)
glitched = list(steady)
glitched[17] = 8388607  # one conversion read as full scale
check(
    "one misread conversion does not move a 40-reading average",
    abs(averaged(glitched, 40) - 1001) <= 1,
    averaged(glitched, 40),
)
zeroed = list(steady)
zeroed[3] = 0
check(
    "one zero conversion does not move a 20-reading tare",
    abs(averaged(zeroed, 20) - 1001) <= 1,
    averaged(zeroed, 20),
)
check("fewer readings than groups still average", averaged([5, 7, 9], 3) == 7)
handler = commands.CommandHandler(FakeApp(list(range(40))))
asyncio.run(handler.average(40))
check("every reading asked for is used once", handler.app.load.at == 40, handler.app.load.at)
for line in results:
    print(line)
