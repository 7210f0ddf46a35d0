"""Send rates: Meta's per-number throughput, shared by every worker, and the pair rate.

Meta allows a phone number ``WA_CLOUD_MPS`` messages a second (80 by
default, 1,000 upgraded) and answers 130429 above it; one recipient gets
about one message every 6 seconds after a short burst (131056).  Pacing to
both makes those errors the exception, not the way the limit is found.

The throughput limit is a slot schedule in Redis (GCRA without burst: slots
``1/rate`` apart, on Redis's clock), so every process on every host draws
from one budget.  A session reserves the slots of all the sends it starts in
one call.  The pair rate needs no sharing: one recipient's messages are in
one partition, and one session owns a partition at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wa_addon.queue.lanes import Scripts, call
from wa_addon.store import Keys, text

# Slots are spaced for the limit less a headroom of h messages a second
# (HEADROOM, or HEADROOM_SHARE of the limit when that is more), and a send
# that wakes more than h - 2 slots late (at least 1) takes a new slot
# (``too_late``).  So the starts of any 1 s window come from slots of a
# (1 + (h-2)/(rate-h)) s span: at most (rate - h) + (h - 2) + 1 = the limit
# less one.  That one is for the way to Meta, which counts at its end: sends
# that start a slot apart may arrive closer (measured at the fake Graph API,
# "max in 1 s": 41 at a limit of 40 in one run of four when starts could
# reach the limit itself).  At 80/s that is 77 slots a second and 1 slot
# (13 ms) of lateness; at 1,000/s, 980 and 18 slots (18 ms), where a 1-slot
# tolerance made most sends reserve twice on a busy machine.
HEADROOM = 3.0
HEADROOM_SHARE = 0.02

PAIR_INTERVAL = 6.0  # seconds between messages to one recipient, after the burst
PAIR_BURST = 10  # messages one recipient may get back to back


class SharedRate:
    """A messages-per-second limit shared through Redis.

    Args:
        scripts: the engine's scripts.
        keys: the namespace's keys.
        name: what is limited (e.g. the Cloud API phone number id).
        per_second: the limit.
    """

    def __init__(self, scripts: Scripts, keys: Keys, name: str, per_second: float):
        self.script, self.key = scripts.reserve, keys.rate(name)
        headroom = min(per_second / 2, max(HEADROOM, per_second * HEADROOM_SHARE))
        self.interval = 1.0 / (per_second - headroom)
        self.late = max(1.0, headroom - 2) * self.interval  # seconds a send may start after its slot

    def reserve(self, count: int) -> list[float]:
        """Unix times (Redis's clock) at which ``count`` sends may start, in order.

        Wall-clock times, not monotonic ones: turning a wait into a local
        time would add the call's own delay (measured: tens of ms under
        load, enough to put two slots of two processes together).
        """
        if count <= 0:
            return []
        first = float(text(call(self.script, [self.key], [repr(self.interval), count])))
        return [first + i * self.interval for i in range(count)]


def too_late(rate: SharedRate, slot: float, now: float) -> bool:
    """A send that wakes a slot late would crowd the next one: it takes a new slot."""
    return now - slot > rate.late


@dataclass
class PairPacer:
    """Per-recipient pacing (GCRA with a burst), in the session's memory."""

    interval: float = PAIR_INTERVAL
    burst: int = PAIR_BURST
    _tat: dict[str, float] = field(default_factory=dict)

    def ready_at(self, recipient: str, now: float) -> float:
        """When the next message to ``recipient`` may start (``now`` if at once)."""
        tat = self._tat.get(recipient, now)
        return max(now, tat - self.interval * (self.burst - 1))

    def sent(self, recipient: str, now: float) -> None:
        self._tat[recipient] = max(self._tat.get(recipient, now), now) + self.interval

    def hold(self, recipient: str, until: float) -> None:
        """Meta said 131056: nothing more to this recipient before ``until``."""
        self._tat[recipient] = until + self.interval * self.burst

    def forget_idle(self, now: float) -> None:
        """Drop recipients whose schedule has caught up with the clock (bounded memory)."""
        for recipient in [r for r, tat in self._tat.items() if tat <= now]:
            del self._tat[recipient]
