"""Timed notices, run by the worker's housekeeper: requests stuck in processing, balance requests expiring.

The notices themselves are built by :mod:`wa_addon.hooks.notify` (read through
the module, so one place says what a request notice looks like).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial

from wa_addon.hooks import notify
from wa_addon.host import HostError, HostUnavailable
from wa_addon.messages import Outbound
from wa_addon.notifications import Notes
from wa_addon.queue import outbox
from wa_addon.runtime import Runtime
from wa_addon.store import DOWN, StoreUnavailable
from wa_addon.workflows import balance_approval as approval
from wa_addon.workflows import request as request_wf
from wa_addon.workflows.store import Record

log = logging.getLogger(__name__)


def housekeep(rt: Runtime, now: float | None = None) -> int:
    """Flag stuck requests to the admins and expire old balance requests; returns messages queued.

    One item at a time, and an item leaves its timer only once its notices are
    queued: the host away or a bug keeps it for the next pass (its notices keep
    their ids, so none goes twice) without costing the other items theirs.
    Redis away stops the pass.
    """
    now = time.time() if now is None else now
    queued = 0
    for request_id, since, record in request_wf.stuck(rt, now):
        queued += _timed(
            rt,
            f"stuck request {request_id}",
            partial(_stuck, rt, request_id, since, record, now),
            partial(request_wf.LIFECYCLE.take, rt, request_id),
        )
    for ident, since in approval.due(rt, now):
        queued += _timed(
            rt,
            f"expiring balance request {ident}",
            partial(_expired, rt, ident, since),
            partial(approval.LIFECYCLE.take, rt, ident),
        )
    return queued


def _timed(rt: Runtime, what: str, notices: Callable[[], list[Outbound]], take: Callable[[], object]) -> int:
    try:
        msgs = notices()
    except (StoreUnavailable, *DOWN):
        raise
    except HostUnavailable:
        log.warning("%s: the host is unavailable, kept for the next pass", what)
        return 0
    except HostError as err:  # nobody to tell (a reseller gone): asking again would not help
        log.warning("%s: the host refused a lookup: %s", what, err.code)
        msgs = []
    except Exception:  # a bug: kept, not lost
        log.exception("%s failed, kept for the next pass", what)
        return 0
    if msgs:
        outbox.push(rt, msgs)
    take()
    return len(msgs)


def _stuck(rt: Runtime, request_id: str, since: float, record: Record, now: float) -> list[Outbound]:
    if record.state != request_wf.PROCESSING:
        return []  # left processing meanwhile, or forgotten: nothing to flag
    log.warning("request %s stuck in processing since %.0f s", request_id, now - since)
    notes = Notes(rt, f"stuck:request:{request_id}:v{record.version}")
    context = notify._request_context({**record.info, "id": request_id}, masked=True, region=rt.settings.country)
    notes.admins("request_stuck", "notify_request_stuck", minutes=max(1, int(now - since) // 60), **context)
    return notes.out


def _expired(rt: Runtime, ident: str, since: float) -> list[Outbound]:
    return notify.balance_request_changed(rt, approval.expire(rt, ident, since))
