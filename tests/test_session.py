"""Sessions: the drain loop, on a real Redis (and the sandbox host for work lanes).

The outbox tests use a hand-written transport (our own port, recording what
it is asked to send and when); the work-lane tests run real commands against
the sandbox host over HTTP.  Sessions run in this process (``burst``), so a
failure can be placed exactly where an outage would hit.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import defaultdict

import pytest
import redis
from conftest import ADMIN, DEALER2, RETAIL1, RETAIL2, Chat, open_chat
from helpers import drain, queued

from wa_addon import inbound
from wa_addon.commands import dispatch
from wa_addon.messages import Inbound, Outbound
from wa_addon.queue import dead, housekeeping, outbox
from wa_addon.queue.jobs import PROCESSORS
from wa_addon.queue.session import Session
from wa_addon.runtime import IN_LANE, Runtime
from wa_addon.settings import Settings
from wa_addon.store import StoreUnavailable
from wa_addon.transports.base import RETRY, SENT, SendResult


class Recorder:
    """A transport that takes a while per send and records what it was asked, when, and how many at once."""

    name = "cloud"

    def __init__(self, delay: tuple[float, float] = (0.0, 0.02), mps: float | None = None):
        self.delay, self.mps = delay, mps
        self.rate_name = "recorder"
        self.lock = threading.Lock()
        self.sent: list[tuple[float, Outbound]] = []
        self.inflight: dict[str, int] = defaultdict(int)
        self.most_at_once = self.most_per_recipient = self.now = 0
        self.answers: dict[str, list[SendResult]] = defaultdict(list)  # recipient -> results to give first

    def send(self, message: Outbound) -> SendResult:
        with self.lock:
            self.now += 1
            self.inflight[message.to] += 1
            self.most_at_once = max(self.most_at_once, self.now)
            self.most_per_recipient = max(self.most_per_recipient, self.inflight[message.to])
            started = time.monotonic()
            answer = self.answers[message.to].pop(0) if self.answers[message.to] else None
        time.sleep(random.uniform(*self.delay))
        with self.lock:
            self.now -= 1
            self.inflight[message.to] -= 1
            if answer is None:
                self.sent.append((started, message))
        return answer or SendResult(SENT, wa_msg_id=f"wamid.{message.id}")

    def to(self, recipient: str) -> list[str]:
        return [m.text for _, m in self.sent if m.to == recipient]

    def close(self) -> None:
        pass


def runtime(redis_url: str, namespace: str, transport: Recorder, **settings) -> Runtime:
    s = Settings(redis_url=redis_url, namespace=namespace, **settings)
    return Runtime(s, host=None, transports={"cloud": transport})  # type: ignore[arg-type]  (no host needed)


def messages(recipients: int, each: int) -> list[Outbound]:
    return [
        Outbound(id=f"m{r}-{i}", to=f"88017{r:08d}", text=f"{r}:{i}", kind="notify.x")
        for i in range(each)
        for r in range(recipients)
    ]


# -- outboxes --------------------------------------------------------------------


def test_many_sends_in_flight_yet_one_at_a_time_and_in_order_per_recipient(redis_url, namespace):
    transport = Recorder(delay=(0.0, 0.03))
    rt = runtime(redis_url, namespace, transport, send_window=32)
    outbox.push(rt, messages(recipients=40, each=8))
    assert drain(rt) == 320
    assert len(transport.sent) == 320
    assert transport.most_at_once > 8  # concurrent sends...
    assert transport.most_per_recipient == 1  # ...but never two to one recipient at once
    for r in range(40):
        assert transport.to(f"88017{r:08d}") == [f"{r}:{i}" for i in range(8)]
    assert rt.lanes["out:cloud"].depth() == 0
    assert rt.conn.hget(rt.keys.msg("m3-5"), "status") == b"sent"


def test_a_sends_status_is_recorded_and_later_statuses_find_it_by_wamid(redis_url, namespace):
    transport = Recorder()
    rt = runtime(redis_url, namespace, transport)
    outbox.push(rt, messages(recipients=3, each=1))
    drain(rt)
    fields = {k.decode(): v.decode() for k, v in rt.conn.hgetall(rt.keys.msg("m1-0")).items()}
    assert fields | {"at": ""} == {
        "status": "sent", "to": "8801700000001", "kind": "notify.x", "transport": "cloud",
        "at": "", "wamid": "wamid.m1-0", "error": "",
    }  # fmt: skip
    assert rt.conn.ttl(rt.keys.msg("m1-0")) > 0 and rt.conn.ttl(rt.keys.wamid("wamid.m1-0")) > 0
    assert outbox.record_status(rt, "cloud", "wamid.m1-0", "delivered", None)
    assert not outbox.record_status(rt, "cloud", "wamid.m1-0", "sent", None)  # never back
    assert rt.conn.hget(rt.keys.msg("m1-0"), "status") == b"delivered"
    assert not outbox.record_status(rt, "cloud", "wamid.unknown", "read", None)


def test_the_shared_rate_is_never_exceeded_in_any_second_even_by_two_sessions(redis_url, namespace):
    limit = 20
    transport = Recorder(delay=(0.0, 0.01), mps=limit)
    rts = [runtime(redis_url, namespace, transport, send_window=64, outbox_partitions=8) for _ in range(2)]
    outbox.push(rts[0], messages(recipients=70, each=1))
    threads = [threading.Thread(target=drain, args=(rt,)) for rt in rts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    starts = sorted(t for t, _ in transport.sent)
    assert len(starts) == 70
    busiest = max(sum(1 for s in starts if t <= s < t + 1.0) for t in starts)
    assert busiest <= limit
    assert starts[-1] - starts[0] >= (70 - limit) / limit  # paced, not bunched at the start


def test_a_pair_rate_error_holds_back_that_recipient_only_and_keeps_its_order(redis_url, namespace):
    transport = Recorder()
    slow = "8801700000000"
    transport.answers[slow] = [SendResult(RETRY, retry_after=0.3, error_code="131056", scope="recipient")]
    rt = runtime(redis_url, namespace, transport, outbox_partitions=1)  # one partition: all share it
    outbox.push(rt, messages(recipients=5, each=3))
    drain(rt)
    assert transport.to(slow) == ["0:0", "0:1", "0:2"]
    first_slow = next(t for t, m in transport.sent if m.to == slow)
    others_done = max(t for t, m in transport.sent if m.to != slow)
    assert others_done < first_slow  # the others did not wait for it
    assert not rt.conn.exists(rt.keys.pause("cloud"))


def test_a_throughput_error_pauses_the_transport_for_every_session(redis_url, namespace):
    transport = Recorder()
    who = "8801700000001"
    transport.answers[who] = [SendResult(RETRY, retry_after=2.0, error_code="130429")]
    rt = runtime(redis_url, namespace, transport, outbox_partitions=1)
    outbox.push(rt, messages(recipients=2, each=2))
    session = Session(rt, PROCESSORS, burst=True)
    # Both recipients' first messages start; one answers "slow down".  Turns until that answer is
    # settled (two on a quiet machine; a loaded one may need more), whose flush writes the pause.
    for _ in range(200):
        session._turn()
        if "cloud" in session._paused:
            break
    assert rt.conn.pttl(rt.keys.pause("cloud")) > 0  # shared: other processes' sessions see it too
    session.run()
    assert transport.to(who) == ["1:0", "1:1"] and len(transport.sent) == 4


def test_an_unreadable_message_goes_to_the_dead_letters_and_blocks_nobody(redis_url, namespace):
    transport = Recorder()
    rt = runtime(redis_url, namespace, transport, outbox_partitions=1)
    lane = rt.lanes["out:cloud"]
    outbox.push(rt, messages(recipients=1, each=1))
    rt.conn.lpush(rt.keys.lane("out:cloud", 0, "q"), "8801700000000\x1f{not json")
    drain(rt)
    assert transport.to("8801700000000") == ["0:0"]
    [letter] = dead.read(rt, "out:cloud")
    assert (letter.item, letter.key, letter.why) == ("{not json", "8801700000000", "unreadable message")
    assert lane.depth() == 0


def test_older_items_of_one_partition_start_before_newer_ones_of_another(redis_url, namespace):
    """One send at a time, two partitions: what partition 0 claims later waits for partition 1's older items."""
    transport = Recorder()
    rt = runtime(redis_url, namespace, transport, send_window=1, outbox_partitions=2)
    lane = rt.lanes["out:cloud"]
    by_part: dict[int, list[str]] = {0: [], 1: []}
    for n in range(100):
        to = f"8801700{n:06d}"
        by_part[lane.partition(to)].append(to)
    a, b = by_part[0][:6], by_part[1][:3]

    def msgs(recipients: list[str]) -> list[Outbound]:
        return [Outbound(id=f"m{to}", to=to, text=to, kind="notify.x") for to in recipients]

    outbox.push(rt, msgs(a[:3] + b))
    session = Session(rt, PROCESSORS, burst=True)
    session._turn()  # both partitions owned and claimed; the first send starts
    outbox.push(rt, msgs(a[3:]))  # partition 0 gets more: claimed after partition 1's three
    session.run()
    order = [m.to for _, m in transport.sent]
    assert sorted(order) == sorted(a + b)
    assert max(order.index(to) for to in b) < min(order.index(to) for to in a[3:])


