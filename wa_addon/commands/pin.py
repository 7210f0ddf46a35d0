"""PIN checks with lockout: after N wrong PINs in a window, a pause.

The PIN itself is handed to the host to verify and then forgotten: it is never
stored, logged, audited or echoed.
"""

from __future__ import annotations

import time

import redis

from wa_addon.settings import Settings
from wa_addon.store import COUNT_IN_WINDOW_LUA, Keys


class PinGuard:
    """Counts wrong PINs per sender in Redis and locks the sender out."""

    def __init__(self, conn: redis.Redis, keys: Keys, settings: Settings):
        self.conn, self.keys, self.settings = conn, keys, settings
        self._count = conn.register_script(COUNT_IN_WINDOW_LUA)

    def locked_until(self, who: str) -> float | None:
        """Unix time the lockout ends, or None if not locked."""
        value = self.conn.get(self.keys.pin_lock(who))
        return float(value) if value else None

    def failed(self, who: str, now: float | None = None) -> float | None:
        """Record a wrong PIN; returns the lockout end if this one locks."""
        now = time.time() if now is None else now
        key = self.keys.pin_failures(who)
        # The window starts at the first wrong PIN: later ones must not extend it.
        count = int(self._count(keys=[key], args=[self.settings.pin_window]))
        if count < self.settings.pin_max_failures:
            return None
        until = now + self.settings.pin_lockout
        pipe = self.conn.pipeline()
        pipe.set(self.keys.pin_lock(who), f"{until:.0f}", ex=self.settings.pin_lockout)
        pipe.delete(key)
        pipe.execute()
        return until

    def succeeded(self, who: str) -> None:
        self.conn.delete(self.keys.pin_failures(who))

    def remaining(self, who: str) -> int:
        """Tries left before the lockout."""
        used = int(self.conn.get(self.keys.pin_failures(who)) or 0)
        return max(self.settings.pin_max_failures - used, 0)
