"""Inbound intake and processing.

Intake (in the web process) dedupes each message id atomically and queues it;
processing (in an RQ job) runs the command and queues the replies.  A host
outage leaves the message queued, in order, and retries it later.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict

from wa_addon import commands, journal, outbox
from wa_addon.commands.grammar import redact
from wa_addon.commands.registry import Reply
from wa_addon.host import HostUnavailable
from wa_addon.lanes import Item
from wa_addon.messages import Inbound, Outbound, StatusUpdate, short_hash
from wa_addon.runtime import IN_LANE, Runtime
from wa_addon.store import StoreUnavailable

log = logging.getLogger(__name__)

HOST_RETRY = 5.0  # seconds before a message that met a host outage is tried again


class Intake:
    """Where transport resources hand what they received."""

    Unavailable = StoreUnavailable

    def __init__(self, rt: Runtime):
        self.rt = rt

    def submit(self, inbound: list[Inbound], statuses: list[StatusUpdate]) -> int:
        """Queue new messages and statuses; raises StoreUnavailable if Redis is down."""
        items = [Item(_wrap("msg", m.to_json()), m.sender or m.user_id or m.msg_id, m.dedupe_id) for m in inbound]
        items += [Item(_wrap("status", s.to_json()), s.wa_msg_id) for s in statuses]
        self.rt.lanes[IN_LANE].push(items, self.rt.start_drain)
        return len(items)


def _wrap(kind: str, body: str) -> str:
    return f'{{"k":"{kind}","v":{body}}}'


def drain(rt: Runtime, part: int, token: str) -> int:
    """Process a partition of the inbound lane in batches; returns items done."""
    lane = rt.lanes[IN_LANE]
    total = 0
    while True:
        batch = lane.claim(part, token, rt.settings.batch_size)
        if not batch:
            return total
        done, replies = _process(rt, batch)
        for transport, msgs in replies.items():
            outbox.push(rt, msgs, transport)  # before the ack: a crash re-runs, dedupe drops repeats
        lane.ack(part, token, done)
        total += done
        if done < len(batch):
            lane.defer(part, token, HOST_RETRY)
            return total


def _process(rt: Runtime, batch: list[str]) -> tuple[int, dict[str, list[Outbound]]]:
    replies: dict[str, list[Outbound]] = defaultdict(list)
    for done, raw in enumerate(batch):
        entry = json.loads(raw)
        try:
            if entry["k"] == "status":
                _status(rt, StatusUpdate(**entry["v"]))
            else:
                msg = Inbound(**entry["v"])
                replies[msg.transport] += _message(rt, msg)
        except HostUnavailable:
            log.warning("host unavailable; message kept for a retry")
            return done, replies
    return len(batch), replies


def _message(rt: Runtime, msg: Inbound) -> list[Outbound]:
    pipe = rt.conn.pipeline(transaction=False)
    journal.log_messages(pipe, rt.keys, "in", [{"id": msg.dedupe_id, "from": msg.sender or msg.user_id,
                                                "text": redact(msg.text), "via": msg.transport}])
    pipe.execute()
    try:
        return commands.handle(rt, msg)
    except (HostUnavailable, StoreUnavailable):
        raise
    except Exception:  # a bug must not jam the queue: answer, log (no text: it may hold a PIN)
        log.exception("command failed for message %s", msg.dedupe_id)
        text = rt.renderer.render(rt.switches.default_language(), Reply("error").template)
        return [Outbound(id=short_hash(f"{msg.dedupe_id}:reply"), to=msg.sender or msg.user_id or "", text=text)]


def _status(rt: Runtime, status: StatusUpdate) -> None:
    outbox.record_status(rt, status.transport, status.wa_msg_id, status.status, status.error)
