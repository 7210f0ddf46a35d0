"""The typed messages every layer shares: what came in, what goes out.

Transports turn their wire formats into :class:`Inbound` and
:class:`StatusUpdate`, and take :class:`Outbound` to send.  Nothing else knows
Meta's JSON or the phone app's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

# Inbound.kind of WhatsApp's "this user now writes from another number": ``sender`` is the
# old number, ``text`` the new one; the host is told, nobody is answered.
NUMBER_CHANGED = "user_changed_number"


@dataclass(frozen=True)
class Inbound:
    """One chat message received on a transport.

    Attributes:
        transport: the transport's name (``cloud``, ``device``, ...).
        msg_id: the transport's id of the message (``wamid...`` on Cloud API).
        sender: the sender's phone in E.164 digits without ``+``, or "" when
            the transport withholds it.
        text: the text (for an interactive reply, the chosen reply's id/title).
        user_id: the business-scoped user id, when the transport gives one.
        name: the profile name the transport shows, if any.
        timestamp: unix seconds as the transport reported them.
        kind: ``text``, ``interactive``, ``button``, or the media type (``image``,
            ``audio``, ...; text "") so the command layer can answer with a usage line.
        via: the device-transport phone that relayed the message ("" elsewhere):
            such a sender is only the phone's word (see ``commands/admin_pin.py``).
    """

    transport: str
    msg_id: str
    sender: str
    text: str
    user_id: str | None = None
    name: str | None = None
    timestamp: int = 0
    kind: str = "text"
    via: str = ""

    @property
    def chat(self) -> str:
        """Whom the chat is with: the sender's phone, or the user id a transport gives without one."""
        return self.sender or self.user_id or ""

    @property
    def dedupe_id(self) -> str:
        """A short stable id for dedupe keys and RQ-safe job ids."""
        return short_hash(f"{self.transport}:{self.msg_id}")

    @property
    def reply_id(self) -> str:
        """The id of the one reply to this message (a re-run queues the same id: sent once)."""
        return short_hash(f"{self.dedupe_id}:reply")

    def to_json(self) -> str:
        return _dumps(self)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Inbound:
        return cls(**json.loads(raw))


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery status of a message we sent (sent, delivered, read, failed)."""

    transport: str
    wa_msg_id: str
    status: str
    recipient: str = ""
    timestamp: int = 0
    error: str | None = None

    def to_json(self) -> str:
        return _dumps(self)

    @classmethod
    def from_json(cls, raw: str | bytes) -> StatusUpdate:
        return cls(**json.loads(raw))


@dataclass(frozen=True)
class Outbound:
    """One message to send.

    Attributes:
        id: our id for the message; the same id is never queued twice.
        to: recipient phone, E.164 digits without ``+``.
        text: the rendered text.
        kind: what produced it (``reply``, ``notify.balance_added``, ...).
        template: an approved Cloud API template name to use outside the
            24-hour window, with ``params`` its body parameters.
        mode: ``text``, or ``template`` to send ``template`` with ``params``.
        secret: the text holds a password or PIN; never journaled or logged.
        attempts: sends tried so far.
        choices: taps instead of typing, each ``{"id": the command it stands
            for, "title": ..., "description": ...}``; a transport that has
            buttons or lists offers them, any other sends ``text`` alone
            (which always says what to type).
        menu: the list's button label; empty: the choices are reply buttons.
        queued_at: when it last entered an outbox (set there; the age of
            the outbox's oldest message in ``GET /metrics``).
    """

    id: str
    to: str
    text: str
    kind: str = "reply"
    template: str | None = None
    params: list[str] = field(default_factory=list)
    language: str = "en"
    mode: str = "text"  # text | template (outside the Cloud API's 24-hour window)
    secret: bool = False  # carries a password or PIN: journals keep no text
    attempts: int = 0
    choices: list[dict[str, str]] = field(default_factory=list)
    menu: str = ""  # a list message's button label; "" with choices: reply buttons
    queued_at: float = field(default=0.0, compare=False)  # Unix time it last entered an outbox (lane age metric)

    def to_json(self) -> str:
        return _dumps(self)

    def queued_json(self, at: float) -> str:
        """Its JSON as it enters an outbox at ``at`` (``queued_at`` set; no copy of the message made)."""
        return json.dumps({**vars(self), "queued_at": at}, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Outbound:
        return cls(**json.loads(raw))


def _dumps(message: Any) -> str:
    # vars(), not dataclasses.asdict(): asdict deep-copies every field, and it
    # was a third of the worker's time per notification (fields are flat).
    return json.dumps(vars(message), ensure_ascii=False, separators=(",", ":"))


def short_hash(text: str, size: int = 24) -> str:
    """A hex digest prefix: safe in Redis keys and RQ job ids."""
    return hashlib.sha256(text.encode()).hexdigest()[:size]
