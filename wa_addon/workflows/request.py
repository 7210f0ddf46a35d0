"""The request lifecycle: pending -> processing -> success / failed / cancelled.

The same moves the host allows (see the sandbox's ``service_requests``):
a failed request may be resent or cancelled; resending puts it back to
pending.  A request left in ``processing`` longer than
``settings.request_stuck_after`` is flagged to the admin once
(:func:`stuck`, then ``LIFECYCLE.take``): its outcome is unknown, so nothing is
refunded or resent on the add-on's own.

Only the host's events move a request (the hook processor, ``LIFECYCLE.apply``).
The admin's CANCEL / COMPLETE / RESEND go to the host, which decides a race
in one transaction (the loser gets ``invalid_state``); its event follows.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from wa_addon.workflows import Lifecycle, store

if TYPE_CHECKING:
    from wa_addon.runtime import Runtime

# States
PENDING = "pending"
PROCESSING = "processing"
SUCCESS = "success"
FAILED = "failed"
CANCELLED = "cancelled"
STATES = [PENDING, PROCESSING, SUCCESS, FAILED, CANCELLED]

# Triggers
PROCESS = "process"
COMPLETE = "complete"
FAIL = "fail"
CANCEL = "cancel"
RESEND = "resend"

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": PROCESS, "source": PENDING, "dest": PROCESSING},
    {"trigger": COMPLETE, "source": [PENDING, PROCESSING], "dest": SUCCESS},
    {"trigger": FAIL, "source": [PENDING, PROCESSING], "dest": FAILED},
    {"trigger": CANCEL, "source": [PENDING, PROCESSING, FAILED], "dest": CANCELLED},
    {"trigger": RESEND, "source": [PROCESSING, FAILED], "dest": PENDING},
]

# The states a reseller is told about.
TOLD = (SUCCESS, FAILED, CANCELLED)
# Back to pending from these is a resend (charged again after a failure): the reseller is told too.
RESENT_FROM = (FAILED, PROCESSING)

LIFECYCLE = Lifecycle("request", STATES, TRANSITIONS, PENDING, timed=PROCESSING)


def stuck(rt: Runtime, now: float | None = None) -> list[tuple[str, float, store.Record]]:
    """Requests in processing for longer than ``request_stuck_after``, oldest first.

    Each is listed again by every call until ``LIFECYCLE.take`` takes it off the timer.

    Returns:
        (request id, since when, its record) for each request to flag.
    """
    now = time.time() if now is None else now
    due = store.due(rt, LIFECYCLE.name, now - rt.settings.request_stuck_after)
    return [(request_id, since, store.read(rt, LIFECYCLE.name, request_id)) for request_id, since in due]
