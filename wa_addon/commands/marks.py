"""Seen-marks: what one chat message already did, and answers given at most once an hour.

Keys (``store.Keys.seen``) and TTLs:

==========================================  ==============================================
``{ns}:seen:cmd-{what}:{message id}``       this message ran ``what`` once (a pre-check
                                            that must not read its own effect again);
                                            ``SEEN_TTL`` (7 days: Meta resends for days)
``{ns}:seen:once-{template}:{sender hash}`` ``template`` was answered to this sender;
                                            ``ONCE_TTL`` (1 hour)
==========================================  ==============================================
"""

from __future__ import annotations

import redis

from wa_addon.messages import short_hash
from wa_addon.store import SEEN_TTL, Keys

ONCE_TTL = 3600  # "unknown number" and "paused" answers: one an hour per sender


class Marks:
    """The seen-marks the commands set, and nothing else.

    Args:
        conn: Redis.
        keys: the namespace's key builder (``seen``).
    """

    def __init__(self, conn: redis.Redis, keys: Keys):
        self.conn, self.keys = conn, keys

    def first_run(self, what: str, msg: str) -> bool:
        """Whether message ``msg`` runs ``what`` for the first time (False: a redelivery or a retried job)."""
        return bool(self.conn.set(self.keys.seen(f"cmd-{what}", msg), "1", nx=True, ex=SEEN_TTL))

    def once(self, template: str, who: str) -> bool:
        """Whether ``template`` may be answered to ``who`` now (True at most once per ``ONCE_TTL``)."""
        return bool(self.conn.set(self.keys.seen(f"once-{template}", short_hash(who)), "1", nx=True, ex=ONCE_TTL))
