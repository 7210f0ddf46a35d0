"""A session's second half: settling what finished, and writing it in one flush.

What a task's future gave is *settled* into the session's :class:`Flush`
(replies to queue, statuses to record, dead letters, pauses, the chats'
journal entries) and its key is freed; the *flush* writes all of it and
acks the done items in one pipeline: the replies a command made are queued
before its item is acked, a send's status before its message is acked.
Split from :mod:`wa_addon.queue.session`, whose :class:`Session` it is a
base of.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from typing import Any

import redis

from wa_addon import journal, tally
from wa_addon.host import HostUnavailable
from wa_addon.queue import dead, outbox
from wa_addon.queue.lanes import Item, is_outbox
from wa_addon.queue.partition import Acks, Flush, Owned, Task
from wa_addon.queue.rate import PairPacer
from wa_addon.runtime import Runtime
from wa_addon.store import DOWN, StoreUnavailable
from wa_addon.transports.base import RETRY, SendResult

log = logging.getLogger(__name__)

HOST_RETRY = 5.0  # seconds before an item that met a host or Redis outage is tried again
DEFAULT_RETRY = 5.0  # seconds when a transport asks to retry without saying when
# While other work is in flight, what finished is written at most this often, and a partition
# with items in hand is claimed from at most this often: one pipeline, one push per lane and one
# ack and claim per partition for several chats at load (measured: ~3 Redis commands per chat
# fewer); an idle session writes and claims at once.
BATCH_EVERY = 0.02

# Outages: the item stays first in line for its key and is tried again later.
RETRY_LATER = (HostUnavailable, StoreUnavailable, *DOWN)


class Settling:
    """Settling and flushing, for :class:`~wa_addon.queue.session.Session` (which sets these)."""

    rt: Runtime
    owned: dict[tuple[str, int], Owned]
    futures: dict[Future[Any], tuple[Owned, Task]]
    flush: Flush
    pacer: PairPacer
    done: int
    _paused: dict[str, float]
    _written_at: float

    def _settle(self, owned: Owned, task: Task, future: Future[Any]) -> None:
        if is_outbox(owned.lane.name):
            self._settle_send(owned, task, future)
        else:
            self._settle_work(owned, task, future)

    def _settle_work(self, owned: Owned, task: Task, future: Future[Any]) -> None:
        try:
            transport, msgs = future.result()
        except RETRY_LATER as exc:
            log.warning("lane %s: %s; the item is kept for a retry", owned.lane.name, type(exc).__name__)
            owned.put_back(task, time.monotonic() + HOST_RETRY)
            return
        except Exception as exc:  # an item nobody can process must not block its key
            log.exception("lane %s: an item failed; kept in the dead letters", owned.lane.name)
            self.flush.dead.append((owned.lane.name, dead.letter(task.key, task.payload, exc)))
        else:
            self.flush.replies.append((transport, msgs))
        self.flush.journal += task.journal
        self._done(owned, task)

    def _settle_send(self, owned: Owned, task: Task, future: Future[Any]) -> None:
        transport = owned.lane.name.split(":", 1)[1]
        try:
            msg, result = future.result()
        except (ValueError, TypeError):  # unreadable: it can never be sent, and must not block the rest
            log.error("outbox %s: an unreadable message, kept in the dead letters", owned.lane.name)
            self.flush.dead.append((owned.lane.name, dead.letter(task.key, task.payload, "unreadable message")))
            self._done(owned, task)
            return
        if result.outcome == RETRY:
            self._retry(owned, task, transport, result)
            return
        status = getattr(self.rt.transports[transport], "sent_status", "sent")
        self.flush.records.append((transport, msg, result, status))
        self._done(owned, task)

    def _retry(self, owned: Owned, task: Task, transport: str, result: SendResult) -> None:
        wait_s = result.retry_after or DEFAULT_RETRY
        until = time.monotonic() + wait_s
        owned.put_back(task, until)
        if result.scope == "recipient":
            self.pacer.hold(task.key, until)
        else:
            self.flush.pauses[transport] = wait_s
            self._paused[transport] = until
        log.warning("send to be retried in %.1f s: code=%s", wait_s, result.error_code)
        tally.send_error(self.rt.conn, self.rt.keys, transport, result.error_code)  # one HINCRBY: /metrics

    def _done(self, owned: Owned, task: Task) -> None:
        owned.active_at = time.monotonic()
        owned.running.discard(task.key)
        owned.not_before.pop(task.key, None)
        task.done = True
        self.flush.done += 1

    # -- writing ---------------------------------------------------------------

    def _write(self, all_done: bool = False) -> None:
        """The flush: replies queued, statuses recorded, items acked, in one pipeline."""
        flush, now = self.flush, time.monotonic()
        if not (flush.done or flush.pauses or all_done) or (
            self.futures and not flush.pauses and now - self._written_at < BATCH_EVERY
        ):
            self._drop_finished()
            return
        self._written_at = now
        acks = {k: o.to_ack(all_done) for k, o in self.owned.items() if o.order or all_done}
        try:
            replies = self._execute(flush, acks)
        except redis.exceptions.NoScriptError:
            self.rt.lane_scripts.load()  # Redis restarted and forgot them: the flush is safe to repeat
            replies = self._execute(flush, acks)
        except BaseException:
            self._unplan(acks)  # nothing was acked: the same items go in the next flush
            raise
        self._apply(acks, replies)
        self.flush = Flush()
        self._drop_finished()

    def _execute(self, flush: Flush, acks: Acks) -> list[Any]:
        rt = self.rt
        pipe = rt.conn.pipeline(transaction=False)
        by_lane: dict[str, list[Item]] = {}
        for transport, msgs in flush.replies:  # one push per lane for every chat of the flush
            for lane, items in outbox.items(rt, msgs, transport).items():
                by_lane.setdefault(lane, []).extend(items)
        for lane, items in by_lane.items():
            rt.lanes[lane].push(items, pipe)
        entries = outbox.record(rt, pipe, flush.records)
        if entries:
            outbox.journal_out(rt, pipe, entries)
        journal.write(pipe, flush.journal)
        for lane, entry in flush.dead:
            pipe.rpush(rt.keys.dead(lane), entry)
        for transport, seconds in flush.pauses.items():
            pipe.set(rt.keys.pause(transport), "1", px=int(seconds * 1000))
        first_ack = len(pipe)
        for (lane, part), (first, _, rest) in acks.items():
            owned = self.owned[(lane, part)]
            owned.lane.ack(part, owned.token, first, [t.raw for t in rest], pipe)
        replies = pipe.execute(raise_on_error=False)
        for reply in replies:
            if isinstance(reply, redis.exceptions.NoScriptError | redis.exceptions.ConnectionError):
                raise reply
        return replies[first_ack:]

    def _unplan(self, acks: Acks) -> None:
        for key, (_, front, _) in acks.items():
            self.owned[key].order.extendleft(reversed(front))

    def _apply(self, acks: Acks, replies: list[Any]) -> None:
        for ((lane, part), (_, front, rest)), ok in zip(acks.items(), replies, strict=True):
            owned = self.owned[(lane, part)]
            fresh = [t for t in front + rest if not t.acked]
            for t in fresh:
                t.acked = True
            owned.held -= len(fresh)
            self.done += len(fresh)
            if ok != 1:
                log.warning("lane %s/%d: another session took the partition over; leaving it", lane, part)
                owned.lost = True

    def _drop_finished(self) -> None:
        """Forget partitions that are gone or lost once nothing of theirs is in flight."""
        busy = {id(o) for o, _ in self.futures.values()}
        for key in [k for k, o in self.owned.items() if o.lost and id(o) not in busy]:
            del self.owned[key]
