"""The phones' lease queue on a real Redis: leasing, order, acks, expiry, pins."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wa_addon.messages import Outbound
from wa_addon.store import Keys
from wa_addon.transports.device_queue import DUPLICATE, LATE, OK, RETRY_PAUSE, STALE, UNKNOWN, LeaseQueue

R, S, T = "8801822222222", "8801933333333", "8801711000000"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def q(conn, namespace, clock) -> LeaseQueue:
    return LeaseQueue(conn, Keys(namespace), lease=30, online=60, max_attempts=3, clock=clock)


def msg(to: str, n: int) -> Outbound:
    return Outbound(id=f"m{to[-2:]}{n}", to=to, text=f"text {n} for {to}")


def handed(q: LeaseQueue, *messages: Outbound) -> None:
    """Hand over, and write the outbox's own "handed" record as its drain does."""
    for m in messages:
        q.handoff(m)
        q.conn.hset(q.keys.msg(m.id), mapping={"status": "handed", "transport": "device"})


def ids(leased) -> list[str]:
    return [m.id for m in leased]


def test_a_handed_over_message_is_leased_once(q):
    m = msg(R, 1)
    assert q.handoff(m) is True
    assert q.handoff(m) is False  # the outbox re-ran after a crash: no second copy
    first = q.lease("a")
    assert ids(first) == [m.id] and first[0].message == m and first[0].lease == f"{m.id}.1"
    assert q.lease("b") == []


def test_one_message_per_recipient_is_out_at_a_time_in_order(q):
    handed(q, msg(R, 1), msg(R, 2), msg(S, 1), msg(R, 3))
    a = q.lease("a", 10)
    assert ids(a) == [msg(R, 1).id, msg(S, 1).id]
    assert q.lease("b", 10) == []  # R's next waits for R's first
    assert q.ack("a", a[0].lease, "sent") == OK
    assert ids(q.lease("b", 10)) == [msg(R, 2).id]


def test_two_phones_share_the_work(q):
    handed(q, *(msg(to, 1) for to in (R, S, T)), msg("8801544444444", 1))
    a, b = q.lease("a", 2), q.lease("b", 2)
    assert len(a) == len(b) == 2 and not set(ids(a)) & set(ids(b))


def test_an_expired_lease_goes_to_another_phone(q, clock):
    handed(q, msg(R, 1))
    [held] = q.lease("a")
    clock.now += 29
    assert q.expire() == 0
    clock.now += 2
    assert q.expire() == 1
    [again] = q.lease("b")
    assert (again.id, again.lease) == (held.id, f"{held.id}.2")
    assert q.ack("b", again.lease, "sent") == OK
    assert q.ack("a", held.lease, "sent") == DUPLICATE  # the silent phone woke up: nothing changes
    assert q.state(held.id)["device"] == "b"


def test_a_late_sent_ack_while_requeued_stops_a_second_send(q, clock):
    handed(q, msg(R, 1))
    [held] = q.lease("a")
    clock.now += 31
    q.expire()
    assert q.ack("a", held.lease, "sent") == OK  # it did go out: believe it
    assert q.lease("b") == [] and q.counts() == {"queued": 0, "leased": 0}


def test_a_late_sent_ack_after_a_re_lease_is_reported_late(q, clock):
    handed(q, msg(R, 1))
    [held] = q.lease("a")
    clock.now += 31
    q.expire()
    [again] = q.lease("b")
    assert q.ack("a", held.lease, "sent") == LATE  # b may send it too: the at-least-once edge
    assert q.ack("b", again.lease, "sent") == DUPLICATE


def test_a_failed_ack_on_a_lost_lease_is_ignored(q, clock):
    handed(q, msg(R, 1))
    [held] = q.lease("a")
    clock.now += 31
    q.expire()
    [again] = q.lease("b")
    assert q.ack("a", held.lease, "failed", "no network") == STALE
    assert q.ack("b", again.lease, "sent") == OK


