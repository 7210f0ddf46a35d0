"""Runtime switches the admin flips: kept in one Redis hash.

Unset switches fall back to defaults (the add-on on, every notification on,
the admin numbers and default language from the deployment settings).  The
web process reads the hash on every use.  A worker keeps a copy (three HGETs
per chat were 18 % of its time) and its session calls :meth:`refresh` before
it starts work: one GET of a version number that every change bumps, and the
hash again only when it moved.  A change is seen by the next item started.
"""

from __future__ import annotations

import redis

from wa_addon.settings import Settings
from wa_addon.store import Keys, text

NOTIFICATION_KINDS = (
    "request_created",
    "request_updated",
    "request_stuck",
    "balance_added",
    "balance_request",
    "balance_request_updated",
    "reseller_created",
    "reseller_updated",
    "reseller_reset",
    "otp",
    "message",
)


class Switches:
    """Reads and writes the runtime switches of one namespace."""

    def __init__(self, conn: redis.Redis, keys: Keys, settings: Settings, cached: bool = False):
        self.conn, self.key, self.settings = conn, keys.switches, settings
        self.version_key = keys.switches_version
        self.cached = cached
        self._cache: dict[str, str] = {}
        self._version: object = b"unread"

    def refresh(self) -> None:
        """Bring a cached copy up to date (one GET; the hash only after a change)."""
        if not self.cached:
            return
        version = self.conn.get(self.version_key)
        if version != self._version:
            self._cache = {text(k): text(v) for k, v in self.conn.hgetall(self.key).items()}
            self._version = version

    def enabled(self) -> bool:
        """Whether the add-on is on (off: outbound is held, inbound gets 'paused')."""
        return self._get("enabled", "1") == "1"

    def notify(self, kind: str) -> bool:
        """Whether notifications of ``kind`` are sent."""
        return self._get(f"notify.{kind}", "1") == "1"

    def admin_numbers(self) -> tuple[str, ...]:
        raw = self._get("admin_numbers", None)
        if raw is None:
            return self.settings.admin_numbers
        return tuple(n for n in raw.split(",") if n)

    def default_language(self) -> str:
        return self._get("default_language", self.settings.default_language) or "bn"

    def set(self, **values: str | bool) -> None:
        """Set switches; booleans are stored as '1' / '0'."""
        mapping = {k.replace("__", "."): _flag(v) for k, v in values.items()}
        pipe = self.conn.pipeline()
        pipe.hset(self.key, mapping=mapping)  # type: ignore[arg-type]
        pipe.incr(self.version_key)
        pipe.execute()
        self._version = b"unread"

    def as_dict(self) -> dict[str, object]:
        return {
            "enabled": self.enabled(),
            "notifications": {k: self.notify(k) for k in NOTIFICATION_KINDS},
            "admin_numbers": list(self.admin_numbers()),
            "default_language": self.default_language(),
        }

    def _get(self, name: str, default: str | None) -> str | None:
        if not self.cached:
            value = self.conn.hget(self.key, name)
            return default if value is None else text(value)
        if self._version == b"unread":
            self.refresh()
        return self._cache.get(name, default)


def _flag(value: str | bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return value
