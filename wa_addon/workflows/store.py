"""Lifecycle state in Redis: one hash per request or balance request.

A change is a compare-and-set done by one Lua script (``WORKFLOW_CAS_LUA`` in
:mod:`wa_addon.store`): it applies only if the state is still the one the
caller read, so when two causes race (two events, an event and a timer)
exactly one wins.  Each change remembers its cause (an event id, a timer's
name), so a re-run of the same cause answers what it did the first time
instead of being refused: a worker that died after the change but before
queueing the notifications queues them again, under the same ids, and the
outbox drops the repeats.

The hash (``{ns}:wf:{workflow}:{id}``): ``s`` state, ``v`` version (one per
change), ``at`` time of the last change, ``by`` its source, ``info`` a few
facts for timed notices (JSON), ``c:<cause>`` ``"<version>:<state>"``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from wa_addon.store import WORKFLOW_TTL

if TYPE_CHECKING:
    from wa_addon.runtime import Runtime

CHANGED, REPLAY, LOST = 1, 2, 0


@dataclass(frozen=True)
class Record:
    """What Redis holds for one lifecycle.

    Attributes:
        state: the current state, or None when the add-on never heard of it.
        version: how many changes it went through.
        replay: (version, state) when the cause asked about already made a change.
        info: facts saved with it (reseller, amount, ...).
    """

    state: str | None
    version: int = 0
    replay: tuple[int, str] | None = None
    info: dict[str, Any] = field(default_factory=dict)


def read(rt: Runtime, workflow: str, ident: str, cause: str = "") -> Record:
    """The record of ``ident``, and whether ``cause`` already changed it."""
    key = rt.keys.workflow(workflow, ident)
    state, version, info, done = cast(list[Any], rt.conn.hmget(key, ["s", "v", "info", f"c:{cause}"]))
    replay = None
    if done is not None:
        v, s = done.decode().split(":", 1)
        replay = (int(v), s)
    return Record(
        state=state.decode() if state is not None else None,
        version=int(version or 0),
        replay=replay,
        info=json.loads(info) if info else {},
    )


def compare_and_set(
    rt: Runtime,
    workflow: str,
    ident: str,
    *,
    expected: str | None,
    new: str,
    cause: str,
    source: str,
    timed: str | None,
    info: dict[str, Any] | None = None,
    now: float | None = None,
) -> tuple[int, str, int]:
    """Move ``ident`` from ``expected`` (None: no record yet) to ``new``, atomically.

    Returns:
        (CHANGED, REPLAY or LOST, the state after, its version).
    """
    now = time.time() if now is None else now
    keys = [rt.keys.workflow(workflow, ident), rt.keys.workflow_timer(workflow)]
    args: list[Any] = [
        expected or "",
        new,
        cause,
        f"{now:.3f}",
        WORKFLOW_TTL,
        timed or "",
        ident,
        json.dumps(info, ensure_ascii=False, separators=(",", ":")) if info else "",
        source,
    ]
    code, state, version = cast(list[Any], rt.scripts.workflow_cas(keys=keys, args=args))
    return int(code), state.decode() if isinstance(state, bytes) else str(state), int(version)


def due(rt: Runtime, workflow: str, before: float) -> list[tuple[str, float]]:
    """Ids that entered the timed state before ``before``, oldest first, with when."""
    members = cast(
        list[tuple[bytes, float]], rt.conn.zrangebyscore(rt.keys.workflow_timer(workflow), 0, before, withscores=True)
    )
    return [(m.decode(), float(score)) for m, score in members]


def take(rt: Runtime, workflow: str, ident: str) -> bool:
    """Remove ``ident`` from the timer; True for exactly one caller (act once)."""
    return bool(rt.conn.zrem(rt.keys.workflow_timer(workflow), ident))


def keep(rt: Runtime, workflow: str, ident: str, since: float) -> None:
    """Put ``ident`` back on the timer at ``since`` (unless it is there): due until taken."""
    rt.conn.zadd(rt.keys.workflow_timer(workflow), {ident: since}, nx=True)
