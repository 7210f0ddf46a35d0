"""The device transport: Android phones (WhatsApp with Notification access) as relays.

Sending keeps the outbox pipeline uniform: the outbox drain calls
:meth:`DeviceTransport.send`, which hands the message to the phones' lease
queue (:mod:`wa_addon.transports.device_queue`) and returns SENT, so the
outbox records status ``handed``; the phone's ack later writes ``sent`` or
``failed`` on the same status hash.  Receiving: the phones post what they see
to :mod:`wa_addon.transports.device_resource`, which hands it to the same
intake as the Cloud API.

The protocol a phone app speaks is in ``docs/device-protocol.md``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import redis

from wa_addon import redis_conn
from wa_addon.messages import Inbound, Outbound, short_hash
from wa_addon.phones import parse_phone
from wa_addon.settings import Settings
from wa_addon.store import SET_NX_GET_LUA, Keys, StoreUnavailable
from wa_addon.store import text as as_text
from wa_addon.transports.base import FAILED, RETRY, SENT, SendResult
from wa_addon.transports.device_queue import LEASE_ID, UNKNOWN, Leased, LeaseQueue
from wa_addon.transports.device_tokens import ContactNames, TokenRegistry, parse_names, token_hash

log = logging.getLogger(__name__)

NAME = "device"
AFFINITY_TTL = 24 * 3600  # replies go back through the phone the contact wrote to, for a day
REDIS_RETRY = 5.0


class DeviceTransport:
    """Hands outbound messages to the phones; owns their tokens and contact names.

    Args:
        settings: uses the Redis settings, ``namespace``, ``country`` and the ``device_*`` fields.
        conn: a Redis connection; built from the settings (:func:`redis_conn.connect`) when omitted.
    """

    name = NAME
    sent_status = "handed"  # what the outbox records when send() succeeds: not yet on WhatsApp

    def __init__(self, settings: Settings, conn: redis.Redis | None = None):
        self.settings = settings
        self.conn = conn or redis_conn.connect(settings, socket_timeout=10, health_check_interval=30)
        self.keys = Keys(settings.namespace)
        self.queue = LeaseQueue(
            self.conn,
            self.keys,
            lease=settings.device_lease,
            online=settings.device_online,
            max_attempts=settings.device_max_attempts,
        )
        self.tokens = TokenRegistry(self.conn, self.keys, online=settings.device_online)
        self.names = ContactNames(self.conn, self.keys, self._numbers(parse_names(settings.device_names)))
        self.pins = parse_pins(settings.device_pins, settings.country)
        self._set_nx_get = self.conn.register_script(SET_NX_GET_LUA)

    def send(self, message: Outbound) -> SendResult:
        """Queue ``message`` for the phones (SENT = handed over, in order per recipient)."""
        if not message.to.isdigit():
            return SendResult(FAILED, error_code="no_number", error="a phone can only send to a phone number")
        try:
            self.queue.handoff(message, self.pins.get(message.to, ""))
        except StoreUnavailable:
            return SendResult(RETRY, retry_after=REDIS_RETRY, error_code="redis", error="Redis unavailable")
        return SendResult(SENT)

    def housekeep(self, now: float | None = None) -> int:
        """Requeue expired leases (their phone went silent); returns how many."""
        return self.queue.expire(now)

    def close(self) -> None:
        self.conn.close()

    # --- administration: the CLI and the admin page call these -----------------

    def add_phone(self, name: str) -> str:
        """Register a phone; returns its bearer token (shown once)."""
        return self.tokens.add(name)

    def revoke_phone(self, name: str) -> bool:
        """Revoke a phone's token and give its leased messages to the other phones."""
        found = self.tokens.revoke(name)
        self.queue.release_device(name)
        return found

    def report(self) -> list[str]:
        """One line per phone (last contact, online) and one for the queue."""
        now = time.time()
        lines = []
        for phone in self.tokens.phones():
            seen = f"{now - phone.last_contact:.0f} s ago" if phone.last_contact else "never"
            lines.append(f"{phone.name:<20} {'online ' if phone.online else 'offline'}  last contact {seen}")
        counts = self.queue.counts()
        lines.append(f"queue: {counts['queued']} waiting, {counts['leased']} leased")
        return lines

    def map_name(self, name: str, number: str) -> str:
        """Map a contact name (as the phones show it) to a number; returns the number."""
        e164 = parse_phone(number, self.settings.country)
        if e164 is None:
            raise ValueError(f"not a phone number: {number}")
        self.names.map(name, e164)
        return e164

    # --- the phones' long poll and acks: leases are tied to the token -----------

    def poll(self, phone: str, token: str, seconds: float, max_count: int) -> list[Leased] | None:
        """Lease to ``phone`` (waiting up to ``seconds``); None once its token is revoked.

        Every lease checks the token in the same script that leases
        (:meth:`LeaseQueue.lease_as`), so nothing queued after a revocation
        goes to the revoked phone; a revocation wakes every open poll, so the
        revoked one ends at once.  Each lease records the token, so a new
        token under the same name cannot ack the old one's leases.
        """
        digest = token_hash(token)
        leased = self.queue.await_(
            lambda: self.queue.lease_as(phone, digest, max_count), lambda got: got is None or bool(got), seconds
        )
        return leased

    def ack(self, phone: str, token: str, lease: str, status: str, error: str) -> str:
        """A phone's verdict on a lease it holds under this very token (else ``unknown``)."""
        match = LEASE_ID.match(lease)
        bound = self.conn.hget(self.keys.device_msg(match.group(1)), _token_field(lease)) if match else None
        if bound is None or as_text(bound) != _fingerprint(token):
            return UNKNOWN
        return self.queue.ack(phone, lease, status, error)

    # --- receiving ---------------------------------------------------------------

    def authenticate(self, token: str | None) -> str | None:
        """The phone a bearer token belongs to (its last contact recorded), or None."""
        name = self.tokens.verify(token)
        if name is not None:
            self.tokens.touch(name)
        return name

    def sender_number(self, sender: str) -> str | None:
        """A sender as a phone shows it (a number, or a contact's name) -> E.164 digits."""
        return parse_phone(sender, self.settings.country) or self.names.lookup(sender)

    def remember(self, device: str, senders: Iterable[str]) -> None:
        """Replies to these senders go back through ``device`` (while it is online)."""
        pipe = self.conn.pipeline(transaction=False)
        for sender in set(senders):
            pipe.set(self.keys.device_affinity(sender), device, ex=AFFINITY_TTL)
        pipe.execute()

    def chat(self, sender: str, text: str, via: str = "") -> Inbound:
        """An AutoResponder message (no message id) with its sender+text window dedupe.

        Within ``device_dedupe_window`` the same sender and text is the same
        message (the same id): AutoResponder repeats a request it thinks
        failed, and the repeat waits for the same reply (the intake drops it
        by its id).
        """
        key = self.keys.device_chat(short_hash(f"{sender}\n{text}"))
        own = f"ar{time.time_ns():x}"
        earlier = self._set_nx_get(keys=[key], args=[own, self.settings.device_dedupe_window])
        msg_id = as_text(earlier) if earlier else own
        return Inbound(
            transport=NAME, msg_id=f"{sender}:{msg_id}", sender=sender, text=text, timestamp=int(time.time()), via=via
        )

    def exchange(self, device: str, to: str, reply_id: str, seconds: float, token: str = "") -> list[Outbound]:
        """Wait up to ``seconds`` for ``reply_id``; take ``to``'s queued messages as they come.

        Each message is recorded as sent by ``device`` as it is taken, before
        the caller's answer is written.  The caller holds ``to``'s messages
        from the polling phones meanwhile (:meth:`LeaseQueue.hold`).  With
        ``token``, nothing is taken once it is revoked (what was taken before
        is still answered: it is recorded as sent through this phone).

        Returns:
            The messages taken, in order: the reply, and anything else queued
            for ``to``; without the reply if it was late (maybe none at all).
        """
        taken: list[Outbound] = []
        digest = token_hash(token) if token else ""

        def attempt() -> bool:
            got = self.queue.take_for(device, to, digest)
            if got is None:  # revoked: the exchange ends with what it took before
                return True
            taken.extend(got)
            return self.queue.state(reply_id).get("state") in ("sent", "failed")

        self.queue.await_(attempt, bool, seconds)
        return taken

    @staticmethod
    def _numbers(names: dict[str, str]) -> dict[str, str]:
        return {name: parse_phone(number) or number for name, number in names.items()}


def _token_field(lease: str) -> str:
    return "tok:" + lease.rsplit(".", 1)[-1]  # written by the lease script (device_queue.LEASE_LUA)


def _fingerprint(token: str) -> str:
    return token_hash(token)[:16]  # enough to tell two tokens apart; the token itself never stored


def parse_pins(items: Iterable[str], country: str = "BD") -> dict[str, str]:
    """``"phone1:8801711000000;8801822222222"`` items -> {number: "phone1[,phone2]"}.

    Numbers may be separated by ``;``, ``|`` or spaces; a number pinned to
    several phones may go through any of them.
    """
    pins: dict[str, list[str]] = {}
    for item in items:
        phone, _, numbers = item.partition(":")
        for raw in numbers.replace("|", ";").replace(" ", ";").split(";"):
            number = parse_phone(raw, country) if raw else None
            if number and phone.strip():
                pins.setdefault(number, []).append(phone.strip())
    return {number: ",".join(phones) for number, phones in pins.items()}
