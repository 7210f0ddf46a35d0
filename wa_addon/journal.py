"""Capped journals in Redis: recent messages in and out, and the command audit.

What goes in here is already masked: PINs are never written.  A write is one
LPUSH; the lists are cut to size by the worker's housekeeper (:func:`trim`,
once a second), not on every write: a trim per message was a Redis command
per message for nothing the admin page can see.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from wa_addon.store import AUDIT_SIZE, LOG_SIZE, Keys


def _push(pipe: Any, key: str, entries: list[dict[str, Any]]) -> None:
    if entries:
        now = round(time.time(), 3)
        pipe.lpush(key, *(json.dumps({"at": now, **e}, ensure_ascii=False) for e in entries))


def log_messages(pipe: Any, keys: Keys, direction: str, entries: list[dict[str, Any]]) -> None:
    """Queue journal writes for messages on ``pipe`` (``in`` or ``out``): one command for all."""
    _push(pipe, keys.log(direction), entries)


def audit(pipe: Any, keys: Keys, entry: dict[str, Any]) -> None:
    """Queue one audit entry (who ran what, with what outcome) on ``pipe`` (or run it on a connection)."""
    _push(pipe, keys.audit, [entry])


def trim(pipe: Any, keys: Keys) -> None:
    """Cut every journal to its size."""
    pipe.ltrim(keys.log("in"), 0, LOG_SIZE - 1)
    pipe.ltrim(keys.log("out"), 0, LOG_SIZE - 1)
    pipe.ltrim(keys.audit, 0, AUDIT_SIZE - 1)


def recent(conn: redis.Redis, key: str, count: int = 50) -> list[dict[str, Any]]:
    """The newest entries of a journal, newest first."""
    return [json.loads(raw) for raw in conn.lrange(key, 0, count - 1)]
