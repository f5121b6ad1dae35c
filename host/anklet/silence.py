"""How long a link has said nothing, as this process saw it: a PC that held the process for
seconds had not read what came meanwhile, and its own stall is not the link's silence.

    quiet = Silence(lambda: device.last_rx_s, turn_cap_s=0.5)
    if quiet.seconds(time.monotonic()) > 2.0:    # looked at every turn of a loop
        ...                                      # the link is gone

Counted in wall time, a host held for 2.5 s woke to "2.5 s without a byte" while the bytes the
board sent meanwhile waited in the port for its reader thread (a saturated run): the recorder
reconnected, and reopening the port threw them away. Here each look counts at most
`turn_cap_s` since the one before; a link that is really silent is found after the same time
when the looks come at least that often, and a little later on a PC too busy for that.
"""

from __future__ import annotations

import math
from collections.abc import Callable


class Silence:
    def __init__(self, last_heard_s: Callable[[], float], turn_cap_s: float) -> None:
        self._last_heard_s = last_heard_s  # time.monotonic() of the last thing heard
        self.turn_cap_s = turn_cap_s
        self._heard_s = math.nan  # the last_heard_s() seen at the previous look
        self._looked_s = 0.0
        self._quiet_s = 0.0

    def seconds(self, now: float) -> float:
        """Seconds of silence so far; each call is a look."""
        heard_s = self._last_heard_s()
        if heard_s != self._heard_s:  # heard since the last look: counted from then
            self._heard_s = heard_s
            self._quiet_s = min(max(0.0, now - heard_s), self.turn_cap_s)
        else:
            self._quiet_s += min(max(0.0, now - self._looked_s), self.turn_cap_s)
        self._looked_s = now
        return self._quiet_s
