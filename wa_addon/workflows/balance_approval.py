"""The balance-approval lifecycle: pending -> approved / denied / expired.

A balance request nobody decided within ``settings.balance_request_expiry``
expires here (:func:`expire_due`): the admin's ACCEPT / DENY no longer works
from chat and the reseller is told to ask again.  The add-on decides nothing
at the host on its own; an approval the host makes anyway (from its own
panel) still reaches the reseller as ``balance.added``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from wa_addon.workflows import Lifecycle, Outcome, store

if TYPE_CHECKING:
    from wa_addon.runtime import Runtime

# States
PENDING = "pending"
APPROVED = "approved"
DENIED = "denied"
EXPIRED = "expired"
STATES = [PENDING, APPROVED, DENIED, EXPIRED]

# Triggers
APPROVE = "approve"
DENY = "deny"
EXPIRE = "expire"

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": APPROVE, "source": PENDING, "dest": APPROVED},
    {"trigger": DENY, "source": PENDING, "dest": DENIED},
    {"trigger": EXPIRE, "source": PENDING, "dest": EXPIRED},
]

LIFECYCLE = Lifecycle("balance_request", STATES, TRANSITIONS, PENDING, timed=PENDING)


def apply(rt: Runtime, balance_request_id: object, trigger_or_status: str, source: str = "admin",
          cause: str | None = None) -> Outcome:
    """Approve, deny or expire a balance request (by trigger or status); atomic against races.

    An admin command should check :func:`state` is ``pending`` before asking
    the host, then call this after the host agreed.
    """
    return LIFECYCLE.apply(rt, balance_request_id, trigger_or_status, source=source, cause=cause)


def start(rt: Runtime, balance_request_id: object, status: str = PENDING, *, cause: str,
          info: dict[str, Any] | None = None) -> Outcome:
    """Record a new balance request (``info``: reseller phone, language, amount...)."""
    return LIFECYCLE.start(rt, balance_request_id, status, cause=cause, info=info)


def state(rt: Runtime, balance_request_id: object) -> str | None:
    """The balance request's state as the add-on knows it (None: never heard of it)."""
    return LIFECYCLE.state(rt, balance_request_id)


def expire_due(rt: Runtime, now: float | None = None) -> list[Outcome]:
    """Expire balance requests pending longer than ``balance_request_expiry``.

    Returns:
        The outcome of each balance request this call expired.
    """
    now = time.time() if now is None else now
    expired = []
    for ident, _ in store.due(rt, LIFECYCLE.name, now - rt.settings.balance_request_expiry):
        outcome = apply(rt, ident, EXPIRE, source="timer", cause=f"expire:{ident}")
        if outcome.changed:
            expired.append(outcome)
        else:
            store.take(rt, LIFECYCLE.name, ident)  # an orphan (its record timed out): drop it
    return expired
