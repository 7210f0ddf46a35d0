"""Sessions: the one drain loop of every lane, run by each worker process.

A session is an RQ job that lives for a budget (a minute), so RQ's cost per
job (~50 Redis commands) is paid once a minute, not once a message.  Each
worker process runs one session at a time; it waits on the ready lists
(outboxes first), owns the partitions it takes and works them concurrently
in a thread pool:

- one item per order key at a time (a recipient's messages, a sender's
  chats stay in order), many keys at once;
- sends start on slots of the number's shared rate (``rate.SharedRate``)
  and of the recipient's pair rate (``rate.PairPacer``);
- what finished is written in one pipeline per turn of the loop (the
  *flush*): the replies a command made are queued before its item is acked,
  a send's status before its message is acked;
- an outage (host, Redis, Meta's "slow down") keeps the item first in line
  for its key and tries again later; an item no code can handle goes to the
  dead letters, so it cannot block the keys behind it.

At the end of its budget (or on a warm stop) a session lets what is in
flight finish, flushes, and hands its partitions to the next session
through the ready lists.  A session that dies loses nothing: its partitions'
busy flags expire and the housekeeper announces them again; the items it
held come back first to the next owner (sent again at most: the in-flight
window, see docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import redis

from wa_addon import journal
from wa_addon.messages import Outbound
from wa_addon.queue import outbox
from wa_addon.queue.lanes import BUSY_TTL, decode, is_outbox
from wa_addon.queue.partition import Flush, Owned, Task
from wa_addon.queue.rate import PairPacer, SharedRate, too_late
from wa_addon.queue.settle import BATCH_EVERY, Settling
from wa_addon.runtime import Runtime
from wa_addon.store import DOWN, StoreUnavailable, text
from wa_addon.transports.base import SendResult

log = logging.getLogger(__name__)

BUDGET = 60.0  # seconds a session works before handing over to a fresh RQ job
LINGER = 2.0  # seconds an idle partition stays owned (a chat's reply, its next message: no new announce)
ADOPT_EVERY = 0.05  # seconds between looks at the ready and wake lists while work is in flight
HEARTBEAT = BUSY_TTL / 4  # seconds between renewals of the owned partitions' flags
FINISH_WAIT = 30.0  # seconds a finishing session waits for what is in flight

# (runtime, payload) -> (transport name or None for the default, messages to send).  A processor
# may have a ``prepare(runtime, payloads)`` attribute: called once for the items of its lane a
# turn is about to start, before any of them runs (the chats read their guides in one call).
Processor = Callable[[Runtime, str], tuple[str | None, list[Outbound]]]


_member: tuple[int, str] = (0, "")


def process_member() -> str:
    """This worker process's name in the live count: ``host:pid:random`` (made anew after a fork;
    the random part keeps two hosts of one name apart)."""
    global _member
    if _member[0] != os.getpid():
        _member = (os.getpid(), f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    return _member[1]


class Session(Settling):
    """One session of one worker process (what finished is settled and written by :class:`Settling`).

    Args:
        rt: the process's runtime.
        processors: work lane -> what runs one of its items.
        stop: set when the worker is asked to stop (a warm stop).
        budget: seconds before handing over.
        burst: stop as soon as there is nothing to do (tests, ``worker --burst``).
        classes: the ready lists served, outboxes (``hi``) first; a test may
            serve only the work lanes (``lo``) and read the outbox itself.
    """

    def __init__(
        self,
        rt: Runtime,
        processors: dict[str, Processor],
        *,
        stop: threading.Event | None = None,
        budget: float = BUDGET,
        burst: bool = False,
        classes: tuple[str, ...] = ("hi", "lo"),
    ):
        self.rt, self.processors = rt, processors
        self.linger = 0.0 if burst else LINGER
        self.sid = uuid.uuid4().hex[:12]
        # Live is counted per worker process, not per session: a session that hands over at the
        # end of its budget is followed at once by the next in the same process, and a count
        # that dropped it let the other process's session take that process's share too
        # (7 of 8 partitions, measured after a hand-over with 20,000 chats queued).
        self.member = process_member()
        # Its own wake-ups first, then new partitions: outboxes before work lanes.
        self.lists = [rt.keys.wake(self.sid), *(rt.keys.ready(c) for c in classes)]
        self.stop = stop or threading.Event()
        self.budget, self.burst = budget, burst
        self.owned: dict[tuple[str, int], Owned] = {}
        self.futures: dict[Future[Any], tuple[Owned, Task]] = {}
        self.flush = Flush()
        self.pacer = PairPacer()
        # A transport that says ``mps`` (the Cloud API) is paced to it; phones pace themselves.
        self.rates = {
            name: SharedRate(rt.lane_scripts, rt.keys, getattr(t, "rate_name", name), mps)
            for name, t in rt.transports.items()
            if (mps := getattr(t, "mps", None))
        }
        self.pool = ThreadPoolExecutor(
            rt.settings.send_slots + rt.settings.work_window, thread_name_prefix="wa-session"
        )
        self.done = 0
        self._seq = 0  # claims so far: the order tasks start in
        self._live = 1  # live sessions (of every process), as last counted
        self._counted_at = 0.0
        self._finished: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()  # futures done, not yet settled
        self._counts = {True: 0, False: 0}  # in flight: sends (True), chats and events (False)
        self._loaded = False
        self._paused: dict[str, float] = {}
        self._checked_pauses = self._beat = self._adopted_at = self._written_at = 0.0

    # -- the loop -------------------------------------------------------------

    def run(self) -> int:
        """Work until the budget is spent, a stop is asked, or (burst) nothing is left; returns items done."""
        ends = time.monotonic() + self.budget
        try:
            while not self.stop.is_set() and time.monotonic() < ends:
                if not self._turn():
                    break
        finally:
            self._finish()
        return self.done

    def _turn(self) -> bool:
        """One turn: take partitions, start tasks, collect, flush.  False: burst and idle."""
        try:
            if not self._loaded:  # flushes call them by bare EVALSHA; a restarted Redis forgot them
                self.rt.lane_scripts.load()
                self._loaded = True
            if not self._adopt() and self.burst and not self.owned:
                return False
            self._fill()
            self._collect()
            self._write()
            self._heartbeat()
        except (StoreUnavailable, *DOWN) as exc:
            log.warning("session: Redis unavailable (%s); keeping what is held, trying again", type(exc).__name__)
            self.stop.wait(1.0)
        return True

    def _adopt(self) -> bool:
        """Take announced partitions and wake-ups.

        With nothing in flight it waits on the lists (one BLPOP: until work
        comes, a held item's time, or a lingering partition is due to go);
        while work is in flight it looks at most every ADOPT_EVERY.
        """
        now = time.monotonic()
        if not self.futures and not self.burst:
            got = self.rt.conn.blpop(self.lists, timeout=self._idle_wait(now))
            found = [(text(got[0]), got[1])] if got else []
        elif now - self._adopted_at >= ADOPT_EVERY or not self.futures:
            self._adopted_at = now
            pipe = self.rt.conn.pipeline(transaction=False)
            for key in self.lists:
                pipe.lpop(key, 64)
            found = [(key, e) for key, batch in zip(self.lists, pipe.execute(), strict=True) if batch for e in batch]
        else:
            return True
        back: dict[str, list[bytes | str]] = defaultdict(list)
        for key, entry in found:
            if not self._take(text(entry), now, wake=key == self.lists[0]):
                back[key].append(entry)
        if back:  # over this session's share: first in line for the others, in the order they came
            pipe = self.rt.conn.pipeline(transaction=False)
            for key, entries in back.items():
                pipe.lpush(key, *reversed(entries))
            pipe.execute()
        taken = len(found) - sum(map(len, back.values()))
        if found and not taken:  # only others may take these: do not spin on them
            self.stop.wait(ADOPT_EVERY)
        return taken > 0

    def _idle_wait(self, now: float) -> float:
        """How long an idle session may block: 1 s, or less when something it holds is due."""
        if not self.owned:
            return 1.0
        due = [t for o in self.owned.values() for k, t in o.not_before.items() if k in o.pending]
        due += [o.active_at + self.linger for o in self.owned.values() if not o.held]
        return max(0.01, min([*(t - now for t in due), 1.0]))

    def _take(self, entry: str, now: float, wake: bool) -> bool:
        """A wake-up marks a partition this session owns; an announcement makes it the owner.

        A wake-up never makes an owner: it may be older than the partition's
        release, and its token is void then (the live one is announced).
        Returns False for an announcement left to the other sessions: this
        one owns its share of the lane already.
        """
        name, part, token = entry.rsplit("|", 2)
        owned = self.owned.get((name, int(part)))
        if wake:
            if owned is not None and not owned.lost and owned.token == token:
                owned.wake = True
            return True
        if owned is not None and owned.token == token:
            return True
        lane = self.rt.lanes.get(name)
        if lane is None:
            log.error("session: a partition of unknown lane %s was announced; settings differ between processes?", name)
            return True
        if owned is None and self._owns(name) >= self._share(lane.parts, now):
            return False
        if owned is not None:
            owned.lost = True  # its flag expired and was announced again: the new token is the live one
        # The old record, if any, only waits for its in-flight items; it acks nothing any more.
        self.owned[(name, int(part))] = Owned(lane, int(part), token, active_at=now)
        return True

    def _owns(self, lane: str) -> int:
        return sum(1 for (name, _), o in self.owned.items() if name == lane and not o.lost)

    def _share(self, parts: int, now: float) -> int:
        """Partitions of one lane a session may own: an even share over the live sessions (one a process).

        Without it the busiest session, which looks at the ready lists every
        ADOPT_EVERY, took nearly every partition announced (7 of 8 measured)
        while the other process's session waited on an empty list.  The
        count of live sessions is the heartbeat's, read again when it is
        older than a quarter second (only a session that owns a partition of
        the lane asks: an idle one takes what comes, as at 10 chats/s).
        """
        share = -(-parts // self._live)
        if now - self._counted_at > 0.25 and self._owns_any():
            self._count_live(now)
            share = -(-parts // self._live)
        return share

    def _owns_any(self) -> bool:
        return any(not o.lost for o in self.owned.values())

    def _count_live(self, now: float, beat: bool = False) -> None:
        """Read how many processes run a session (a heartbeat within BUSY_TTL); ``beat``: this one's too."""
        pipe = self.rt.conn.pipeline(transaction=False)
        if beat:
            pipe.zadd(self.rt.keys.sessions, {self.member: time.time()})  # the housekeeper watches for silence
        pipe.zcount(self.rt.keys.sessions, time.time() - BUSY_TTL, "+inf")
        self._live, self._counted_at = max(1, int(pipe.execute()[-1])), now

    # -- starting tasks --------------------------------------------------------

    def _fill(self) -> None:
        """Start what may start: sends first, then chats and events, oldest claimed first."""
        now = time.monotonic()
        for owned in self.owned.values():
            if not owned.lost:
                self._claim(owned, now)
        free = {True: self.rt.settings.send_slots - self._running(work=False)}  # outboxes
        free[False] = self.rt.settings.work_window - self._running(work=True)
        found = [(o, o.startable(now, free[is_outbox(o.lane.name)])) for o in self.owned.values() if not o.lost]
        if not any(tasks for _, tasks in found):
            return
        self.rt.switches.refresh()  # a switch flipped before this turn holds for what it starts
        # Across partitions too: one partition's items must not keep another's older ones
        # waiting (a session's first partition took the whole window; the others' held items
        # waited, so they were neither acked nor claimed from, for seconds).
        ready = [
            (not is_outbox(owned.lane.name), task.seq, owned, task)
            for owned, tasks in found
            if not self._off(owned)
            for task in tasks
        ]
        ready.sort(key=lambda r: r[:2])
        sends: dict[str, list[tuple[Owned, Task]]] = defaultdict(list)
        works: list[tuple[Owned, Task]] = []
        starting = 0
        for work, _, owned, task in ready:
            if not work:
                if self._may_send(owned, task, now, starting):
                    owned.start(task)
                    sends[owned.lane.name.split(":", 1)[1]].append((owned, task))
                    starting += 1
            elif len(works) < free[False]:
                works.append((owned, task))
        self._start_work(works)
        for transport, batch in sends.items():
            self._start_sends(transport, batch)

    def _start_work(self, works: list[tuple[Owned, Task]]) -> None:
        by_lane: dict[str, list[Task]] = defaultdict(list)
        for owned, task in works:
            by_lane[owned.lane.name].append(task)
        for lane, tasks in by_lane.items():
            if prepare := getattr(self.processors.get(lane), "prepare", None):
                try:
                    prepare(self.rt, [t.payload for t in tasks])
                except Exception as exc:  # a read ahead only: the items run without it
                    log.warning("lane %s: prepare failed (%s); starting without it", lane, type(exc).__name__)
        for owned, task in works:
            owned.start(task)
            task.journal = []
            self._submit(owned, task, self._work, owned.lane.name, task.payload, task.journal)

    def _claim(self, owned: Owned, now: float) -> None:
        """Take more of the partition when there is reason to: never by polling.

        A new owner recovers what a dead one held; after that, a claim follows
        a wake-up (a push into the empty queue) or a claim that was cut short
        by room.  A partition idle for LINGER is let go (the claim drops the
        flag if, atomically, nothing came).
        """
        room = self.rt.settings.batch_size - owned.held
        if room < self.rt.settings.batch_size // 2:
            return  # enough in hand
        if owned.claimed and (owned.pending or owned.running) and now - owned.claimed_at < BATCH_EVERY:
            return  # busy: let pushes gather for one claim
        if not owned.claimed:
            token = f"{self.sid}.{uuid.uuid4().hex[:12]}"
            got = owned.lane.claim(owned.part, owned.token, room, mode="recover", new_token=token)
            owned.token, owned.claimed = token, True
        elif owned.wake or owned.more:
            got = owned.lane.claim(owned.part, owned.token, room)
        elif owned.held == 0 and now - owned.active_at >= self.linger:
            got = owned.lane.claim(owned.part, owned.token, room, mode="release")
        else:
            return
        owned.wake, owned.claimed_at = False, now
        if got is None:  # gone (nothing left: the flag is dropped) or lost to another owner
            owned.lost = True
            return
        owned.more = len(got) >= room
        if got:
            owned.active_at = now
        for raw in got:
            key, payload = decode(raw)
            self._seq += 1
            task = Task(raw, key, payload, seq=self._seq)
            owned.pending[key].append(task)
            owned.order.append(task)
        owned.held += len(got)

    def _off(self, owned: Owned) -> bool:
        """The admin switched the add-on off: outboxes keep their messages (a kick resumes them)."""
        if not outbox.held_when_off(owned.lane.name) or self.rt.switches.enabled():
            return False
        if owned.held == 0 or not owned.running:
            owned.lane.release(owned.part, owned.token)
            owned.lost = True
        return True

    def _may_send(self, owned: Owned, task: Task, now: float, starting: int) -> bool:
        transport = owned.lane.name.split(":", 1)[1]
        if self._running(work=False) + starting >= self.rt.settings.send_slots or self._is_paused(transport, now):
            return False
        if transport not in self.rates:
            return True  # not a rate-limited channel (the phones pace themselves)
        ready = self.pacer.ready_at(task.key, now)
        if ready > now:
            owned.not_before[task.key] = ready
            return False
        return True

    def _start_sends(self, transport: str, batch: list[tuple[Owned, Task]]) -> None:
        rate = self.rates.get(transport)
        slots = rate.reserve(len(batch)) if rate else [0.0] * len(batch)
        now, wall = time.monotonic(), time.time()
        for (owned, task), slot in zip(batch, slots, strict=True):
            if rate:
                self.pacer.sent(task.key, now + max(0.0, slot - wall))
            self._submit(owned, task, self._send, transport, task.payload, slot)

    def _submit(self, owned: Owned, task: Task, fn: Callable[..., Any], *args: Any) -> None:
        future = self.pool.submit(fn, *args)
        self.futures[future] = (owned, task)
        self._counts[is_outbox(owned.lane.name)] += 1
        future.add_done_callback(self._finished.put)

    def _running(self, work: bool) -> int:
        """Items in flight: chats and events (``work``) or sends."""
        return self._counts[not work]

    def _is_paused(self, transport: str, now: float) -> bool:
        if now - self._checked_pauses > 0.5:  # shared with every worker; read twice a second at most
            self._checked_pauses = now
            names = list(self.rt.transports)
            ttls = self.rt.conn.pipeline(transaction=False)
            for name in names:
                ttls.pttl(self.rt.keys.pause(name))
            self._paused = {n: now + ms / 1000 for n, ms in zip(names, ttls.execute(), strict=True) if ms > 0}
        return self._paused.get(transport, 0.0) > now

    # -- the work done in the pool's threads -----------------------------------

    def _work(self, lane: str, payload: str, writes: journal.Writes) -> tuple[str | None, list[Outbound]]:
        with journal.deferred(writes):  # written in the flush that acks the item
            return self.processors[lane](self.rt, payload)

    def _send(self, transport: str, payload: str, slot: float) -> tuple[Outbound, SendResult]:
        msg = Outbound.from_json(payload)
        rate = self.rates.get(transport)
        while rate is not None:  # slots are Unix times on Redis's clock (see SharedRate.reserve)
            delay = slot - time.time()
            if delay > 0:
                time.sleep(delay)
            if not too_late(rate, slot, time.time()):
                break
            slot = rate.reserve(1)[0]
        return msg, outbox.send(self.rt.transports[transport], msg)

    # -- collecting what finished -----------------------------------------------

    def _collect(self) -> None:
        if not self.futures:
            if self.burst and self.owned:  # no blocking wait in _adopt: do not spin on held items
                self.stop.wait(min(self._idle_wait(time.monotonic()), 0.05))
            return  # otherwise the next turn's _adopt waits for work
        timeout = 0.2
        if self.flush.done:  # something waits to be written: not longer than BATCH_EVERY
            timeout = max(0.0, min(timeout, self._written_at + BATCH_EVERY - time.monotonic()))
        # Finished futures arrive on a queue (their done callback): waiting on every future in
        # flight at each turn cost O(in flight) per turn, with hundreds in flight at 1,000/s.
        try:
            done = [self._finished.get(timeout=timeout)]
        except queue.Empty:
            return
        if len(self.futures) > 1:
            time.sleep(0.005)  # let a few more finish: one turn (one slot reservation, one flush) for several
        with contextlib.suppress(queue.Empty):
            while True:
                done.append(self._finished.get_nowait())
        for future in done:
            owned, task = self.futures.pop(future)
            self._counts[is_outbox(owned.lane.name)] -= 1
            self._settle(owned, task, future)

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if now - self._beat < HEARTBEAT:
            return
        self._beat = now
        self._count_live(now, beat=True)
        owned = [o for o in self.owned.values() if not o.lost]
        if owned:
            keys = [self.rt.keys.lane(o.lane.name, o.part, "busy") for o in owned]
            alive = self.rt.lane_scripts.touch(keys=keys, args=[BUSY_TTL, *(o.token for o in owned)])
            for o, ok in zip(owned, alive, strict=True):
                o.lost = o.lost or not ok
        self.pacer.forget_idle(now)

    # -- the end -----------------------------------------------------------------

    def _finish(self) -> None:
        """Let what is in flight finish, flush, hand the partitions over."""
        ends = time.monotonic() + FINISH_WAIT
        try:
            while self.futures and time.monotonic() < ends:
                self._collect()
            self._write(all_done=True)
            self._hand_over()
            self.rt.conn.delete(self.rt.keys.wake(self.sid))
            if self.stop.is_set() or self.burst:  # the process runs no next session: it leaves the count
                self.rt.conn.zrem(self.rt.keys.sessions, self.member)
        except (StoreUnavailable, *DOWN, redis.exceptions.RedisError):
            log.warning("session: Redis unavailable at hand-over; the partitions' flags will expire")
        finally:
            self.pool.shutdown(wait=False, cancel_futures=True)

    def _hand_over(self) -> None:
        keys = self.rt.keys
        pipe = self.rt.conn.pipeline(transaction=False)
        for (name, part), owned in self.owned.items():
            if not owned.lost:
                pipe.rpush(keys.ready("hi" if is_outbox(name) else "lo"), f"{name}|{part}|{owned.token}")
        pipe.execute()
        self.owned.clear()
