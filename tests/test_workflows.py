"""Lifecycles: the declared moves per state, state in real Redis, races, timers."""

from __future__ import annotations

import logging
import threading
import time
from functools import partial

import pytest
from conftest import ADMIN, HOST_KEY, RETAIL1, Chat, chat_settings

from wa_addon.hooks import events, notify, timers
from wa_addon.host.http import HttpHost
from wa_addon.runtime import Runtime
from wa_addon.settings import Settings
from wa_addon.workflows import DUPLICATE, ILLEGAL, UNKNOWN, Lifecycle
from wa_addon.workflows import balance_approval as ba
from wa_addon.workflows import request as rq


@pytest.fixture
def rt(redis_url, namespace):
    settings = Settings(redis_url=redis_url, namespace=namespace, request_stuck_after=900, balance_request_expiry=3600)
    runtime = Runtime(settings, HttpHost("http://127.0.0.1:9", "unused"))  # the host is never asked here
    yield runtime
    runtime.close()


# -- the machines, state by state (django-transitions style) -----------------

REQUEST_MOVES = {
    rq.PENDING: {rq.PROCESS: rq.PROCESSING, rq.COMPLETE: rq.SUCCESS, rq.FAIL: rq.FAILED, rq.CANCEL: rq.CANCELLED},
    rq.PROCESSING: {rq.COMPLETE: rq.SUCCESS, rq.FAIL: rq.FAILED, rq.CANCEL: rq.CANCELLED, rq.RESEND: rq.PENDING},
    rq.FAILED: {rq.CANCEL: rq.CANCELLED, rq.RESEND: rq.PENDING},
    rq.SUCCESS: {},
    rq.CANCELLED: {},
}

APPROVAL_MOVES = {
    ba.PENDING: {ba.CLAIM: ba.DECIDING, ba.APPROVE: ba.APPROVED, ba.DENY: ba.DENIED, ba.EXPIRE: ba.EXPIRED},
    ba.DECIDING: {ba.RELEASE: ba.PENDING, ba.APPROVE: ba.APPROVED, ba.DENY: ba.DENIED},  # never expires
    ba.APPROVED: {},
    ba.DENIED: {},
    ba.EXPIRED: {},
}


@pytest.mark.parametrize(("lifecycle", "moves"), [(rq.LIFECYCLE, REQUEST_MOVES), (ba.LIFECYCLE, APPROVAL_MOVES)])
def test_each_state_allows_exactly_its_triggers(lifecycle, moves):
    assert set(moves) == set(lifecycle.states)
    for state, allowed in moves.items():
        assert sorted(lifecycle.allowed(state)) == sorted(allowed), state
        for trigger in lifecycle.triggers:
            assert lifecycle.step(state, trigger) == allowed.get(trigger), (state, trigger)


def test_unknown_names_lead_nowhere():
    assert rq.LIFECYCLE.step(rq.PENDING, "") is None  # an empty trigger would ask the machine for every move
    assert rq.LIFECYCLE.step("lost", rq.CANCEL) is None
    assert rq.LIFECYCLE.step(rq.PENDING, "explode") is None
    assert rq.LIFECYCLE.resolve(rq.PENDING, "lost") is None


def test_a_lifecycle_is_plain_moves_only():
    # Asked as data, the machine never runs a condition: declaring one must fail loudly, not be ignored.
    with pytest.raises(ValueError, match="conditions"):
        Lifecycle("x", ["a", "b"], [{"trigger": "go", "source": "a", "dest": "b", "conditions": "ok"}], "a")


def test_a_status_is_read_as_the_trigger_that_leads_there():
    assert rq.LIFECYCLE.resolve(rq.PROCESSING, rq.SUCCESS) == rq.COMPLETE
    assert rq.LIFECYCLE.resolve(rq.FAILED, rq.PENDING) == rq.RESEND
    assert rq.LIFECYCLE.resolve(rq.SUCCESS, rq.PROCESSING) is None


# -- state in Redis -----------------------------------------------------------