def test_acks_are_checked_against_the_phone_and_lease(q):
    handed(q, msg(R, 1))
    [held] = q.lease("a")
    assert q.ack("b", held.lease, "sent") == UNKNOWN  # not b's lease
    assert q.ack("a", "garbage", "sent") == UNKNOWN
    assert q.ack("a", held.lease, "delivered") == UNKNOWN
    assert q.ack("a", f"{held.id}.7", "sent") == UNKNOWN  # never issued
    assert q.ack("a", held.lease, "sent") == OK
    assert q.ack("a", held.lease, "sent") == DUPLICATE


def test_retry_gives_the_message_back_first_in_line(q):
    handed(q, msg(R, 1), msg(R, 2))
    [held] = q.lease("a")
    assert q.ack("a", held.lease, "retry", "WhatsApp closed") == OK
    assert ids(q.lease("b")) == [msg(R, 1).id]


def test_a_retry_keeps_the_message_from_that_phone_for_a_while(q, clock):
    handed(q, msg(R, 1), msg(S, 1))
    held = q.lease("a", 10)
    for lease in held:
        assert q.ack("a", lease.lease, "retry", "WhatsApp logged out") == OK
    assert q.lease("a", 10) == []  # not straight back to the phone that cannot send
    assert sorted(ids(q.lease("b", 10))) == sorted(ids(held))  # the other phone gets them at once


def test_a_phone_that_keeps_retrying_does_not_fail_the_message(q, clock):
    handed(q, msg(R, 1))  # max_attempts=3
    for _ in range(5):
        [held] = q.lease("a")
        assert q.ack("a", held.lease, "retry", "WhatsApp logged out") == OK
        assert q.lease("a") == []
        clock.now += RETRY_PAUSE + 1
    assert q.state(msg(R, 1).id)["state"] == "queued" and q.conn.llen(q.keys.failed("device")) == 0
    [held] = q.lease("a")  # WhatsApp is back
    assert q.ack("a", held.lease, "sent") == OK


def test_retries_are_bounded_on_their_own_and_expiries_still_count(conn, namespace, clock):
    q = LeaseQueue(conn, Keys(namespace), max_attempts=2, max_retries=3, retry_pause=10, clock=clock)
    handed(q, msg(R, 1), msg(S, 1))
    for phone in "abc":  # R: three phones, each logged out
        [held] = q.lease(phone, 1)
        q.ack(phone, held.lease, "retry", "logged out")
    assert q.state(msg(R, 1).id)["state"] == "failed"
    [held] = q.lease("a")  # S: a retry (not counted), then two expired leases
    q.ack("a", held.lease, "retry", "logged out")
    for left in ("queued", "failed"):
        q.lease("b")
        clock.now += 31
        q.expire()
        assert q.state(msg(S, 1).id)["state"] == left


def test_too_many_leases_fail_the_message_for_the_admin(q, clock):
    handed(q, msg(R, 1))
    for _ in range(3):
        q.lease("a")
        clock.now += 31
        q.expire()
    assert q.state(msg(R, 1).id)["state"] == "failed"
    assert q.conn.hget(q.keys.msg(msg(R, 1).id), "status") == b"failed"
    assert [Outbound.from_json(x).id for x in q.conn.lrange(q.keys.failed("device"), 0, -1)] == [msg(R, 1).id]


def test_a_failed_ack_lands_in_the_failed_list(q):
    handed(q, msg(R, 1))
    [held] = q.lease("a")
    assert q.ack("a", held.lease, "failed", "not on WhatsApp") == OK
    record = q.conn.hgetall(q.keys.msg(held.id))
    assert (record[b"status"], record[b"error"], record[b"device"]) == (b"failed", b"not on WhatsApp", b"a")
    assert q.conn.llen(q.keys.failed("device")) == 1


SECRET = Outbound(id="pw1", to=R, text="Your new password: Tk-4412-Zq", kind="reply", secret=True)


def test_a_sent_message_leaves_no_text_in_redis(q):
    handed(q, SECRET, msg(S, 1))
    for leased in q.lease("a", 10):
        assert q.ack("a", leased.lease, "sent") == OK
    assert q.state(SECRET.id)["state"] == "sent"
    assert holding(q, b"Tk-4412-Zq") == []
    handed(q, Outbound(id="pw2", to=R, text="Your PIN: 5529", secret=True))
    assert [m.id for m in q.take_for("ar", R)] == ["pw2"]  # an AutoResponder exchange took it
    assert holding(q, b"5529") == []


