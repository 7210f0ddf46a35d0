"""The balance-approval lifecycle: pending -> approved / denied / expired.

A balance request nobody decided within ``settings.balance_request_expiry``
expires here (:func:`due`, :func:`expire`): the admin's ACCEPT / DENY no
longer works from chat and the reseller is told to ask again.  The add-on
decides nothing at the host on its own; an approval the host makes anyway
(from its own panel) still reaches the reseller as ``balance.added``.

An admin's ACCEPT / DENY and the expiry are exclusive: the command first
claims the balance request (:func:`claim`: pending -> deciding, a
compare-and-set), which takes it off the expiry timer, then asks the host.
The host's ``balance_request.updated`` moves it on to approved or denied; a
refusal (or no answer) gives it back (:func:`release`).  Whichever of the
claim and the expiry comes second finds the state moved and loses.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from wa_addon.workflows import Lifecycle, Outcome, store

if TYPE_CHECKING:
    from wa_addon.runtime import Runtime

# States
PENDING = "pending"
DECIDING = "deciding"  # an admin's decision is with the host: the expiry leaves it alone
APPROVED = "approved"
DENIED = "denied"
EXPIRED = "expired"
STATES = [PENDING, DECIDING, APPROVED, DENIED, EXPIRED]
HOST_STATUSES = (PENDING, APPROVED, DENIED, EXPIRED)  # what balance_request.updated may say

# Triggers
CLAIM = "claim"
RELEASE = "release"
APPROVE = "approve"
DENY = "deny"
EXPIRE = "expire"

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": CLAIM, "source": PENDING, "dest": DECIDING},
    {"trigger": RELEASE, "source": DECIDING, "dest": PENDING},
    {"trigger": APPROVE, "source": [PENDING, DECIDING], "dest": APPROVED},
    {"trigger": DENY, "source": [PENDING, DECIDING], "dest": DENIED},
    {"trigger": EXPIRE, "source": PENDING, "dest": EXPIRED},
]

LIFECYCLE = Lifecycle("balance_request", STATES, TRANSITIONS, PENDING, timed=PENDING)


def claim(rt: Runtime, balance_request_id: object) -> Outcome:
    """An admin decides: pending -> deciding, off the expiry timer.

    Returns:
        ``changed`` when this call claimed it (then :func:`release` it unless
        the host decided); else the state as it is (``expired``: too late).
    """
    return LIFECYCLE.apply(rt, balance_request_id, CLAIM, source="admin")


def release(rt: Runtime, balance_request_id: object) -> Outcome:
    """The host did not take the admin's decision: deciding -> pending (the expiry counts from now)."""
    return LIFECYCLE.apply(rt, balance_request_id, RELEASE, source="admin")


def due(rt: Runtime, now: float | None = None) -> list[tuple[str, float]]:
    """Balance requests pending longer than ``balance_request_expiry``: (id, since), oldest first.

    Each is listed again by every call until ``LIFECYCLE.take`` takes it off the timer.
    """
    now = time.time() if now is None else now
    return store.due(rt, LIFECYCLE.name, now - rt.settings.balance_request_expiry)


def expire(rt: Runtime, balance_request_id: str, since: float) -> Outcome:
    """Expire a due balance request; it stays due until ``LIFECYCLE.take`` (its notice queued).

    A re-run (the notice was not queued) answers the same change again; a
    balance request claimed, decided or forgotten meanwhile answers unchanged.
    """
    outcome = LIFECYCLE.apply(rt, balance_request_id, EXPIRE, source="timer", cause=f"expire:{balance_request_id}")
    if outcome.changed:
        store.keep(rt, LIFECYCLE.name, balance_request_id, since)
    return outcome
