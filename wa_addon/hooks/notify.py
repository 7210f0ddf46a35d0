"""Host events to notifications, in the worker.

Each event steps its lifecycle first (requests, balance requests); only the
event that made the change notifies, so a duplicate, out-of-order or racing
event sends nothing.  Notification ids derive from the transition (or the
event, or the payment), so the same change reached twice by a re-run is sent
once.

To the admin numbers: each new request, each balance request (with the
ACCEPT / DENY line), each request stuck in processing.  To the reseller:
request success / failed / cancelled, balance added, balance request denied
or expired, welcome, account edited, account reset.  ``otp.requested`` and
``message.send`` go to the phone they name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import phonenumbers

from wa_addon import otp
from wa_addon.commands.catalog import package_label
from wa_addon.hooks import events as ev
from wa_addon.hooks.events import Event
from wa_addon.host import HostError, HostUnavailable
from wa_addon.messages import Outbound
from wa_addon.notifications import Notes, Recipient
from wa_addon.phones import national, parse_phone
from wa_addon.render import mask
from wa_addon.runtime import Runtime
from wa_addon.sealing import sealer
from wa_addon.store import DOWN, StoreUnavailable
from wa_addon.transports import window
from wa_addon.workflows import Outcome
from wa_addon.workflows import balance_approval as approval
from wa_addon.workflows import request as request_wf

log = logging.getLogger(__name__)

Handler = Callable[[Runtime, Event], list[Outbound]]
# Not news to the reseller: internal to the host, or told by every reply from now on (LANG answers itself).
HIDDEN_CHANGES = frozenset({"wa_user_id", "language"})


def process(rt: Runtime, raw: str) -> tuple[str | None, list[Outbound]]:
    """The event lane's processor: one queued event -> the notifications it makes."""
    event = Event.from_json(raw)
    event = Event(event.id, event.type, event.created_at, sealer(rt.settings).open_fields(event.data))
    try:
        msgs = HANDLERS[event.type](rt, event)
    except (HostUnavailable, StoreUnavailable, *DOWN):
        raise  # kept in the lane and tried again later
    except HostError as err:
        log.warning("event %s (%s): host refused a lookup: %s", event.id, event.type, err.code)
        msgs = []
    except Exception:
        # A bug: the lane keeps the event in its dead letters; acknowledging it here would lose
        # the notification.  Id and type only: the data may hold a password or a PIN.
        log.error("event %s (%s) failed; set aside in the dead letters", event.id, event.type)
        raise
    # Sealed, then a closed 24-hour window gets the template; bodies are kept for a late "failed" status.
    msgs = window.prepare(rt, sealer(rt.settings).seal_messages(msgs))
    log.info("event %s (%s): %d notifications", event.id, event.type, len(msgs))
    return None, msgs


# -- requests ---------------------------------------------------------------


def on_request_created(rt: Runtime, event: Event) -> list[Outbound]:
    data = event.data
    status = data.get("status") or request_wf.PENDING
    data = {**data, "what": _what(rt, data)}
    outcome = request_wf.LIFECYCLE.start(rt, data["id"], status, cause=event.id, info=_request_info(data))
    if not outcome.changed:
        return []
    notes = Notes(rt, outcome.transition_id)
    rid = data["id"]
    notes.admins(
        "request_created",
        "notify_request_created",
        buttons=((f"COMPLETE {rid}", "complete"), (f"CANCEL {rid}", "cancel")),
        **_request_context(data, masked=True, region=rt.settings.country),
    )
    return notes.out


def on_request_updated(rt: Runtime, event: Event) -> list[Outbound]:
    data = event.data
    outcome = request_wf.LIFECYCLE.follow(rt, data["id"], data["status"], cause=event.id, info=_request_info(data))
    return request_changed(rt, outcome, data)


def request_changed(rt: Runtime, outcome: Outcome, data: dict[str, Any]) -> list[Outbound]:
    """The reseller's notification for a request transition (call it only as the winner).

    Args:
        rt: the runtime.
        outcome: what ``request.LIFECYCLE.follow`` answered; nothing unless ``changed``.
        data: the ``request.updated`` data: reseller_id, number, amount,
            trx_id, note, balance_after, and optionally ``reseller`` {phone, language}.
    """
    message = _told(outcome) if outcome.changed else None
    if message is None:
        return []
    data = _with_recorded(rt, outcome, data)
    to, balance = _balance_now(rt, data["reseller_id"])
    notes = Notes(rt, outcome.transition_id)
    context = _request_context({**data, "what": _what(rt, data)}, masked=False, region=rt.settings.country)
    reason = data.get("note") or "" if outcome.state != request_wf.PENDING else ""  # a resend's old failure note
    notes.send(
        to, "request_updated", message, **context, trx_id=data.get("trx_id") or "", reason=reason, balance=balance
    )
    return notes.out