def test_a_session_takes_its_share_of_a_lanes_partitions_and_leaves_the_rest(redis_url, namespace):
    """Two live sessions, eight partitions: four each, not all to whichever looked first."""
    transport = Recorder()
    rt = runtime(redis_url, namespace, transport, outbox_partitions=8)
    outbox.push(rt, messages(recipients=80, each=2))
    first, second = Session(rt, PROCESSORS, burst=True), Session(rt, PROCESSORS, burst=True)
    rt.conn.zadd(rt.keys.sessions, {first.sid: time.time(), second.sid: time.time()})
    first._adopt()
    assert len(first.owned) == 4
    assert rt.conn.llen(rt.keys.ready("hi")) == 4  # left for the other session
    second._adopt()
    assert len(second.owned) == 4 and not set(first.owned) & set(second.owned)
    threads = [threading.Thread(target=s.run) for s in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(transport.sent) == 160 and len({m.id for _, m in transport.sent}) == 160


def test_a_hand_over_at_the_budgets_end_keeps_the_process_counted_so_the_other_keeps_its_share(redis_url, namespace):
    """Live is counted per process: the next session of a process that handed over is still due."""
    transport = Recorder()
    rt = runtime(redis_url, namespace, transport, outbox_partitions=8)
    outbox.push(rt, messages(recipients=80, each=1))
    first, second = Session(rt, PROCESSORS, budget=0), Session(rt, PROCESSORS, budget=0)
    first.member, second.member = "host-a:1", "host-b:2"  # two worker processes
    rt.conn.zadd(rt.keys.sessions, {first.member: time.time(), second.member: time.time()})
    for session in (first, second):
        for _ in range(4):
            session._adopt()  # waiting on the lists, a session takes one announcement at a time
    assert len(first.owned) == len(second.owned) == 4
    first.run()  # its budget is spent: it finishes and hands its four back
    assert rt.conn.llen(rt.keys.ready("hi")) == 4 and rt.conn.zscore(rt.keys.sessions, "host-a:1")
    second._counted_at = 0.0  # whenever it next counts
    second._adopt()
    assert len([o for o in second.owned.values() if not o.lost]) == 4  # before: all 8, for a minute
    assert rt.conn.llen(rt.keys.ready("hi")) == 4  # for process a's next session
    stopping = Session(rt, PROCESSORS, stop=threading.Event(), budget=0)
    stopping.member = "host-a:1"
    stopping.stop.set()
    stopping.run()  # a worker asked to stop runs no next session: its process leaves the count
    assert rt.conn.zscore(rt.keys.sessions, "host-a:1") is None


def test_a_session_whose_partition_was_taken_over_leaves_it_to_the_new_owner(redis_url, namespace):
    transport = Recorder(delay=(0.05, 0.05))
    rt = runtime(redis_url, namespace, transport, outbox_partitions=1)
    outbox.push(rt, messages(recipients=3, each=1))
    session = Session(rt, PROCESSORS, burst=True)
    session._adopt()
    session._fill()  # three sends in flight...
    rt.conn.set(rt.keys.lane("out:cloud", 0, "busy"), "someone-else")  # ...when another session took over
    session._collect()
    session._write()
    assert all(o.lost for o in session.owned.values())
    assert rt.lanes["out:cloud"].depth() == 3  # not acked: the new owner sends them (at least once)
    session._finish()


def test_replies_are_sent_while_a_backlog_of_chats_is_worked(redis_url, namespace, sandbox):
    """Outboxes are served first and concurrently: a reply never waits for every chat queued before it."""
    for chat in open_chat(redis_url, namespace, sandbox):
        transport = Recorder()
        rt = Runtime(chat.rt.settings.with_(work_window=4), chat.host, transports={"cloud": transport})
        worked: list[float] = []
        processors = {
            **PROCESSORS,
            IN_LANE: lambda rt, raw: (worked.append(time.monotonic()), inbound.process(rt, raw))[1],
        }
        for i in range(60):
            inbound.Intake(rt).submit([Inbound("cloud", f"wamid.{i}", (RETAIL1, RETAIL2, DEALER2)[i % 3], "BAL")], [])
        Session(rt, processors, burst=True).run()
        assert len(transport.sent) == 60
        first_reply = min(t for t, _ in transport.sent)
        assert first_reply < sorted(worked)[len(worked) // 2]  # replies went out while chats were still running
        rt.close()


# -- work lanes ------------------------------------------------------------------


class Queued:
    """Pushes chats onto the inbound lane and works it in this process (outboxes are only read)."""

    def __init__(self, chat: Chat):
        self.chat, self.rt = chat, chat.rt

    def say(self, sender: str, text: str) -> Inbound:
        msg = Inbound("cloud", f"wamid.{uuid.uuid4().hex}", sender, text)
        inbound.Intake(self.rt).submit([msg], [])
        return msg

    def drain(self) -> int:
        return drain(self.rt, classes=("lo",))

    def replies(self) -> list[str]:
        return [m.text for m in queued(self.rt, "out:cloud")]

    def held(self) -> int:
        return self.rt.lanes[IN_LANE].depth()


@pytest.fixture
def queue_of_chats(redis_url, namespace, sandbox, monkeypatch):
    monkeypatch.setattr("wa_addon.queue.settle.HOST_RETRY", 0.2)
    for chat in open_chat(redis_url, namespace, sandbox):
        # The cloud transport, so replies have an outbox; only work lanes are served: nothing is sent.
        rt = Runtime(chat.rt.settings, chat.host)
        yield Queued(Chat(rt, chat.host))
        rt.close()


def test_a_redis_error_inside_a_command_is_retried_not_answered_and_money_moves_once(queue_of_chats, monkeypatch):
    queued_chats = queue_of_chats
    real_audit = dispatch._audit
    calls = []

    def flaky_audit(*args):
        calls.append(1)
        if len(calls) == 1:
            raise redis.exceptions.ConnectionError("Redis went away")
        real_audit(*args)

    monkeypatch.setattr(dispatch, "_audit", flaky_audit)
    queued_chats.say(DEALER2, "ADDBAL retail3 100 2468")
    assert queued_chats.drain() == 1
    assert len(calls) == 2  # run twice: the outage was not the command's answer...
    assert queued_chats.replies() and len(queued_chats.replies()) == 1  # ...and no "something went wrong"
    assert queued_chats.chat.balance("retail3") == "900.00"  # the re-run replayed the same idempotency key
    assert queued_chats.chat.balance("dealer2") == "2900.00"


def test_an_unreadable_item_goes_to_the_dead_letters_and_does_not_block_the_sender(queue_of_chats):
    queue_of_chats.say(RETAIL1, "BAL")
    lane = queue_of_chats.rt.lanes[IN_LANE]
    part = lane.partition(RETAIL1)
    queue_key = queue_of_chats.rt.keys.lane(IN_LANE, part, "q")
    queue_of_chats.rt.conn.lpush(queue_key, RETAIL1 + '\x1f{"k":"msg","v":{"transport":"cloud","unknown_field":1}}')
    assert queue_of_chats.drain() == 2
    assert queue_of_chats.replies() == ["Karim Store: balance ৳2,500"]
    assert queue_of_chats.rt.conn.llen(queue_of_chats.rt.keys.dead(IN_LANE)) == 1


def test_a_rerun_batch_with_a_held_repeat_and_its_yes_sends_once(queue_of_chats):
    q = queue_of_chats
    q.say(RETAIL2, "FL 01712345678 200 5678")
    q.drain()
    held = q.say(RETAIL2, "FL 01712345678 200 5678")  # the same again: held for a YES
    yes = q.say(RETAIL2, "YES")
    q.drain()
    assert q.chat.balance("retail2") == "100.00"  # the first and the confirmed repeat
    for msg in (held, yes):  # a crash made that batch run again
        dispatch.handle(q.rt, msg)
    q.chat.send(ADMIN, "ADDBAL retail2 1000")  # a top-up later...
    dispatch.handle(q.rt, Inbound("cloud", f"wamid.{uuid.uuid4().hex}", RETAIL2, "YES"))
    assert q.chat.balance("retail2") == "1100.00"  # ...and no third request from a reopened hold


def test_the_housekeeper_survives_redis_going_away(queue_of_chats, monkeypatch):
    lane = queue_of_chats.rt.lanes[IN_LANE]

    def down(*args, **kwargs):
        raise StoreUnavailable("Redis went away")

    monkeypatch.setattr(lane, "kick", down)
    assert housekeeping.housekeep(queue_of_chats.rt) == 0  # logged, not raised: the thread's loop goes on
