"""Dead letters as the admin page and ``wa-addon failed list`` show them: readable, never a secret.

Each lane's payload is read for what a person needs: what it was (a chat, a
delivery status, a host event, a message to send), who (sender or
recipient), when it failed and why.  Chat texts are shown as the journal
keeps them (PINs masked by :func:`~wa_addon.commands.grammar.redact`);
messages marked secret (passwords, PINs, one-time codes) show "(hidden)";
a host event shows its type and id, never its data; a payload that cannot
be read shows nothing of itself.
"""

from __future__ import annotations

import json
from typing import Any

from wa_addon.commands.grammar import redact
from wa_addon.hooks.events import Event
from wa_addon.messages import Inbound, Outbound, StatusUpdate
from wa_addon.queue import dead
from wa_addon.queue.lanes import is_outbox
from wa_addon.runtime import EVENT_LANE, IN_LANE, Runtime

HIDDEN = "(hidden)"


def rows(rt: Runtime, count: int = 50) -> list[dict[str, Any]]:
    """Every lane's dead letters (at most ``count`` per lane), oldest first, described."""
    return [describe(d) for lane in sorted(rt.lanes) for d in dead.read(rt, lane, count)]


def describe(letter: dead.Letter) -> dict[str, Any]:
    """One letter as a row: lane, id, at, why, kind, who, text (secrets hidden)."""
    try:
        what = _what(letter.lane, letter.item)
    except (ValueError, TypeError, KeyError, AttributeError):
        what = {"kind": "unreadable", "who": "", "text": ""}
    return {"lane": letter.lane, "id": letter.id, "at": letter.at, "why": letter.why or "(not recorded)", **what}


def _what(lane: str, item: str) -> dict[str, str]:
    if is_outbox(lane):
        msg = Outbound.from_json(item)
        return {"kind": msg.kind, "who": f"to {msg.to}", "text": HIDDEN if msg.secret else msg.text}
    if lane == EVENT_LANE:
        event = Event.from_json(item)
        return {"kind": f"event {event.type}", "who": event.order_key.replace(":", " "), "text": f"id {event.id}"}
    if lane == IN_LANE:
        entry = json.loads(item)
        if entry["k"] == "status":
            status = StatusUpdate(**entry["v"])
            return {
                "kind": f"status {status.status}",
                "who": f"to {status.recipient or '?'}",
                "text": f"{status.transport} {status.wa_msg_id}",
            }
        chat = Inbound(**entry["v"])
        return {
            "kind": f"chat ({chat.transport})",
            "who": f"from {chat.sender or chat.user_id or '?'}",
            "text": redact(chat.text),
        }
    raise ValueError(f"unknown lane {lane}")
