"""Meta WhatsApp Cloud API, what comes in: the webhook's signature and its messages and statuses.

No web framework in here (pywa style): :func:`verify_signature` and
:func:`parse_webhook` take the raw request bytes;
:mod:`wa_addon.transports.cloud_resource` is the thin Falcon resource in
front of them, :mod:`wa_addon.transports.cloud` sends.  Meta's JSON is read
tolerantly (:func:`dicts`, :func:`get`, :func:`as_str`, :func:`as_code`): a
field missing or of the wrong type reads as empty, here and in the Graph
API's answers to a send.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

from wa_addon.messages import NUMBER_CHANGED, Inbound, StatusUpdate

log = logging.getLogger(__name__)

NAME = "cloud"
WEBHOOK_OBJECT = "whatsapp_business_account"
SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")

# Message types that are not something the user typed: no usage line for them.  An edit or a
# deletion ("revoke") of a message already answered is not a new command either.
IGNORED_TYPES = frozenset({"system", "reaction", "edit", "revoke"})
# Interactive answers to something we never ask: a flow's completion, a call permission.
IGNORED_INTERACTIVE = frozenset({"nfm_reply", "call_permission_reply"})


class WebhookError(ValueError):
    """The body is not a WhatsApp webhook we can read (answer 400).

    Attributes:
        reason: a short reason, safe to return to the caller.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify_signature(app_secret: str, raw: bytes, header: str | None) -> bool:
    """Check ``X-Hub-Signature-256`` against the raw body.

    The HMAC is over the bytes exactly as received: Meta escapes ``/`` and
    non-ASCII characters, so a re-serialised body would not match.

    Args:
        app_secret: the Meta app secret; empty means nothing can be verified.
        raw: the request body bytes.
        header: the header value, ``sha256=<64 hex digits>``.

    Returns:
        True only for a well-formed header whose digest matches.
    """
    if not app_secret or not isinstance(header, str):
        return False
    match = _SIGNATURE.fullmatch(header.strip())
    if match is None:
        return False
    expected = hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, match.group(1).lower())


