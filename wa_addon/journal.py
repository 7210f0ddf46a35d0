"""Capped journals in Redis: recent messages in and out, and the command audit.

What goes in here is already masked: PINs are never written.  A write is one
LPUSH; the lists are cut to size by the worker's housekeeper (:func:`trim`,
once a second), not on every write: a trim per message was a Redis command
per message for nothing the admin page can see.

A worker's session runs each chat inside :func:`deferred`: the chat's
journal and audit entries are collected, not sent, and the session writes
those of every chat it finished in its next flush (:func:`write`), one LPUSH
per journal, in the pipeline that acks the chats (measured: two Redis
commands and round trips per chat fewer at load).  A chat that is run again
after an outage is journaled once, by the run that finished.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from wa_addon.store import AUDIT_SIZE, LOG_SIZE, Keys

# (journal key, its entries as JSON, oldest first), collected by this thread while deferred
Writes = list[tuple[str, list[str]]]
_local = threading.local()


@contextmanager
def deferred(into: Writes) -> Iterator[Writes]:
    """Within the block, this thread's journal writes are appended to ``into`` instead of sent."""
    before = getattr(_local, "into", None)
    _local.into = into
    try:
        yield into
    finally:
        _local.into = before


def write(pipe: Any, writes: Writes) -> None:
    """Queue deferred writes on ``pipe``: one LPUSH per journal, in the order they were made."""
    by_key: dict[str, list[str]] = {}
    for key, values in writes:
        by_key.setdefault(key, []).extend(values)
    for key, values in by_key.items():
        pipe.lpush(key, *values)


def _push(pipe: Any, key: str, entries: list[dict[str, Any]]) -> None:
    if entries:
        now = round(time.time(), 3)
        values = [json.dumps({"at": now, **e}, ensure_ascii=False) for e in entries]
        into = getattr(_local, "into", None)
        if into is not None:
            into.append((key, values))
        else:
            pipe.lpush(key, *values)


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
