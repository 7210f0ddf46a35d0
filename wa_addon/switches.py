"""Runtime switches the admin flips: kept in one Redis hash.

Unset switches fall back to defaults (the add-on on, every notification on,
the admin numbers and default language from the deployment settings).  The
web process reads the hash on every use; a worker reads it whole at most
once a second (``max_age``): three HGETs per chat were 18 % of its time.
"""

from __future__ import annotations

import time

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

    def __init__(self, conn: redis.Redis, keys: Keys, settings: Settings, max_age: float = 0.0):
        self.conn, self.key, self.settings = conn, keys.switches, settings
        self.max_age = max_age
        self._cache: dict[str, str] = {}
        self._read_at = float("-inf")

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
        self.conn.hset(self.key, mapping=mapping)  # type: ignore[arg-type]
        self._read_at = float("-inf")

    def as_dict(self) -> dict[str, object]:
        return {
            "enabled": self.enabled(),
            "notifications": {k: self.notify(k) for k in NOTIFICATION_KINDS},
            "admin_numbers": list(self.admin_numbers()),
            "default_language": self.default_language(),
        }

    def _get(self, name: str, default: str | None) -> str | None:
        if self.max_age <= 0:
            value = self.conn.hget(self.key, name)
            return default if value is None else text(value)
        now = time.monotonic()
        if now - self._read_at > self.max_age:
            self._cache = {text(k): text(v) for k, v in self.conn.hgetall(self.key).items()}
            self._read_at = now
        return self._cache.get(name, default)


def _flag(value: str | bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return value
