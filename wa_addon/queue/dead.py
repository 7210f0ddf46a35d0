"""Dead letters: items a lane could not process, set aside per lane for the admin.

A session that meets an item no code can handle (a bug, an unreadable
payload) keeps it in ``{ns}:dead:{lane}`` so it cannot block the keys behind
it.  Each entry is a JSON envelope::

    {"id": "3f9c…", "at": 1764500000.123, "why": "KeyError in commands/x.py:12",
     "key": "8801711000000", "item": "<the lane's payload>"}

``why`` names the exception and where it was raised, never its message (a
message may quote the chat's text, PIN included; the worker's log has the
traceback).  ``key`` is the item's order key, so a retried item goes back to
its own partition, in its sender's or recipient's order.  Entries written
before envelopes existed are read too (no time, no reason, key "").

Retry pushes the item back on its lane under the dedupe mark
``dead-{id}`` (7 days), then removes the entry: two retries of one letter,
even at once, run it once; a retry cut short between the two steps leaves
the entry, whose next retry only removes it.  A retried item that fails
again comes back as a new letter, with a new id.
"""

from __future__ import annotations

import json
import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING

from wa_addon.messages import short_hash
from wa_addon.queue.lanes import Item
from wa_addon.store import SEEN_TTL, text

if TYPE_CHECKING:
    from wa_addon.runtime import Runtime


@dataclass(frozen=True)
class Letter:
    """One dead letter as read back: ``raw`` is the stored entry (what LREM removes)."""

    id: str
    lane: str
    at: float | None
    why: str
    key: str
    item: str
    raw: str


def letter(key: str, payload: str, why: BaseException | str) -> str:
    """The entry to keep for an item that failed: ``why`` is the exception, or a few words."""
    reason = why if isinstance(why, str) else _where(why)
    return json.dumps(
        {"id": uuid.uuid4().hex[:16], "at": round(time.time(), 3), "why": reason, "key": key, "item": payload},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _where(exc: BaseException) -> str:
    """``KeyError in commands/reseller.py:88``: the innermost frame of ours, or the innermost at all."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    ours = [f for f in frames if "wa_addon" in PurePath(f.filename).parts]
    if not (ours or frames):
        return type(exc).__name__
    frame = (ours or frames)[-1]
    parts = PurePath(frame.filename).parts
    short = "/".join(parts[parts.index("wa_addon") + 1 :] if "wa_addon" in parts else parts[-1:])
    return f"{type(exc).__name__} in {short}:{frame.lineno}"


def parse(lane: str, raw: bytes | str) -> Letter:
    """A stored entry, envelope or (older) bare payload."""
    raw = text(raw)
    try:
        entry = json.loads(raw)
    except ValueError:
        entry = None
    if isinstance(entry, dict) and isinstance(entry.get("item"), str) and isinstance(entry.get("id"), str):
        at = entry.get("at")
        return Letter(
            entry["id"],
            lane,
            float(at) if isinstance(at, int | float) else None,
            str(entry.get("why", "")),
            str(entry.get("key", "")),
            entry["item"],
            raw,
        )
    return Letter(short_hash(raw, 16), lane, None, "", "", raw, raw)


def read(rt: Runtime, lane: str, count: int | None = 50) -> list[Letter]:
    """A lane's dead letters, oldest first (at most ``count``; None: all)."""
    stop = -1 if count is None else count - 1
    return [parse(lane, raw) for raw in rt.conn.lrange(rt.keys.dead(lane), 0, stop)]


def counts(rt: Runtime) -> dict[str, int]:
    """Lane -> how many dead letters it keeps (every lane, zeros included)."""
    names = sorted(rt.lanes)
    pipe = rt.conn.pipeline(transaction=False)
    for name in names:
        pipe.llen(rt.keys.dead(name))
    return dict(zip(names, map(int, pipe.execute()), strict=True))


def _chosen(rt: Runtime, lane: str, letter_id: str | None) -> list[Letter]:
    if lane not in rt.lanes:
        raise KeyError(lane)
    found = read(rt, lane, count=None)
    return [d for d in found if letter_id is None or d.id == letter_id]


def retry(rt: Runtime, lane: str, letter_id: str | None = None) -> int:
    """Put one dead letter (or every one of ``lane``) back on its lane, once; returns how many.

    Raises:
        KeyError: no lane of that name in this deployment.
    """
    chosen = _chosen(rt, lane, letter_id)
    if not chosen:
        return 0
    rt.lanes[lane].push([Item(d.item, d.key, dedupe=f"dead-{d.id}") for d in chosen])
    return _remove(rt, lane, chosen)


def discard(rt: Runtime, lane: str, letter_id: str) -> int:
    """Drop one dead letter for good; returns 1, or 0 if it is gone or a retry took it first.

    The discard takes the letter's retry mark first: a retry racing it
    pushes nothing, and a retry that came first keeps its item on the lane.

    Raises:
        KeyError: no lane of that name in this deployment.
    """
    chosen = _chosen(rt, lane, letter_id)
    if not chosen:
        return 0
    # The key Lane.push checks for the dedupe id dead-{id} (its lane's kind, before any ':').
    mark = rt.keys.seen(lane.split(":")[0], f"dead-{letter_id}")
    first = rt.conn.set(mark, "discarded", nx=True, ex=SEEN_TTL)
    removed = _remove(rt, lane, chosen)
    return removed if first else 0


def _remove(rt: Runtime, lane: str, letters: Sequence[Letter]) -> int:
    pipe = rt.conn.pipeline(transaction=False)
    for d in letters:
        pipe.lrem(rt.keys.dead(lane), 1, d.raw)
    return sum(int(n) for n in pipe.execute())
