"""Lifecycles: the declared moves per state, state in real Redis, races, timers."""

from __future__ import annotations

import threading

import pytest

from wa_addon.host.http import HttpHost
from wa_addon.runtime import Runtime
from wa_addon.settings import Settings
from wa_addon.workflows import DUPLICATE, ILLEGAL, UNKNOWN
from wa_addon.workflows import balance_approval as ba
from wa_addon.workflows import request as rq


@pytest.fixture
def rt(redis_url, namespace):
    settings = Settings(redis_url=redis_url, namespace=namespace, request_stuck_after=900,
                        balance_request_expiry=3600)
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
    ba.PENDING: {ba.APPROVE: ba.APPROVED, ba.DENY: ba.DENIED, ba.EXPIRE: ba.EXPIRED},
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


def test_the_shared_machine_keeps_no_models_attached():
    for state in rq.STATES:
        rq.LIFECYCLE.step(state, rq.CANCEL)
    assert rq.LIFECYCLE.machine.models == []


def test_a_status_is_read_as_the_trigger_that_leads_there():
    assert rq.LIFECYCLE.resolve(rq.PROCESSING, rq.SUCCESS) == rq.COMPLETE
    assert rq.LIFECYCLE.resolve(rq.FAILED, rq.PENDING) == rq.RESEND
    assert rq.LIFECYCLE.resolve(rq.SUCCESS, rq.PROCESSING) is None


# -- state in Redis -----------------------------------------------------------

def test_a_request_moves_and_counts_versions(rt):
    assert rq.start(rt, 7, cause="evt_1").changed
    first = rq.apply(rt, 7, rq.PROCESSING, source="hook", cause="evt_2")
    second = rq.apply(rt, 7, rq.COMPLETE, source="admin", cause="msg_1")
    assert (first.changed, first.previous, first.state, first.version) == (True, rq.PENDING, rq.PROCESSING, 2)
    assert (second.changed, second.state, second.version) == (True, rq.SUCCESS, 3)
    assert rq.state(rt, 7) == rq.SUCCESS


def test_a_duplicate_and_an_illegal_jump_are_absorbed(rt):
    rq.start(rt, 8, cause="evt_1")
    rq.apply(rt, 8, rq.SUCCESS, source="hook", cause="evt_2")
    duplicate = rq.apply(rt, 8, rq.SUCCESS, source="hook", cause="evt_3")
    late = rq.apply(rt, 8, rq.PROCESSING, source="hook", cause="evt_4")  # processing arriving after success
    assert (duplicate.changed, duplicate.reason) == (False, DUPLICATE)
    assert (late.changed, late.reason, late.state) == (False, ILLEGAL, rq.SUCCESS)
    assert rq.state(rt, 8) == rq.SUCCESS


def test_an_unknown_request_is_not_invented(rt):
    outcome = rq.apply(rt, 404, rq.CANCEL, source="admin")
    assert (outcome.changed, outcome.state, outcome.reason) == (False, None, UNKNOWN)
    assert rq.state(rt, 404) is None


def test_the_same_cause_again_replays_its_change(rt):
    rq.start(rt, 9, cause="evt_1")
    first = rq.apply(rt, 9, rq.PROCESSING, source="hook", cause="evt_2")
    rq.apply(rt, 9, rq.SUCCESS, source="hook", cause="evt_3")
    again = rq.apply(rt, 9, rq.PROCESSING, source="hook", cause="evt_2")  # a worker re-running evt_2
    assert again.changed and again.replayed
    assert (again.state, again.version, again.transition_id) == (first.state, first.version, first.transition_id)
    assert rq.state(rt, 9) == rq.SUCCESS


def test_start_twice_is_absorbed(rt):
    assert rq.start(rt, 10, cause="evt_1").changed
    assert not rq.start(rt, 10, rq.PROCESSING, cause="evt_2").changed
    assert rq.start(rt, 10, cause="evt_1").replayed


@pytest.mark.parametrize("rounds", [30])
def test_an_admin_cancel_racing_a_hook_success_has_one_winner(rt, rounds):
    for n in range(rounds):
        request_id = 1000 + n
        rq.start(rt, request_id, rq.PROCESSING, cause=f"evt_c{n}")
        barrier, results = threading.Barrier(2), {}

        def run(name, target, source, request_id=request_id, barrier=barrier, results=results):
            barrier.wait()
            results[name] = rq.apply(rt, request_id, target, source=source, cause=f"{name}{request_id}")

        threads = [threading.Thread(target=run, args=("admin", rq.CANCEL, "admin")),
                   threading.Thread(target=run, args=("hook", rq.SUCCESS, "hook"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [name for name, outcome in results.items() if outcome.changed]
        assert len(winners) == 1, results
        final = rq.state(rt, request_id)
        assert final == results[winners[0]].state
        assert results[winners[0]].version == 2


def test_many_threads_one_trigger_one_change(rt):
    ba.start(rt, 5, cause="evt_1")
    barrier, outcomes = threading.Barrier(8), []

    def run(i):
        barrier.wait()
        outcomes.append(ba.apply(rt, 5, ba.APPROVE if i % 2 else ba.DENY, source="admin", cause=f"m{i}"))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(o.changed for o in outcomes) == 1


# -- timers -------------------------------------------------------------------

def test_a_request_stuck_in_processing_is_taken_once(rt):
    rq.start(rt, 20, cause="evt_1")
    rq.apply(rt, 20, rq.PROCESS, source="hook", cause="evt_2")
    rq.start(rt, 21, rq.PROCESSING, cause="evt_3")
    rq.apply(rt, 21, rq.SUCCESS, source="hook", cause="evt_4")  # finished: never stuck
    later = rt.conn.time()[0] + 901
    stuck = rq.take_stuck(rt, now=later)
    assert [(request_id, record.state) for request_id, _, record in stuck] == [("20", rq.PROCESSING)]
    assert rq.take_stuck(rt, now=later + 600) == []
    assert rq.take_stuck(rt, now=rt.conn.time()[0]) == []


def test_a_resent_request_can_be_stuck_again(rt):
    rq.start(rt, 22, rq.PROCESSING, cause="evt_1")
    later = rt.conn.time()[0] + 901
    assert len(rq.take_stuck(rt, now=later)) == 1
    rq.apply(rt, 22, rq.RESEND, source="admin", cause="m1")
    rq.apply(rt, 22, rq.PROCESS, source="hook", cause="evt_2")
    assert len(rq.take_stuck(rt, now=later + 1000)) == 1


def test_an_old_balance_request_expires_once_and_can_no_longer_be_accepted(rt):
    ba.start(rt, 30, cause="evt_1", info={"phone": "8801822222222", "language": "en", "amount": "500.00"})
    ba.start(rt, 31, cause="evt_2")
    ba.apply(rt, 31, ba.DENY, source="admin", cause="m1")
    later = rt.conn.time()[0] + 3601
    assert ba.expire_due(rt, now=rt.conn.time()[0]) == []
    expired = ba.expire_due(rt, now=later)
    assert [(o.ident, o.state) for o in expired] == [("30", ba.EXPIRED)]
    assert ba.expire_due(rt, now=later) == []
    assert ba.LIFECYCLE.info(rt, 30)["phone"] == "8801822222222"
    assert not ba.apply(rt, 30, ba.APPROVE, source="admin", cause="m2").changed
