"""The outbox: outbound messages queued per transport, drained in batches.

A message leaves the outbox only after its send is recorded: each send's
status and its ack go to Redis in one round trip.  Transient errors (rate
limits, outages) keep the message at the head of its partition and retry it
later, in order; permanent ones land in the failed list for the admin.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from wa_addon import journal
from wa_addon.lanes import Item, Lane
from wa_addon.messages import Outbound
from wa_addon.runtime import DRAIN_BUDGET, Runtime, held_when_off, out_lane
from wa_addon.store import MSG_TTL, text
from wa_addon.transports.base import REENGAGE, RETRY, SendResult, Transport

log = logging.getLogger(__name__)

DEFAULT_RETRY = 5.0
# "handed": given to a relay that sends later (the device transport's phones).
STATUS_RANK = {"queued": 0, "handed": 1, "sent": 2, "delivered": 3, "read": 4, "failed": 5}


# Kinds sent even while the admin has the add-on off: the one "service paused" answer.
SYSTEM_KINDS = frozenset({"paused"})


def push(rt: Runtime, messages: Iterable[Outbound], transport: str | None = None) -> int:
    """Queue messages on a transport's outbox (each id at most once)."""
    name = transport or rt.default_transport
    if name not in rt.transports:  # e.g. a reply to a transport since removed from the settings
        log.warning("transport %s is not configured; sending on %s", name, rt.default_transport)
        name = rt.default_transport
    by_lane: dict[str, list[Item]] = {}
    for m in messages:
        lane = out_lane(name, system=m.kind in SYSTEM_KINDS)
        by_lane.setdefault(lane, []).append(Item(m.to_json(), order_key=m.to, dedupe=m.id))
    for lane, items in by_lane.items():
        rt.lanes[lane].push(items, rt.start_drain)
    return sum(len(items) for items in by_lane.values())


def drain(rt: Runtime, lane_name: str, part: int, token: str) -> int:
    """Send a partition's messages until it is empty, paused or rate-limited.

    Returns:
        How many messages were sent.
    """
    lane = rt.lanes[lane_name]
    transport = rt.transports[lane_name.split(":", 1)[1]]
    sent, started = 0, time.monotonic()
    rt.scripts.load_ack()  # once a job: a restarted Redis has forgotten its scripts
    while time.monotonic() - started < DRAIN_BUDGET:
        if held_when_off(lane_name) and not rt.switches.enabled():
            lane.release(part, token)  # kept, not lost: a kick resumes when switched on
            return sent
        batch = lane.claim(part, token, rt.settings.batch_size)
        if not batch:
            return sent
        for raw in batch:
            step = _deliver(rt, lane, part, token, transport, raw)
            if step is None:
                return sent
            sent += step
    rt.start_drain(lane_name, part, token)  # a fresh job goes on; RQ's job timeout never hits
    return sent


def _deliver(rt: Runtime, lane: Lane, part: int, token: str, transport: Transport, raw: str) -> int | None:
    """Send one held message and record it; None when the partition must stop here."""
    try:
        msg = Outbound.from_json(raw)
    except (ValueError, TypeError):  # unreadable: it can never be sent, and must not block the rest
        log.error("outbox %s: an unreadable message, kept in the dead letters", lane.name)
        rt.conn.rpush(rt.keys.dead(lane.name), raw)
        return 0 if lane.ack(part, token, 1) else None
    result = _send(transport, msg)
    if result.outcome == RETRY:
        lane.defer(part, token, result.retry_after or DEFAULT_RETRY)
        return None
    pipe = rt.conn.pipeline(transaction=False)
    _record(rt, pipe, transport.name, msg, result, getattr(transport, "sent_status", "sent"))
    lane.ack(part, token, 1, pipe=pipe)
    if not pipe.execute()[-1]:  # another drainer took the partition over: it goes on from here
        log.warning("outbox %s/%d: lost the partition; stopping", lane.name, part)
        return None
    return int(result.ok)


def _send(transport: Transport, msg: Outbound) -> SendResult:
    result = transport.send(msg)
    if result.outcome == REENGAGE and msg.template and msg.mode != "template":
        # Outside the 24-hour window only an approved template may go.
        result = transport.send(_as_template(msg))
    return result


def _as_template(msg: Outbound) -> Outbound:
    data = {**msg.__dict__, "mode": "template"}
    return Outbound(**data)


def _record(rt: Runtime, pipe, transport: str, msg: Outbound, result: SendResult,  # type: ignore[no-untyped-def]
            ok_status: str = "sent") -> None:
    status = ok_status if result.ok else "failed"
    fields = {"status": status, "to": msg.to, "kind": msg.kind, "transport": transport,
              "at": f"{time.time():.3f}", "wamid": result.wa_msg_id or "", "error": result.error or ""}
    pipe.hset(rt.keys.msg(msg.id), mapping=fields)
    pipe.expire(rt.keys.msg(msg.id), MSG_TTL)
    if result.wa_msg_id:
        pipe.set(rt.keys.wamid(result.wa_msg_id), msg.id, ex=MSG_TTL)
    if not result.ok:
        log.warning("send failed: msg=%s code=%s %s", msg.id, result.error_code, result.error)
        pipe.rpush(rt.keys.failed(transport), msg.to_json())
    text = "(hidden)" if msg.secret else msg.text
    journal.log_messages(pipe, rt.keys, "out", [{"id": msg.id, "to": msg.to, "text": text,
                                                 "kind": msg.kind, "status": status, "via": transport}])


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
            moved.append(Outbound(**{**msg.__dict__, "id": f"{msg.id}r{msg.attempts + 1}",
                                     "attempts": msg.attempts + 1}))
    push(rt, moved, transport)
    return len(moved)