def test_a_request_moves_and_counts_versions(rt):
    assert rq.LIFECYCLE.start(rt, 7, cause="evt_1").changed
    first = rq.LIFECYCLE.apply(rt, 7, rq.PROCESSING, source="hook", cause="evt_2")
    second = rq.LIFECYCLE.apply(rt, 7, rq.COMPLETE, source="hook", cause="evt_3")
    assert (first.changed, first.previous, first.state, first.version) == (True, rq.PENDING, rq.PROCESSING, 2)
    assert (second.changed, second.state, second.version) == (True, rq.SUCCESS, 3)
    assert rq.LIFECYCLE.state(rt, 7) == rq.SUCCESS


def test_a_duplicate_and_an_illegal_jump_are_absorbed(rt):
    rq.LIFECYCLE.start(rt, 8, cause="evt_1")
    rq.LIFECYCLE.apply(rt, 8, rq.SUCCESS, source="hook", cause="evt_2")
    duplicate = rq.LIFECYCLE.apply(rt, 8, rq.SUCCESS, source="hook", cause="evt_3")
    late = rq.LIFECYCLE.apply(rt, 8, rq.PROCESSING, source="hook", cause="evt_4")  # processing arriving after success
    assert (duplicate.changed, duplicate.reason) == (False, DUPLICATE)
    assert (late.changed, late.reason, late.state) == (False, ILLEGAL, rq.SUCCESS)
    assert rq.LIFECYCLE.state(rt, 8) == rq.SUCCESS


def test_only_a_hosts_event_that_does_not_fit_is_a_warning(rt, caplog):
    """An admin's late tap is routine (INFO); a host's out-of-order event is worth a look (WARNING)."""
    rq.LIFECYCLE.start(rt, 11, cause="evt_1")
    rq.LIFECYCLE.apply(rt, 11, rq.SUCCESS, source="hook", cause="evt_2")
    with caplog.at_level(logging.INFO, logger="wa_addon.workflows"):
        rq.LIFECYCLE.apply(rt, 11, rq.CANCEL, source="admin", cause="chat_1")  # "Cancel" tapped after success
        rq.LIFECYCLE.apply(rt, 11, rq.PROCESSING, source="hook", cause="evt_3")
    levels = [(r.levelno, r.getMessage().split(" absorbed")[0]) for r in caplog.records]
    assert levels == [(logging.INFO, f"request 11: {rq.CANCEL}"), (logging.WARNING, f"request 11: {rq.PROCESSING}")]


def test_an_unknown_request_is_not_invented(rt):
    outcome = rq.LIFECYCLE.apply(rt, 404, rq.CANCEL, source="hook")
    assert (outcome.changed, outcome.state, outcome.reason) == (False, None, UNKNOWN)
    assert rq.LIFECYCLE.state(rt, 404) is None


def test_the_same_cause_again_replays_its_change(rt):
    rq.LIFECYCLE.start(rt, 9, cause="evt_1")
    first = rq.LIFECYCLE.apply(rt, 9, rq.PROCESSING, source="hook", cause="evt_2")
    rq.LIFECYCLE.apply(rt, 9, rq.SUCCESS, source="hook", cause="evt_3")
    again = rq.LIFECYCLE.apply(rt, 9, rq.PROCESSING, source="hook", cause="evt_2")  # a worker re-running evt_2
    assert again.changed and again.replayed
    assert (again.state, again.version, again.transition_id) == (first.state, first.version, first.transition_id)
    assert rq.LIFECYCLE.state(rt, 9) == rq.SUCCESS


def test_start_twice_is_absorbed(rt):
    assert rq.LIFECYCLE.start(rt, 10, cause="evt_1").changed
    assert not rq.LIFECYCLE.start(rt, 10, rq.PROCESSING, cause="evt_2").changed
    assert rq.LIFECYCLE.start(rt, 10, cause="evt_1").replayed


