"""The transport port: how one outbound message leaves, whatever carries it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from wa_addon.messages import Outbound

# What the outbox does with a message after a send attempt.
SENT = "sent"  # done: record the transport's message id
RETRY = "retry"  # transient (rate limit, 5xx, network): keep it, try later, in order
FAILED = "failed"  # permanent: keep it in the failed list for the admin to retry
REENGAGE = "reengage"  # outside the 24-hour window: send again as a template


@dataclass(frozen=True)
class SendResult:
    """The outcome of one send.

    Attributes:
        outcome: one of SENT, RETRY, FAILED, REENGAGE.
        wa_msg_id: the transport's id for the sent message.
        retry_after: seconds to wait before the next try (RETRY).
        error_code: the transport's error code, e.g. Meta's ``error.code``.
        error: a short human-readable reason (never a token).
        scope: what a RETRY holds back: ``transport`` (every send: an outage,
            the number's throughput limit) or ``recipient`` (only this
            recipient's messages: the pair rate limit).
    """

    outcome: str
    wa_msg_id: str | None = None
    retry_after: float | None = None
    error_code: str | None = None
    error: str | None = None
    scope: str = "transport"

    @property
    def ok(self) -> bool:
        return self.outcome == SENT


@runtime_checkable
class Transport(Protocol):
    """Sends outbound messages.  Inbound arrives through the transport's own resource."""

    name: str

    def send(self, message: Outbound) -> SendResult:
        """Try once to send ``message``; never raises for a delivery error."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
