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

import time
from dataclasses import dataclass, field

from wa_addon.queue.lanes import Scripts, call
from wa_addon.store import Keys, text

# Slots are spaced for this share of the limit: a send that starts a few ms
# late must not put two sends into one second's window (measured in
# benchmarks/, "never above the limit in any 1 s window").
HEADROOM = 0.95

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
        self.interval = 1.0 / (per_second * HEADROOM)

    def reserve(self, count: int, now: float | None = None) -> list[float]:
        """Monotonic times at which ``count`` sends may start, in order."""
        if count <= 0:
            return []
        wait = float(text(call(self.script, [self.key], [repr(self.interval), count])))
        start = (time.monotonic() if now is None else now) + wait
        return [start + i * self.interval for i in range(count)]


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