def race(**calls):
    """Run each call in its own thread, released together; their results by name."""
    barrier, results = threading.Barrier(len(calls)), {}

    def run(name, call):
        barrier.wait()
        results[name] = call()

    threads = [threading.Thread(target=run, args=item) for item in calls.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.parametrize("rounds", [30])
def test_two_racing_events_for_one_request_have_one_winner(rt, rounds):
    # Two workers on two events of one request (a recovered partition beside a live one):
    # the compare-and-set lets one change it, and the other is absorbed.
    for n in range(rounds):
        request_id = 1000 + n
        rq.LIFECYCLE.start(rt, request_id, rq.PROCESSING, cause=f"evt_c{n}")
        results = race(
            **{
                name: partial(rq.LIFECYCLE.apply, rt, request_id, target, source="hook", cause=f"{name}{request_id}")
                for name, target in (("evt_cancelled", rq.CANCELLED), ("evt_success", rq.SUCCESS))
            }
        )
        winners = [name for name, outcome in results.items() if outcome.changed]
        assert len(winners) == 1, results
        final = rq.LIFECYCLE.state(rt, request_id)
        assert final == results[winners[0]].state
        assert results[winners[0]].version == 2


def test_many_threads_one_trigger_one_change(rt):
    ba.LIFECYCLE.start(rt, 5, cause="evt_1")
    outcomes = race(
        **{
            f"evt_m{i}": partial(
                ba.LIFECYCLE.apply, rt, 5, ba.APPROVED if i % 2 else ba.DENIED, source="hook", cause=f"evt_m{i}"
            )
            for i in range(8)
        }
    )
    assert sum(o.changed for o in outcomes.values()) == 1


# -- timers -------------------------------------------------------------------


def test_a_stuck_request_stays_listed_until_taken(rt):
    rq.LIFECYCLE.start(rt, 20, cause="evt_1")
    rq.LIFECYCLE.apply(rt, 20, rq.PROCESS, source="hook", cause="evt_2")
    rq.LIFECYCLE.start(rt, 21, rq.PROCESSING, cause="evt_3")
    rq.LIFECYCLE.apply(rt, 21, rq.SUCCESS, source="hook", cause="evt_4")  # finished: never stuck
    later = rt.conn.time()[0] + 901
    assert rq.stuck(rt, now=rt.conn.time()[0]) == []
    assert [(request_id, record.state) for request_id, _, record in rq.stuck(rt, now=later)] == [("20", rq.PROCESSING)]
    assert len(rq.stuck(rt, now=later)) == 1  # listing takes nothing: a failed notice is tried again
    assert rq.LIFECYCLE.take(rt, "20") and not rq.LIFECYCLE.take(rt, "20")  # one housekeeper takes it
    assert rq.stuck(rt, now=later + 600) == []


def test_a_resent_request_can_be_stuck_again(rt):
    rq.LIFECYCLE.start(rt, 22, rq.PROCESSING, cause="evt_1")
    later = rt.conn.time()[0] + 901
    assert len(rq.stuck(rt, now=later)) == 1
    rq.LIFECYCLE.take(rt, "22")
    rq.LIFECYCLE.apply(rt, 22, rq.RESEND, source="hook", cause="evt_2")
    rq.LIFECYCLE.apply(rt, 22, rq.PROCESS, source="hook", cause="evt_3")
    assert len(rq.stuck(rt, now=later + 1000)) == 1


def test_an_expired_balance_request_stays_due_until_its_notice_is_taken(rt):
    ba.LIFECYCLE.start(rt, 30, cause="evt_1", info={"phone": "8801822222222", "language": "en", "amount": "500.00"})
    ba.LIFECYCLE.start(rt, 31, cause="evt_2")
    ba.LIFECYCLE.apply(rt, 31, ba.DENIED, source="hook", cause="evt_3")
    later = rt.conn.time()[0] + 3601
    assert ba.due(rt, now=rt.conn.time()[0]) == []
    ((ident, since),) = ba.due(rt, now=later)
    first = ba.expire(rt, ident, since)
    assert (ident, first.changed, first.state) == ("30", True, ba.EXPIRED)
    assert ba.due(rt, now=later) == [(ident, since)]  # kept until its notice is queued
    again = ba.expire(rt, ident, since)  # the housekeeper died before queueing it
    assert again.replayed and again.transition_id == first.transition_id  # same notice id: sent once
    assert ba.LIFECYCLE.take(rt, ident) and ba.due(rt, now=later) == []
    assert ba.LIFECYCLE.info(rt, 30)["phone"] == "8801822222222"
    assert not ba.LIFECYCLE.apply(rt, 30, ba.APPROVE, source="hook", cause="evt_4").changed


# -- an admin's decision against the expiry ----------------------------------------


def test_a_claimed_balance_request_does_not_expire_and_a_released_one_does(rt):
    ba.LIFECYCLE.start(rt, 40, cause="evt_1")
    later = rt.conn.time()[0] + 3601
    assert ba.claim(rt, 40).changed
    assert ba.due(rt, now=later) == []  # off the timer while the host decides
    assert not ba.claim(rt, 40).changed  # a second ACCEPT / DENY does not claim it again
    assert ba.release(rt, 40).state == ba.PENDING  # the host refused
    ((ident, _),) = ba.due(rt, now=later + 3601)
    assert ident == "40"


def test_a_hook_decides_a_claimed_balance_request(rt):
    ba.LIFECYCLE.start(rt, 41, cause="evt_1")
    ba.claim(rt, 41)
    # the host's word, after the claim
    assert ba.LIFECYCLE.apply(rt, 41, ba.DENIED, source="hook", cause="evt_2").changed


@pytest.mark.parametrize("rounds", [30])
def test_a_claim_racing_the_expiry_has_one_winner(rt, rounds):
    later = rt.conn.time()[0] + 3601
    for n in range(rounds):
        ident = str(2000 + n)
        ba.LIFECYCLE.start(rt, ident, cause=f"evt_{n}")
        results = race(claim=partial(ba.claim, rt, ident), expire=partial(ba.expire, rt, ident, later - 3601))
        winners = [name for name, outcome in results.items() if outcome.changed]
        assert len(winners) == 1, results
        assert ba.LIFECYCLE.state(rt, ident) == (ba.DECIDING if winners == ["claim"] else ba.EXPIRED)


class ExpiryMidDecision:
    """The real host, with the expiry pass run (long past due) just as the admin's decision reaches it."""

    def __init__(self, host: HttpHost):
        self.host, self.rt, self.queued = host, None, None

    def __getattr__(self, name):
        return getattr(self.host, name)

    def decide_balance_request(self, *args, **kwargs):
        self.queued = timers.housekeep(self.rt, now=time.time() + 10**6)
        return self.host.decide_balance_request(*args, **kwargs)


@pytest.fixture
def chat(redis_url, namespace, sandbox):
    host = ExpiryMidDecision(HttpHost(sandbox, HOST_KEY))
    runtime = Runtime(chat_settings(redis_url, namespace, sandbox), host)
    host.rt = runtime
    yield Chat(runtime, host)
    runtime.close()


def recorded_balance_request(chat, amount="1000") -> int:
    """A balance request of retail1 at the host, and its balance_request.created processed by the add-on."""
    br = chat.host.create_balance_request(amount=amount, actor=3, idem_key=f"br-{amount}")
    data = {"id": br.id, "reseller_id": 3, "amount": amount, "reseller": {"phone": RETAIL1, "language": "en"}}
    notify.process(chat.rt, events.new("balance_request.created", data).to_json())
    return br.id


def test_an_accept_is_not_told_expired_by_the_timer_meanwhile(chat):
    br = recorded_balance_request(chat)
    assert "approved" in chat.reply(ADMIN, f"ACCEPT {br}")
    assert chat.host.queued == 0  # the expiry pass ran mid-decision and left it alone: no "expired" notice
    assert ba.LIFECYCLE.state(chat.rt, br) == ba.DECIDING
    updated = {"id": br, "reseller_id": 3, "amount": "1000", "status": "approved"}
    notify.process(chat.rt, events.new("balance_request.updated", updated).to_json())  # the host's event
    assert ba.LIFECYCLE.state(chat.rt, br) == ba.APPROVED


def test_a_decision_the_host_refuses_leaves_the_balance_request_to_expire(chat):
    br = recorded_balance_request(chat, "700")
    chat.host.host.decide_balance_request(br, approve=False, idem_key="panel")  # its event not processed yet
    assert chat.reply(ADMIN, f"ACCEPT {br}") == f"Balance request #{br} is already denied."
    assert ba.LIFECYCLE.state(chat.rt, br) == ba.PENDING  # released, not stuck in deciding
    assert [ident for ident, _ in ba.due(chat.rt, now=time.time() + 10**6)] == [str(br)]
