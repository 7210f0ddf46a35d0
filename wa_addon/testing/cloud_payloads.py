"""Builders of realistic Cloud API webhook bodies, serialised and signed as Meta does.

Shapes follow Meta's messages-webhook reference: one ``entry`` per business
account, one ``change`` per field, ``contacts`` beside ``messages``.  Example::

    raw = dumps(webhook(entry(value([text("8801711000001", "BAL")], names={"8801711000001": "Rahim"}))))
    client.simulate_post(path, body=raw, headers={SIGNATURE_HEADER: sign(secret, raw)})
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from wa_addon.transports.cloud_webhook import SIGNATURE_HEADER, signature_header

__all__ = [
    "SIGNATURE_HEADER",
    "button_reply",
    "contact",
    "dumps",
    "entry",
    "list_reply",
    "media",
    "message",
    "messages_webhook",
    "quick_reply",
    "sign",
    "status",
    "text",
    "value",
    "webhook",
]

WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_PHONE_NUMBER = "15550783881"

_ids = itertools.count(1)


def _wamid() -> str:
    return f"wamid.HBgNODgwMTcxMTAwMDAwMRUCABIYFjNFQjA{next(_ids):08d}"


def message(
    sender: str,
    kind: str,
    content: Mapping[str, Any] | None = None,
    *,
    msg_id: str | None = None,
    timestamp: int | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """One ``messages[]`` item.  ``sender=""`` leaves ``from`` out (a BSUID-only user)."""
    item: dict[str, Any] = {}
    if sender:
        item["from"] = sender
    if user_id:
        item["from_user_id"] = user_id
    item.update(id=msg_id or _wamid(), timestamp=str(timestamp or int(time.time())), type=kind)
    if content is not None:
        item[kind] = dict(content)
    return item


def text(sender: str, body: str, **kw: Any) -> dict[str, Any]:
    """A text message."""
    return message(sender, "text", {"body": body}, **kw)


def button_reply(sender: str, reply_id: str, title: str = "", **kw: Any) -> dict[str, Any]:
    """A tap on an interactive reply button."""
    reply = {"type": "button_reply", "button_reply": {"id": reply_id, "title": title or reply_id}}
    return message(sender, "interactive", reply, **kw)


def list_reply(sender: str, reply_id: str, title: str = "", description: str = "", **kw: Any) -> dict[str, Any]:
    """A choice from an interactive list."""
    row = {"id": reply_id, "title": title or reply_id}
    if description:
        row["description"] = description
    return message(sender, "interactive", {"type": "list_reply", "list_reply": row}, **kw)


def quick_reply(sender: str, payload: str, label: str = "", **kw: Any) -> dict[str, Any]:
    """A tap on a template's quick-reply button (``type: button``)."""
    return message(sender, "button", {"payload": payload, "text": label or payload}, **kw)


def media(sender: str, kind: str = "image", **kw: Any) -> dict[str, Any]:
    """A media message (image, audio, video, document, sticker)."""
    content = {"mime_type": "image/jpeg", "sha256": "c0ffee", "id": "1003383421387256"}
    return message(sender, kind, content, **kw)


def contact(sender: str = "", name: str = "Test User", user_id: str | None = None) -> dict[str, Any]:
    """One ``contacts[]`` item; ``sender=""`` leaves ``wa_id`` out."""
    item: dict[str, Any] = {"profile": {"name": name}}
    if sender:
        item["wa_id"] = sender
    if user_id:
        item["user_id"] = user_id
    return item


def status(
    wa_msg_id: str,
    state: str = "delivered",
    recipient: str = "",
    *,
    error_code: int | None = None,
    error_title: str = "",
    user_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """One ``statuses[]`` item; a failed one carries ``errors``."""
    item: dict[str, Any] = {"id": wa_msg_id, "status": state, "timestamp": str(timestamp or int(time.time()))}
    if recipient:
        item["recipient_id"] = recipient
    if user_id:
        item["recipient_user_id"] = user_id
    if error_code is not None:
        item["errors"] = [{"code": error_code, "title": error_title, "message": error_title}]
    return item


def value(
    messages: Iterable[dict[str, Any]] = (),
    statuses: Iterable[dict[str, Any]] = (),
    contacts: Iterable[dict[str, Any]] | None = None,
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A ``messages`` change value.  Without ``contacts``, one per sender is made."""
    messages, statuses = list(messages), list(statuses)
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_PHONE_NUMBER, "phone_number_id": PHONE_NUMBER_ID},
    }
    if messages:
        body["contacts"] = list(contacts) if contacts is not None else _contacts_for(messages, names or {})
        body["messages"] = messages
    if statuses:
        body["statuses"] = statuses
    return body


def _contacts_for(messages: list[dict[str, Any]], names: Mapping[str, str]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for item in messages:
        sender, user_id = item.get("from", ""), item.get("from_user_id", "")
        name = names.get(sender or user_id, "Test User")
        seen.setdefault((sender, user_id), contact(sender, name, user_id or None))
    return list(seen.values())


def entry(*values: dict[str, Any], waba_id: str = WABA_ID, field: str = "messages") -> dict[str, Any]:
    """One ``entry[]`` item with one change per value."""
    return {"id": waba_id, "changes": [{"value": v, "field": field} for v in values]}


def webhook(*entries: dict[str, Any]) -> dict[str, Any]:
    """The whole webhook body."""
    return {"object": "whatsapp_business_account", "entry": list(entries)}


def messages_webhook(*messages: dict[str, Any], names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The common case: some messages in one entry, one change."""
    return webhook(entry(value(messages, names=names)))


def dumps(payload: Any) -> bytes:
    """Serialise like Meta: compact, ASCII only, ``/`` escaped as ``\\/``."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def sign(app_secret: str, raw: bytes) -> str:
    """The ``X-Hub-Signature-256`` header value for ``raw``."""
    return signature_header(app_secret, raw)
