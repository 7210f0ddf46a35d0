"""The outbox: outbound messages queued per transport, sent by the sessions.

A message leaves the outbox only after its send is recorded: each send's
status and its ack go to Redis in the session's next flush.  Transient
errors (rate limits, outages) keep the message first in line for its
recipient and retry it later, in order; permanent ones land in the failed
list for the admin.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from wa_addon import journal, tally
from wa_addon.messages import Outbound
from wa_addon.queue.lanes import Item
from wa_addon.store import MSG_TTL, text
from wa_addon.transports.base import REENGAGE, SendResult, Transport

if TYPE_CHECKING:
    from wa_addon.runtime import Runtime

log = logging.getLogger(__name__)

# "handed": given to a relay that sends later (the device transport's phones).
STATUS_RANK = {"queued": 0, "handed": 1, "sent": 2, "delivered": 3, "read": 4, "failed": 5}

# Kinds sent even while the admin has the add-on off: the one "service paused" answer.
SYSTEM_KINDS = frozenset({"paused"})


def out_lane(transport: str, system: bool = False) -> str:
    """A transport's outbox lane; the system lane is sent even while the add-on is off."""
    return f"{'sys' if system else 'out'}:{transport}"


def held_when_off(lane: str) -> bool:
    """Whether the admin's off switch holds this lane (every outbox but the system lanes)."""
    return lane.startswith("out:")


def items(rt: Runtime, messages: Iterable[Outbound], transport: str | None = None) -> dict[str, list[Item]]:
    """Lane name -> the items that queue ``messages`` on a transport's outbox."""
    name = transport or rt.default_transport
    if name not in rt.transports:  # e.g. a reply to a transport since removed from the settings
        log.warning("transport %s is not configured; sending on %s", name, rt.default_transport)
        name = rt.default_transport
    by_lane: dict[str, list[Item]] = {}
    now = round(time.time(), 3)
    for m in messages:
        lane = out_lane(name, system=m.kind in SYSTEM_KINDS)
        # queued_at: the outbox's oldest-message age, in /metrics
        by_lane.setdefault(lane, []).append(Item(m.queued_json(now), order_key=m.to, dedupe=m.id))
    return by_lane


def push(rt: Runtime, messages: Iterable[Outbound], transport: str | None = None) -> int:
    """Queue messages on a transport's outbox (each id at most once); returns how many were given."""
    by_lane = items(rt, messages, transport)
    for lane, queued in by_lane.items():
        rt.lanes[lane].push(queued)
    return sum(len(queued) for queued in by_lane.values())


def send(transport: Transport, msg: Outbound) -> SendResult:
    """Try ``msg`` once; outside the 24-hour window, again as its approved template."""
    result = transport.send(msg)
    if result.outcome == REENGAGE and msg.template and msg.mode != "template":
        result = transport.send(Outbound(**{**msg.__dict__, "mode": "template"}))
    return result


def record(rt: Runtime, pipe: Any, sends: list[tuple[str, Outbound, SendResult, str]]) -> list[dict[str, Any]]:
    """Queue sends' statuses on ``pipe`` (one script call: by bare EVALSHA, the caller has loaded
    the scripts); ``sends``: (transport, message, result, the status a success records).
    Returns their journal entries (written once per flush)."""
    keys: list[str] = []
    args: list[Any] = [MSG_TTL]
    entries = []
    at = f"{time.time():.3f}"
    for transport, msg, result, ok_status in sends:
        status = ok_status if result.ok else "failed"
        keys += [rt.keys.msg(msg.id), rt.keys.wamid(result.wa_msg_id or "-")]
        args += [msg.id, status, msg.to, msg.kind, transport, at, result.wa_msg_id or "", result.error or ""]
        if not result.ok:
            log.warning("send failed: msg=%s code=%s %s", msg.id, result.error_code, result.error)
            pipe.rpush(rt.keys.failed(transport), msg.to_json())
            tally.send_error(pipe, rt.keys, transport, result.error_code)
        shown = "(hidden)" if msg.secret else msg.text
        entry = {"id": msg.id, "to": msg.to, "text": shown, "kind": msg.kind, "status": status}
        entries.append({**entry, "via": transport})
    if keys:
        pipe.evalsha(rt.lane_scripts.record.sha, len(keys), *keys, *args)
    return entries


def journal_out(rt: Runtime, pipe: Any, entries: list[dict[str, Any]]) -> None:
    """Queue the journal entries of a flush."""
    journal.log_messages(pipe, rt.keys, "out", entries)


def record_status(rt: Runtime, transport: str, wa_msg_id: str, status: str, error: str | None) -> bool:
    """Apply a delivery status from the transport; never moves a status back."""
    ours = rt.conn.get(rt.keys.wamid(wa_msg_id))
    if ours is None:
        return False
    key = rt.keys.msg(text(ours))
    current = text(rt.conn.hget(key, "status") or b"queued")
    if STATUS_RANK.get(status, 0) <= STATUS_RANK.get(current, 0) and status != "failed":
        return False
    rt.conn.hset(key, mapping={"status": status, "error": error or "", "at": f"{time.time():.3f}"})
    return True


def retry_failed(rt: Runtime, transport: str, msg_id: str | None = None) -> int:
    """Move failed messages (one, or all) back to the outbox; returns how many."""
    key = rt.keys.failed(transport)
    moved = []
    for raw in map(text, rt.conn.lrange(key, 0, -1)):
        msg = Outbound.from_json(raw)
        if msg_id is None or msg.id == msg_id:
            rt.conn.lrem(key, 1, raw)
            moved.append(
                Outbound(**{**msg.__dict__, "id": f"{msg.id}r{msg.attempts + 1}", "attempts": msg.attempts + 1})
            )
    push(rt, moved, transport)
    return len(moved)