def test_a_failed_message_goes_to_the_failed_list_at_once_and_nowhere_else(q):
    q.handoff(SECRET)  # the outbox has not written its record yet: the status waits, the list does not
    [held] = q.lease("a")
    assert q.ack("a", held.lease, "failed", "not on WhatsApp") == OK
    assert holding(q, b"Tk-4412-Zq") == [q.keys.failed("device")]
    assert Outbound.from_json(q.conn.lindex(q.keys.failed("device"), 0)) == SECRET
    q.conn.hset(q.keys.msg(SECRET.id), mapping={"status": "handed"})
    q.expire()  # housekeeping applies the status: the body is not listed twice
    assert q.conn.llen(q.keys.failed("device")) == 1


def holding(q: LeaseQueue, needle: bytes) -> list[str]:
    """The keys of the queue's namespace whose contents include ``needle``."""
    conn, found = q.conn, []
    for key in conn.scan_iter(match=f"{q.keys.ns}:*"):
        kind = conn.type(key)
        if kind == b"hash":
            values = [v for pair in conn.hgetall(key).items() for v in pair]
        elif kind in (b"list", b"set", b"zset"):
            values = conn.sort(key, by="nosort", alpha=True)
        else:
            values = [conn.get(key)]
        if any(needle in (v or b"") for v in values):
            found.append(key.decode())
    return found


def test_an_ack_before_the_outbox_wrote_its_record_is_applied_later(q):
    m = msg(R, 1)
    q.handoff(m)  # the outbox has not written "handed" yet
    [held] = q.lease("a")
    assert q.ack("a", held.lease, "sent") == OK
    assert q.conn.sismember(q.keys.device("unapplied"), m.id)
    q.conn.hset(q.keys.msg(m.id), mapping={"status": "handed"})  # the outbox catches up
    q.expire()  # housekeeping
    assert q.conn.hget(q.keys.msg(m.id), "status") == b"sent"
    assert not q.conn.sismember(q.keys.device("unapplied"), m.id)


def test_a_pinned_message_goes_only_through_its_phone(q):
    q.handoff(msg(R, 1), only="b")
    q.handoff(msg(R, 2))
    q.handoff(msg(S, 1))
    assert ids(q.lease("a", 10)) == [msg(S, 1).id]  # R's second waits behind R's pinned first
    assert ids(q.lease("b", 10)) == [msg(R, 1).id]


def test_a_pinned_number_whose_chat_came_through_another_phone_is_answered_by_its_pin(q, clock):
    q.conn.set(q.keys.device_affinity(R), "b")  # R wrote to phone b
    q.conn.zadd(q.keys.device("seen"), {"a": clock.now, "b": clock.now})  # both online
    q.handoff(msg(R, 1), only="a")  # but R is pinned to phone a
    assert q.lease("b") == []
    assert ids(q.lease("a")) == [msg(R, 1).id]  # before: nobody, ever (0 leases in 25 s)


def test_replies_prefer_the_phone_the_contact_wrote_to_while_it_is_online(q, clock):
    q.conn.set(q.keys.device_affinity(R), "b")
    q.conn.zadd(q.keys.device("seen"), {"b": clock.now})
    q.handoff(msg(R, 1))
    assert q.lease("a") == []
    clock.now += 61  # b went quiet
    assert ids(q.lease("a")) == [msg(R, 1).id]


def test_an_autoresponder_exchange_holds_its_contacts_messages_from_polling_phones(q):
    with q.hold(R, 5):
        handed(q, msg(R, 1), msg(S, 1))
        assert ids(q.lease("a", 10)) == [msg(S, 1).id]  # R's is the exchange's to take
        handed(q, msg(R, 2))
        assert [m.id for m in q.take_for("ar", R)] == [msg(R, 1).id, msg(R, 2).id]
        handed(q, msg(R, 3))  # came after the exchange's last look
    assert ids(q.lease("a")) == [msg(R, 3).id]  # the hold ended: the polling phones have it


