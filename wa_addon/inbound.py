"""Inbound intake and processing.

Intake (in the web process) dedupes each message id atomically and queues it;
processing (in a worker's session, see :mod:`wa_addon.queue.session`) runs
the command and returns the replies, which the session queues.
"""

from __future__ import annotations

import json
import logging

from rq.timeouts import BaseTimeoutException

from wa_addon import commands, journal, tally
from wa_addon.commands.grammar import redact
from wa_addon.host import HostUnavailable
from wa_addon.messages import Inbound, Outbound, StatusUpdate
from wa_addon.queue import outbox
from wa_addon.queue.lanes import Item, acknowledged_push
from wa_addon.runtime import IN_LANE, Runtime
from wa_addon.store import DOWN, StoreUnavailable
from wa_addon.transports import window

log = logging.getLogger(__name__)


class Intake:
    """Where transport resources hand what they received.

    Args:
        rt: the runtime.
        windows: the Cloud API number's customer-service windows: the
            senders' windows are recorded by the same script that queues
            their messages (one round trip per webhook, not two).
    """

    Unavailable = StoreUnavailable

    def __init__(self, rt: Runtime, windows: window.ServiceWindow | None = None):
        self.rt = rt
        self.windows = windows

    def submit(self, inbound: list[Inbound], statuses: list[StatusUpdate]) -> int:
        """Queue new messages and statuses; raises StoreUnavailable if Redis is down."""
        items = [Item(_wrap("msg", m.to_json()), m.chat or m.msg_id, m.dedupe_id) for m in inbound]
        items += [Item(_wrap("status", s.to_json()), s.wa_msg_id) for s in statuses]
        cloud = [m for m in inbound if m.transport == window.CLOUD]
        marks = self.windows.marks(cloud) if self.windows is not None and cloud else None
        acknowledged_push(self.rt.lanes[IN_LANE], items, self.rt.settings, marks)
        return len(items)


def _wrap(kind: str, body: str) -> str:
    return f'{{"k":"{kind}","v":{body}}}'


def _decode(raw: str) -> Inbound | StatusUpdate:
    entry = json.loads(raw)
    return StatusUpdate(**entry["v"]) if entry["k"] == "status" else Inbound(**entry["v"])


def process(rt: Runtime, raw: str) -> tuple[str | None, list[Outbound]]:
    """One queued item: a chat message (run its command) or a delivery status."""
    item = _decode(raw)
    if isinstance(item, StatusUpdate):
        status = item
        ours = outbox.record_status(rt, status.transport, status.wa_msg_id, status.status, status.error)
        if status.status == "failed":  # 131047 reported late: its template goes, or the failed list
            if ours:  # a message we sent: its error counts in /metrics
                tally.late_send_error(rt.conn, rt.keys, status.transport, status.wa_msg_id, status.error)
            return status.transport, window.after_failure(rt, status.transport, status.wa_msg_id, status.error)
        return None, []
    return item.transport, _message(rt, item)


def prepare(rt: Runtime, raws: list[str]) -> None:
    """Before a session starts these items: read their chats' guided commands in one call."""
    chats = []
    for raw in raws:
        try:
            item = _decode(raw)
        except (ValueError, KeyError, TypeError):
            continue  # unreadable: process() sends it to the dead letters
        if isinstance(item, Inbound):
            chats.append(item)
    rt.command_kit.guides.read_ahead(chats)


process.prepare = prepare  # type: ignore[attr-defined]  # the session's hook (queue.session.Processor)


def _message(rt: Runtime, msg: Inbound) -> list[Outbound]:
    journal.log_messages(
        rt.conn,
        rt.keys,
        "in",
        [{"id": msg.dedupe_id, "from": msg.sender or msg.user_id, "text": redact(msg.text), "via": msg.transport}],
    )
    try:
        return commands.handle(rt, msg)
    except (HostUnavailable, StoreUnavailable, *DOWN, BaseTimeoutException):
        raise  # an outage (or the job's time) is not the command's answer: the message is run again
    except Exception:  # a bug must not jam the queue: answer, log (no text: it may hold a PIN)
        log.exception("command failed for message %s", msg.dedupe_id)
        text = rt.renderer.render(rt.switches.default_language(), "error")
        return [Outbound(id=msg.reply_id, to=msg.chat, text=text)]
    finally:
        rt.command_kit.guides.forget(msg)  # read ahead and never asked for
