"""A money move whose answer is lost: asked again with the same key, never done twice, never "went wrong".

The sandbox host is real and served over HTTP; a real proxy in front of it
forwards each call (so the money moves) and then spoils the answer.
"""

from __future__ import annotations

import pytest
from conftest import HOST_KEY

from wa_addon.host import HostOutcomeUnknown, HostUnavailable
from wa_addon.host.http import HttpHost
from wa_addon.redis_server import free_port
from wa_addon.testing.faulty_proxy import FaultyProxy

RETAIL1 = "8801822222222"  # Karim Store, 2,500.00, PIN 4321, en


@pytest.fixture
def proxy(sandbox):
    with FaultyProxy(sandbox) as spoiler:
        yield spoiler


@pytest.fixture
def truth(sandbox):
    """The host seen directly, not through the proxy: what really happened."""
    return HttpHost(sandbox, HOST_KEY)


@pytest.mark.parametrize("fault", ["empty", "cut", "garbled", "drop"])
def test_a_lost_answer_is_asked_again_and_the_recharge_happens_once(proxy, truth, fault):
    proxy.spoil(fault, path="/api/v1/requests")
    host = HttpHost(proxy.url, HOST_KEY, unknown_pause=0.01)
    req = host.create_request(actor=3, service="FL", number="01712345678", amount="50", idem_key="k1")
    assert (req.status, req.balance_after) == ("pending", "2450.00")
    assert [r.id for r in truth.list_requests(actor=3)] == [req.id]
    assert truth.get_reseller("retail1").balance == "2450.00"
    assert [f for _, _, f in proxy.forwarded] == [fault, ""]  # the second ask, same key, told what happened


def test_an_answer_lost_every_time_is_an_unknown_outcome_not_a_failure(proxy, truth):
    proxy.spoil("empty", path="/api/v1/payments", times=3)
    host = HttpHost(proxy.url, HOST_KEY, unknown_pause=0.01)
    with pytest.raises(HostOutcomeUnknown):
        host.add_balance(to="3", amount="5.00", actor=None, idem_key="p1")
    assert truth.get_reseller("retail1").balance == "2505.00"  # it did move, once
    payment = host.add_balance(to="3", amount="5.00", actor=None, idem_key="p1")  # the lane's later retry
    assert payment.balance_after == "2505.00" and truth.get_reseller("retail1").balance == "2505.00"


def test_every_money_call_goes_through_the_unknown_outcome_guard(proxy, truth):
    host = HttpHost(proxy.url, HOST_KEY, unknown_pause=0.01)
    calls = [
        (
            "/api/v1/resellers",
            lambda: host.create_reseller(phone="8801799999999", name="New", level=None, actor=None, idem_key="c1"),
        ),
        ("/api/v1/resellers/3/reset", lambda: host.reset_reseller(3, idem_key="r1")),
        ("/api/v1/balance-requests", lambda: host.create_balance_request(amount="10", actor=3, idem_key="b1")),
        ("/api/v1/balance-requests/", lambda: host.decide_balance_request(1, approve=True, idem_key="d1")),
        ("/api/v1/requests/", lambda: host.act_on_request(1, "cancel", idem_key="a1")),
    ]
    host.create_request(actor=3, service="FL", number="01712345678", amount="50", idem_key="k1")
    for path, call in calls:
        proxy.spoil("cut", path=path, times=3)
        with pytest.raises(HostOutcomeUnknown):
            call()
        call()  # asked again later: the host answers what happened


def test_a_host_that_cannot_be_reached_is_an_outage_and_is_not_asked_three_times():
    host = HttpHost(f"http://127.0.0.1:{free_port()}", HOST_KEY, unknown_pause=5)
    with pytest.raises(HostUnavailable) as info:
        host.add_balance(to="3", amount="5.00", actor=None, idem_key="p1")
    assert not isinstance(info.value, HostOutcomeUnknown)


# --- through the whole stack: the chat gets the truth -------------------------


@pytest.fixture
def stack_settings(stack_settings, proxy):
    return stack_settings.with_(host_url=proxy.url)  # the worker reaches the host only through the spoiler


def test_a_recharge_whose_answer_is_empty_is_answered_truthfully_and_debited_once(stack, proxy, truth):
    proxy.spoil("empty", path="/api/v1/requests")  # before: "Sorry, something went wrong", money gone
    stack.say(RETAIL1, "FL 01712345678 50 4321")
    stack.graph.wait_for(lambda sent: any(m.to == RETAIL1 for m in sent), timeout=20)
    request = truth.list_requests(actor=3)
    assert len(request) == 1 and truth.get_reseller("retail1").balance == "2450.00"
    assert stack.graph.sent_to(RETAIL1) == [
        f"✅ Request #{request[0].id} received\nFL GP prepaid 01712345678 — ৳50\nBalance: ৳2,500 → ৳2,450"
    ]


def test_an_unknown_outcome_keeps_the_chat_until_the_host_answers(stack, proxy, truth):
    proxy.spoil("empty", path="/api/v1/payments", times=4)  # more than one job's asks: the lane retries later
    stack.say("8801711000000", "ADDBAL retail1 5")
    stack.graph.wait_for(lambda sent: any(m.to == "8801711000000" for m in sent), timeout=30)
    (reply,) = stack.graph.sent_to("8801711000000")
    assert reply == "💰 Karim Store (retail1)-কে ৳৫ দেওয়া হয়েছে\nতার ব্যালেন্স: ৳২,৫০০ → ৳২,৫০৫"
    assert truth.get_reseller("retail1").balance == "2505.00"
    assert [f for _, p, f in proxy.forwarded if p == "/api/v1/payments"] == ["empty"] * 4 + [""]