def _with_recorded(rt: Runtime, outcome: Outcome, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with what it leaves out (number, amount, ...) taken from when the request was first seen.

    A host may send a status change with the id and status only; the message
    must still say what the request was, never "None".
    """
    if all(data.get(key) not in (None, "") for key in ("number", "amount", "service")):
        return data
    recorded = request_wf.LIFECYCLE.info(rt, outcome.ident)
    return {
        **{k: v for k, v in recorded.items() if v is not None},
        **{k: v for k, v in data.items() if v not in (None, "")},
    }


def _told(outcome: Outcome) -> str | None:
    """The reseller's message for a transition: success, failed, cancelled, or resent (charged again)."""
    if outcome.state in request_wf.TOLD:
        return f"notify_request_{outcome.state}"
    if outcome.state == request_wf.PENDING and outcome.previous in request_wf.RESENT_FROM:
        return "notify_request_resent"
    return None


def _balance_now(rt: Runtime, reseller_id: Any) -> tuple[Recipient, str]:
    """The reseller and its balance now: an event's ``balance_after`` is the balance back then."""
    reseller = rt.host.get_reseller(str(reseller_id))
    return Recipient(reseller.phone, reseller.language), reseller.balance


def _what(rt: Runtime, data: dict[str, Any]) -> str:
    """What was asked for: a package by its name (``GP1 — 1GB 7 days``), else the service code."""
    if data.get("what"):
        return str(data["what"])  # named when the request was first seen
    if data.get("package"):
        return package_label(rt.host, str(data["package"]), data.get("operator"))
    return str(data.get("service") or "")


def _request_info(data: dict[str, Any]) -> dict[str, Any]:
    person = data.get("reseller") or {}
    keys = ("reseller_id", "service", "number", "amount", "type", "package", "what")
    return {**{k: data.get(k) for k in keys}, "name": person.get("name"), "username": person.get("username")}


def _request_context(data: dict[str, Any], *, masked: bool, region: str = "BD") -> dict[str, Any]:
    # The number is shown whole only to the reseller who asked for it.
    number = _local(str(data.get("number") or ""), region)
    person = data.get("reseller") or {}
    package = data.get("package")
    return {
        "id": data["id"],
        "service": data.get("service") or "",
        "type": "" if package else data.get("type") or "",
        "operator": "" if package else data.get("operator") or "",  # a package's name says it
        "what": data.get("what") or package or data.get("service") or "",
        "number": mask(number) if masked else number,
        "amount": data.get("amount"),
        "name": person.get("name") or data.get("name") or "",
    }


def _local(number: str, region: str) -> str:
    """A home-country phone as shop owners write it (8801712345678 -> 01712345678); else as is."""
    prefix = str(phonenumbers.country_code_for_region(region))
    if number.isdigit() and number.startswith(prefix) and parse_phone(number, region) == number:
        return national(number, region)
    return number


# -- balance ----------------------------------------------------------------


def on_balance_added(rt: Runtime, event: Event) -> list[Outbound]:
    data = event.data
    payment = data.get("payment_id")
    notes = Notes(rt, f"payment:{payment}" if payment is not None else event.id)
    to, balance = _balance_now(rt, data["reseller_id"])  # the event's balance misses moves made since
    notes.send(
        to,
        "balance_added",
        "notify_balance_added",
        amount=data["amount"],
        balance=balance,
        by=(data.get("by") or {}).get("name") or "",
    )
    return notes.out


def on_balance_request_created(rt: Runtime, event: Event) -> list[Outbound]:
    data = event.data
    status = data.get("status") or approval.PENDING
    outcome = approval.LIFECYCLE.start(rt, data["id"], status, cause=event.id, info=_balance_request_info(data))
    if not outcome.changed or outcome.state != approval.PENDING:
        return []
    person = data.get("reseller") or {}
    notes = Notes(rt, outcome.transition_id)
    taps = ((f"ACCEPT {data['id']}", "accept"), (f"DENY {data['id']}", "deny"))
    notes.admins(
        "balance_request",
        "notify_balance_request",
        buttons=taps,
        id=data["id"],
        amount=data["amount"],
        name=person.get("name") or "",
        username=person.get("username") or "",
        note=data.get("note") or "",
    )
    return notes.out


def on_balance_request_updated(rt: Runtime, event: Event) -> list[Outbound]:
    data = event.data
    outcome = approval.LIFECYCLE.follow(
        rt, data["id"], data["status"], cause=event.id, info=_balance_request_info(data)
    )
    return balance_request_changed(rt, outcome, data)


def balance_request_changed(rt: Runtime, outcome: Outcome, data: dict[str, Any] | None = None) -> list[Outbound]:
    """The reseller's notification for a denied or expired balance request (call it only as the winner).

    An approval sends nothing here: the host's ``balance.added`` tells the reseller.

    Args:
        rt: the runtime.
        outcome: what the lifecycle answered; nothing unless ``changed``.
        data: the ``balance_request.updated`` data; None for the expiry,
            which has only what was saved when the balance request was recorded.
    """
    if not outcome.changed or outcome.state not in (approval.DENIED, approval.EXPIRED):
        return []
    info = approval.LIFECYCLE.info(rt, outcome.ident)  # the phone, if the host sent it; else the host is asked
    to = Recipient(info["phone"], info.get("language") or "") if info.get("phone") else _owner(rt, data or info)
    notes = Notes(rt, outcome.transition_id)
    notes.send(
        to,
        "balance_request_updated",
        f"notify_balance_request_{outcome.state}",
        id=outcome.ident,
        amount=(data or {}).get("amount") or info.get("amount"),
    )
    return notes.out


def _balance_request_info(data: dict[str, Any]) -> dict[str, Any]:
    # What the expiry notice needs a day later; the phone only if the host sent it (no lookup now).
    person = data.get("reseller") or {}
    return {
        "reseller_id": data["reseller_id"],
        "amount": data.get("amount"),
        "phone": person.get("phone"),
        "language": person.get("language"),
        "name": person.get("name"),
        "username": person.get("username"),
    }


# -- resellers --------------------------------------------------------------


def on_reseller_created(rt: Runtime, event: Event) -> list[Outbound]:
    data = event.data
    notes = Notes(rt, event.id)
    password, pin = data.get("password") or "", data.get("pin") or ""  # only if the host chose to send them
    notes.send(
        _itself(rt, data),
        "reseller_created",
        "notify_reseller_created",
        secret=bool(password or pin),
        name=data.get("name") or "",
        username=data.get("username") or "",
        password=password,
        pin=pin,
    )
    return notes.out


def on_reseller_updated(rt: Runtime, event: Event) -> list[Outbound]:
    data = event.data
    changes = [_change(name, value) for name, value in data["changes"].items() if name not in HIDDEN_CHANGES]
    if not changes:
        return []
    notes = Notes(rt, event.id)
    summary = "; ".join(f"{c['field']}: {c['new']}" for c in changes)
    notes.send(
        _itself(rt, data),
        "reseller_updated",
        "notify_reseller_updated",
        name=data.get("name") or "",
        changes=changes,
        summary=summary,
    )
    return notes.out


def on_reseller_reset(rt: Runtime, event: Event) -> list[Outbound]:
    data = event.data
    notes = Notes(rt, event.id)
    notes.send(
        _itself(rt, data),
        "reseller_reset",
        "notify_reseller_reset",
        secret=True,
        name=data.get("name") or "",
        username=data.get("username") or "",
        password=data["password"],
        pin=data["pin"],
    )
    return notes.out


def _change(name: str, value: Any) -> dict[str, str]:
    before, after = (value.get("from"), value.get("to")) if isinstance(value, dict) else (None, value)
    return {"field": name, "old": _shown(before), "new": _shown(after)}


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return "-" if value in (None, "") else str(value)


# -- codes and free text ----------------------------------------------------


def on_otp_requested(rt: Runtime, event: Event) -> list[Outbound]:
    data = event.data
    phone, code = data["phone"], data.get("code")
    if not rt.switches.notify("otp"):
        return []  # no code is issued that would never be sent
    minutes: int | None = None  # the add-on's own code: good for otp_ttl
    if code:  # the host's own code: only delivered
        minutes = int(data.get("expires_in") or 0) // 60  # whole seconds, checked at the door
    else:
        try:
            code = otp.issue(rt, phone, cause=event.id)
        except otp.RateLimited:
            log.warning("event %s: one-time code for %s refused, rate limit", event.id, mask(phone))
            return []
    return otp.message(rt, phone, str(code), data.get("language"), cause=event.id, minutes=minutes)


def on_message_send(rt: Runtime, event: Event) -> list[Outbound]:
    notes = Notes(rt, event.id)
    notes.send(_phone(rt, event.data), "message", "message", text=event.data["text"])
    return notes.out


# -- who gets it ------------------------------------------------------------


def _owner(rt: Runtime, data: dict[str, Any]) -> Recipient:
    """The reseller an event is about: from its ``reseller`` summary, else from the host."""
    person = data.get("reseller") or {}
    if person.get("phone"):
        return Recipient(person["phone"], person.get("language") or rt.switches.default_language())
    reseller = rt.host.get_reseller(str(data["reseller_id"]))
    return Recipient(reseller.phone, reseller.language)


def _itself(rt: Runtime, data: dict[str, Any]) -> Recipient:
    """The reseller a ``reseller.*`` event describes."""
    if data.get("phone"):
        return Recipient(data["phone"], data.get("language") or rt.switches.default_language())
    reseller = rt.host.get_reseller(str(data["id"]))
    return Recipient(reseller.phone, reseller.language)


def _phone(rt: Runtime, data: dict[str, Any]) -> Recipient:
    return Recipient(data["phone"], data.get("language") or rt.switches.default_language())


HANDLERS: dict[str, Handler] = {
    ev.REQUEST_CREATED: on_request_created,
    ev.REQUEST_UPDATED: on_request_updated,
    ev.BALANCE_ADDED: on_balance_added,
    ev.BALANCE_REQUEST_CREATED: on_balance_request_created,
    ev.BALANCE_REQUEST_UPDATED: on_balance_request_updated,
    ev.RESELLER_CREATED: on_reseller_created,
    ev.RESELLER_UPDATED: on_reseller_updated,
    ev.RESELLER_RESET: on_reseller_reset,
    ev.OTP_REQUESTED: on_otp_requested,
    ev.MESSAGE_SEND: on_message_send,
}
