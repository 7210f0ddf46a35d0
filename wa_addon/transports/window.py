"""Meta's customer-service window, and a notification that falls outside it.

A user who wrote to one of our Cloud API numbers in the last 24 hours may get
free-form text from it; outside that window only an approved template goes.
Meta usually accepts a free-form send outside the window all the same (200, a
wamid) and reports error 131047 later, in a ``failed`` status webhook.  So:

- the webhook records, per number and user, when the user last wrote
  (:class:`ServiceWindow`);
- a notification to a user whose window is closed goes as its template
  outright (:func:`prepare`), when one is configured;
- a ``failed`` status for a notification (:func:`after_failure`) sends its
  template when the error is 131047, else lands the message in the failed
  list for the admin, once, like a failure returned by the send call.
  Notification bodies are kept for ``BODY_TTL`` for that (also :func:`prepare`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable

import redis

from wa_addon.messages import Inbound, Outbound
from wa_addon.runtime import Runtime
from wa_addon.store import SEEN_TTL, Keys, text
from wa_addon.transports.base import REENGAGE
from wa_addon.transports.cloud_errors import classify_error
from wa_addon.transports.cloud_webhook import NAME as CLOUD

log = logging.getLogger(__name__)

WINDOW = 24 * 3600  # Meta's customer-service window, from the user's last message
BODY_TTL = 2 * 24 * 3600  # a failed status comes within minutes; two days is plenty


class ServiceWindow:
    """When each user last wrote to one Cloud API number (the window's start), in Redis.

    Args:
        conn: Redis.
        keys: the namespace's keys.
        number: our phone number id (each number has its own windows).
        clock: unix time now.
    """

    def __init__(self, conn: redis.Redis, keys: Keys, number: str, clock: Callable[[], float] = time.time):
        self.conn, self.keys, self.number, self.clock = conn, keys, number, clock

    def record(self, inbound: Iterable[Inbound]) -> None:
        """Open (or extend) the window of each sender, in one round trip."""
        pipe = self.conn.pipeline(transaction=False)
        for key, (value, left) in self.marks(inbound).items():
            pipe.set(key, value, ex=left)
        pipe.execute()

    def marks(self, inbound: Iterable[Inbound]) -> dict[str, tuple[str, int]]:
        """What :meth:`record` sets, key -> (value, seconds), for a caller that sets it itself."""
        now, out = self.clock(), {}
        for msg in inbound:
            who = msg.sender or msg.user_id
            at = min(msg.timestamp or now, now)  # a phone clock ahead of ours must not stretch it
            left = int(at + WINDOW - now)
            if who and left > 0:
                out[self.key(who)] = (f"{at:.0f}", left)
        return out

    def key(self, who: str) -> str:
        """The Redis key of ``who``'s window on this number."""
        return self.keys.service_window(self.number, who)

    def closed(self, recipients: list[str]) -> set[str]:
        """Those of ``recipients`` who have not written within the window."""
        if not recipients:
            return set()
        marks = self.conn.mget([self.key(who) for who in recipients])
        return {who for who, mark in zip(recipients, marks, strict=True) if mark is None}


def prepare(rt: Runtime, msgs: list[Outbound]) -> list[Outbound]:
    """Notifications as the Cloud API needs them, in one round trip.

    Each one whose recipient's window is closed is switched to its template;
    every body is kept for a late ``failed`` status (see :func:`after_failure`).
    """
    if rt.default_transport != CLOUD or not msgs:
        return msgs  # phones send text to anyone, and report no window errors
    window = ServiceWindow(rt.conn, rt.keys, rt.settings.cloud_phone_number_id)
    candidates = [m.to for m in msgs if m.template and m.mode != "template"]
    pipe = rt.conn.pipeline(transaction=False)
    if candidates:
        pipe.mget([window.key(who) for who in candidates])
    _remember(pipe, rt.keys, msgs)
    marks = pipe.execute()[0] if candidates else []
    closed = {who for who, mark in zip(candidates, marks, strict=True) if mark is None}
    # Same id: a re-run of the event is still deduped, whichever form went out.
    return [_as_template(m, m.id) if m.template and m.to in closed else m for m in msgs]


def _remember(pipe: redis.client.Pipeline, keys: Keys, msgs: list[Outbound]) -> None:
    for m in msgs:
        pipe.set(keys.sent_body(m.id), m.to_json(), ex=BODY_TTL)


def after_failure(rt: Runtime, transport: str, wa_msg_id: str, error: str | None) -> list[Outbound]:
    """What a ``failed`` status webhook calls for: the template to send instead, or nothing.

    To be called by ``outbox.record_status`` (or its caller) for a ``failed``
    status; the caller pushes what it returns onto ``transport``'s outbox.
    A message that cannot be helped is put in the failed list, once however
    often Meta repeats the status.  Messages without a kept body (replies to
    a chat, which go within the window) only keep their ``failed`` status.
    """
    ours = rt.conn.get(rt.keys.wamid(wa_msg_id))
    raw = rt.conn.get(rt.keys.sent_body(text(ours))) if ours else None
    if raw is None:
        return []
    msg = Outbound.from_json(raw)
    if _code_class(error) == REENGAGE and msg.template and msg.mode != "template":
        again = _as_template(msg, f"{msg.id}t")
        pipe = rt.conn.pipeline(transaction=False)
        _remember(pipe, rt.keys, [again])
        pipe.execute()
        return [again]  # its id is derived: a repeated status queues it once
    if rt.conn.set(rt.keys.seen("failed-status", msg.id), "1", nx=True, ex=SEEN_TTL):
        log.warning("message %s failed after it was sent: %s", msg.id, (error or "")[:80])
        rt.conn.rpush(rt.keys.failed(transport), msg.to_json())
    return []


def _code_class(error: str | None) -> str:
    code = (error or "").split(" ", 1)[0]
    return classify_error(int(code) if code.isdigit() else None, 400).outcome


def _as_template(msg: Outbound, msg_id: str) -> Outbound:
    return Outbound(**{**json.loads(msg.to_json()), "id": msg_id, "mode": "template"})