def test_take_for_hands_a_contact_its_queued_messages_in_order(q):
    handed(q, msg(R, 1), msg(S, 1), msg(R, 2))
    assert [m.id for m in q.take_for("ar", R)] == [msg(R, 1).id, msg(R, 2).id]
    assert q.state(msg(R, 2).id)["state"] == "sent"
    [held] = q.lease("a")
    assert held.id == msg(S, 1).id
    handed(q, msg(S, 2))
    assert q.take_for("ar", S) == []  # S has a message out with phone a


def test_revoking_a_phone_frees_its_leases(q):
    handed(q, msg(R, 1))
    q.lease("a")
    assert q.release_device("a") == 1
    assert ids(q.lease("b")) == [msg(R, 1).id]


def test_a_long_poll_returns_as_soon_as_a_message_is_handed_over(q):
    got: list = []
    poller = threading.Thread(target=lambda: got.extend(q.wait_lease("a", 10)))
    started = time.monotonic()
    poller.start()
    _subscribed(q)
    q.handoff(msg(R, 1))
    poller.join(10)
    assert ids(got) == [msg(R, 1).id]
    assert time.monotonic() - started < 8  # woken by the hand-over, not by the end of the 10 s wait


class CountingRedis(redis.Redis):
    """A connection that counts the commands it sends (pub/sub reads are not commands)."""

    sent = 0

    def execute_command(self, *args, **options):
        self.sent += 1
        return super().execute_command(*args, **options)


def test_a_long_poll_with_nothing_to_do_waits_without_asking_redis_again(redis_url, namespace):
    q = LeaseQueue(CountingRedis.from_url(redis_url), Keys(namespace))
    q.lease("a")  # the script is loaded: from here on one command per look at the queue
    before, started = q.conn.sent, time.monotonic()
    assert q.wait_lease("a", 1.0) == []
    assert time.monotonic() - started >= 1.0
    assert q.conn.sent - before <= 2  # a look before the wait and one after: no polling in between


def _subscribed(q: LeaseQueue) -> None:
    # Wait for the poll's subscription: an event we can observe in Redis.
    channel = q.keys.device("wake")
    deadline = time.monotonic() + 5
    while q.conn.pubsub_numsub(channel)[0][1] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.005)


# --- a property: whatever the phones do, nothing is lost and order holds ------

ACTIONS = st.lists(st.tuples(st.sampled_from(["lease", "ack", "die", "tick"]), st.sampled_from("abc")), max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_any_interleaving_delivers_everything_in_order(redis_url, actions):
    conn = redis.Redis.from_url(redis_url)
    clock = Clock()
    q = LeaseQueue(conn, Keys(f"t{uuid.uuid4().hex[:10]}"), lease=30, online=60, max_attempts=100, clock=clock)
    try:
        _play(q, clock, actions)
    finally:
        keys = list(conn.scan_iter(match=f"{q.keys.ns}:*"))
        if keys:
            conn.delete(*keys)


def _play(q: LeaseQueue, clock: Clock, actions) -> None:
    plan = [msg(to, n) for n in range(3) for to in (R, S)]
    handed(q, *plan)
    held: dict[str, list] = {p: [] for p in "abc"}
    finished: list[str] = []
    # Then every phone dies, and one good phone drains what is left.
    endgame = [("die", p) for p in "abc"] + [("tick", "a")] + [("lease", "a"), ("ack", "a"), ("ack", "a")] * 6
    for action, phone in actions + endgame:
        if action == "lease":
            held[phone] += q.lease(phone, 3)
        elif action == "ack" and held[phone]:
            lease = held[phone].pop(0)
            if q.ack(phone, lease.lease, "sent") in (OK, LATE):
                finished.append(lease.id)
        elif action == "die":
            held[phone] = []
        elif action == "tick":
            clock.now += 31
            q.expire()
    assert sorted(finished) == sorted(m.id for m in plan)  # each once, none lost
    for to in (R, S):
        assert [i for i in finished if i.startswith(f"m{to[-2:]}")] == [m.id for m in plan if m.to == to]
