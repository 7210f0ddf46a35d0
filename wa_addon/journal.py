"""Capped journals in Redis: recent messages in and out, and the command audit.

What goes in here is already masked: PINs are never written.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from wa_addon.store import AUDIT_SIZE, LOG_SIZE, Keys


def _push(pipe: Any, key: str, entry: dict[str, Any], size: int) -> None:
    entry.setdefault("at", round(time.time(), 3))
    pipe.lpush(key, json.dumps(entry, ensure_ascii=False))
    pipe.ltrim(key, 0, size - 1)


def log_messages(pipe: Any, keys: Keys, direction: str, entries: list[dict[str, Any]]) -> None:
    """Queue journal writes for messages on ``pipe`` (``in`` or ``out``)."""
    for entry in entries:
        _push(pipe, keys.log(direction), entry, LOG_SIZE)


def audit(pipe: Any, keys: Keys, entry: dict[str, Any]) -> None:
    """Queue one audit entry (who ran what, with what outcome) on ``pipe``."""
    _push(pipe, keys.audit, entry, AUDIT_SIZE)


def recent(conn: redis.Redis, key: str, count: int = 50) -> list[dict[str, Any]]:
    """The newest entries of a journal, newest first."""
    return [json.loads(raw) for raw in conn.lrange(key, 0, count - 1)]