def signature_header(app_secret: str, raw: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta would send for ``raw``."""
    return "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


def parse_webhook(raw: bytes | str, phone_number_id: str = "") -> tuple[list[Inbound], list[StatusUpdate]]:
    """Every message and status in a (possibly batched) webhook body.

    Walks every entry, every ``messages`` change, every message and status.
    Optional fields may be missing or of the wrong type: such items are read
    as far as they go, or skipped when they have no id or no sender.

    Args:
        raw: the request body.
        phone_number_id: ours; changes addressed to another number of the same
            business account (they share the webhook) are skipped.  Empty: take all.

    Returns:
        The inbound messages and the delivery statuses, in payload order.

    Raises:
        WebhookError: the body is not JSON or not a WhatsApp webhook.
    """
    payload = _load(raw)
    inbound: list[Inbound] = []
    statuses: list[StatusUpdate] = []
    for value in _message_values(payload):
        addressed = as_str(get(value, "metadata", "phone_number_id"))
        if phone_number_id and addressed and addressed != phone_number_id:
            continue  # another number's chat: not ours to answer
        contacts = dicts(value.get("contacts"))
        inbound += [m for m in (_inbound(msg, contacts) for msg in dicts(value.get("messages"))) if m]
        statuses += [s for s in map(_status, dicts(value.get("statuses"))) if s]
        _log_value_errors(value)
    return inbound, statuses


def _load(raw: bytes | str) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except (ValueError, TypeError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise WebhookError("body is not JSON") from exc
    if not isinstance(payload, dict) or payload.get("object") != WEBHOOK_OBJECT:
        raise WebhookError("not a WhatsApp Business Account webhook")
    if not isinstance(payload.get("entry"), list):
        raise WebhookError("webhook has no entry list")
    return payload


def _message_values(payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The ``value`` of every ``messages`` change of every entry."""
    for entry in dicts(payload["entry"]):
        for change in dicts(entry.get("changes")):
            value = change.get("value")
            if change.get("field", "messages") == "messages" and isinstance(value, dict):
                yield value


def _inbound(msg: dict[str, Any], contacts: list[dict[str, Any]]) -> Inbound | None:
    kind = as_str(msg.get("type")) or "unknown"
    msg_id = as_str(msg.get("id"))
    if kind == "system" and as_str(get(msg, "system", "type")) == NUMBER_CHANGED:
        return _number_changed(msg, msg_id)
    if not msg_id or kind in IGNORED_TYPES or as_str(get(msg, "interactive", "type")) in IGNORED_INTERACTIVE:
        return None
    phone = _phone(msg.get("from"))
    user_id = as_str(msg.get("from_user_id"))
    contact = _match_contact(contacts, phone, user_id)
    phone = phone or _phone(contact.get("wa_id"))
    user_id = user_id or as_str(contact.get("user_id"))
    if not phone and not user_id:
        return None  # nobody to answer or to identify
    profile = contact.get("profile")
    name = as_str(profile.get("name")) if isinstance(profile, dict) else ""
    reader = _TEXT_READERS.get(kind)
    return Inbound(
        transport=NAME,
        msg_id=msg_id,
        sender=phone,
        text=reader(msg) if reader else "",
        user_id=user_id or None,
        name=name or None,
        timestamp=_int(msg.get("timestamp")),
        kind=kind,
    )


def _number_changed(msg: dict[str, Any], msg_id: str) -> Inbound | None:
    """``user_changed_number``: ``from`` is the old number, ``system.wa_id`` the new one (the Inbound's text)."""
    old, new = _phone(msg.get("from")), _phone(get(msg, "system", "wa_id"))
    if not msg_id or not old or not new:
        return None
    return Inbound(
        transport=NAME, msg_id=msg_id, sender=old, text=new, timestamp=_int(msg.get("timestamp")), kind=NUMBER_CHANGED
    )


def _match_contact(contacts: list[dict[str, Any]], phone: str, user_id: str) -> dict[str, Any]:
    """The contact describing this sender: by phone, by BSUID, or the only one."""
    for contact in contacts:
        if phone and _phone(contact.get("wa_id")) == phone:
            return contact
        if user_id and as_str(contact.get("user_id")) == user_id:
            return contact
    if len(contacts) != 1:
        return {}
    # Meta sends one contact per sender.  A lone contact that did not match
    # is still ours unless it names a different phone or BSUID.
    only = contacts[0]
    clash = (phone and as_str(only.get("wa_id"))) or (user_id and as_str(only.get("user_id")))
    return {} if clash else only


def _text_body(msg: dict[str, Any]) -> str:
    return as_str(get(msg, "text", "body"))


def _interactive_text(msg: dict[str, Any]) -> str:
    """The chosen reply's id, or its title when the id is empty.

    The id wins because we set it when sending the buttons or list (a command
    such as ``BAL``); the title is a display label, possibly in Bengali.
    """
    interactive = msg.get("interactive")
    if not isinstance(interactive, dict):
        return ""
    kinds = (as_str(interactive.get("type")), "button_reply", "list_reply")
    reply = next((r for r in map(interactive.get, kinds) if isinstance(r, dict)), {})
    return as_str(reply.get("id")) or as_str(reply.get("title"))


def _button_text(msg: dict[str, Any]) -> str:
    """A template quick-reply: its payload (ours, like an id), else its label."""
    return as_str(get(msg, "button", "payload")) or as_str(get(msg, "button", "text"))


_TEXT_READERS = {"text": _text_body, "interactive": _interactive_text, "button": _button_text}


def _status(item: dict[str, Any]) -> StatusUpdate | None:
    wa_msg_id = as_str(item.get("id"))
    status = as_str(item.get("status"))
    if not wa_msg_id or not status:
        return None
    recipient = _phone(item.get("recipient_id")) or as_str(item.get("recipient_user_id"))
    return StatusUpdate(
        transport=NAME,
        wa_msg_id=wa_msg_id,
        status=status,
        recipient=recipient,
        timestamp=_int(item.get("timestamp")),
        error=_status_error(item.get("errors")),
    )


def _status_error(errors: Any) -> str | None:
    """``"<code> <title>"`` of the first error of a status, if any."""
    first = next(iter(dicts(errors)), None)
    if first is None:
        return None
    code = as_str(first.get("code"))
    title = as_str(first.get("title")) or as_str(first.get("message"))
    return f"{code} {title}".strip() or "unknown error"


def _log_value_errors(value: dict[str, Any]) -> None:
    # Account-level errors (not tied to one message): codes only, no content.
    codes = [as_str(err.get("code")) or "?" for err in dicts(value.get("errors"))]
    if codes:
        log.warning("cloud webhook carried errors: codes=%s", ",".join(codes))


def dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a list; anything else reads as empty."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def get(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def as_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _phone(value: Any) -> str:
    """E.164 digits without ``+``, or "" for anything that is not a phone (a BSUID)."""
    text = as_str(value).strip().removeprefix("+")
    # isascii(): str.isdigit() alone would also pass Bengali and other digits.
    return text if text.isascii() and text.isdigit() else ""


def _int(value: Any) -> int:
    return as_code(value) or 0


def as_code(value: Any) -> int | None:
    text = as_str(value).strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else None
