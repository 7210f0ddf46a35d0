"""Taking host events in: check, dedupe and queue them; the worker does the rest.

Both doors run this code: a signed ``POST {prefix}/hooks`` (:meth:`EventIntake.receive`)
and a Python host's ``addon.emit(type, data)`` (:meth:`EventIntake.emit`).
An event is queued on the event lane with its id's hash as the dedupe mark,
set atomically with the push (7 days), so the same event id twice is queued
once.  The order key keeps one reseller's events (and one phone's) in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from wa_addon.hooks import signing
from wa_addon.hooks.events import Event, new, parse
from wa_addon.messages import short_hash
from wa_addon.queue.lanes import Item, acknowledged_push
from wa_addon.runtime import EVENT_LANE, Runtime
from wa_addon.sealing import sealer
from wa_addon.store import DOWN, StoreUnavailable

log = logging.getLogger(__name__)


class EventIntake:
    """Where host events come in.

    Args:
        rt: the runtime (settings, lanes).
        clock: unix time now; injectable for tests of stale signatures.
    """

    def __init__(self, rt: Runtime, clock: Callable[[], float] = time.time):
        self.rt = rt
        self.clock = clock

    def receive(self, raw: bytes, signature: str | None) -> Event:
        """Check a hook body's signature, read its event and queue it.

        Raises:
            signing.SignatureError: missing, stale or wrong signature (or no secret set).
            EventError: not a valid event.
            StoreUnavailable: Redis is down; the host should retry.
        """
        secret = self.rt.settings.hook_secret
        if not secret:
            raise signing.SignatureError("the add-on has no hook secret (WA_HOOK_SECRET)")
        signing.verify(secret, raw, signature, now=int(self.clock()), tolerance=self.rt.settings.hook_tolerance)
        event = parse(raw, self.rt.settings.country)
        self.submit(event)
        return event

    def emit(self, type: str, data: dict[str, Any]) -> Event:
        """Build, check and queue an event for a Python host (no signature needed in-process)."""
        event = new(type, data, self.rt.settings.country)
        self.submit(event)
        return event

    def submit(self, event: Event) -> None:
        """Queue an event once per id; raises StoreUnavailable when Redis is down."""
        sealed = Event(event.id, event.type, event.created_at, sealer(self.rt.settings).seal_fields(event.data))
        item = Item(sealed.to_json(), event.order_key, short_hash(f"event:{event.id}"))
        try:
            acknowledged_push(self.rt.lanes[EVENT_LANE], [item], self.rt.settings)
        except DOWN as exc:  # defensive: the push maps its own errors
            raise StoreUnavailable(str(exc)) from exc
        # Id and type only: event data may hold a password, a PIN or a code.
        log.info("hook event %s (%s) taken", event.id, event.type)
