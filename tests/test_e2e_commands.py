"""Money commands end to end on real parts.

Signed Cloud API webhook -> the add-on (HTTP) -> Redis -> a real worker
process -> the sandbox host (HTTP) -> the reply to the fake Graph API.  The
host's balances are the proof that money moved, and moved once.
"""

from __future__ import annotations

import pytest

from wa_addon.host.http import HttpHost
from wa_addon.render import BN_DIGITS as BN

ADMIN = "8801711000000"
DEALER1 = "8801711111111"  # Rahim Telecom, 10,000.00, PIN 1234, bn
RETAIL1 = "8801822222222"  # Karim Store, 2,500.00, PIN 4321, en
HOST_KEY = "sandbox-test-key"


@pytest.fixture
def host(stack):
    return HttpHost(stack.settings.host_url, HOST_KEY)


def replies(stack, phone: str, count: int) -> list[str]:
    """The first ``count`` replies to ``phone``, waiting for them."""
    stack.graph.wait_for(lambda sent: sum(m.to == phone for m in sent) >= count, timeout=15)
    return stack.graph.sent_to(phone)


def test_a_recharge_with_pin_moves_money_once_even_if_the_webhook_comes_twice(stack, host):
    raw, _ = stack.say(RETAIL1, "FL ০১৭১২৩৪৫৬৭৮ ৫০ 4321")
    assert stack.post_cloud(raw).status_code == 200  # Meta redelivers
    stack.say(RETAIL1, "BAL")  # same sender, same partition: answered after any replay
    placed, balance = replies(stack, RETAIL1, 2)
    request = host.list_requests(actor=3, limit=5)
    assert len(request) == 1 and (request[0].number, request[0].operator) == ("8801712345678", "GP")
    assert placed == (
        f"✅ Request #{request[0].id} received\nFL GP prepaid 01712345678 — ৳50\nBalance: ৳2,500 → ৳2,450"
    )
    assert balance == "Karim Store: balance ৳2,450"
    assert len(stack.graph.sent_to(RETAIL1)) == 2


def test_five_wrong_pins_lock_the_reseller_out(stack, host):
    for _ in range(5):
        stack.say(RETAIL1, "FL 01712345678 50 0000")
    stack.say(RETAIL1, "FL 01712345678 50 4321")  # the right PIN, too late
    texts = replies(stack, RETAIL1, 6)
    assert texts[:4] == [f"Wrong PIN. {n} left." for n in ("4 tries", "3 tries", "2 tries", "1 try")]
    assert texts[4].startswith("Too many wrong PINs. Locked until ") and texts[5] == texts[4]
    assert host.get_reseller("retail1").balance == "2500.00"


def test_a_dealer_pays_its_reseller(stack, host):
    stack.say(DEALER1, "ADDBAL retail1 ৫০০ 1234")
    (text,) = replies(stack, DEALER1, 1)
    assert "৳২,৫০০ → ৳৩,০০০" in text and "৳১০,০০০ → ৳৯,৫০০" in text
    assert (host.get_reseller("dealer1").balance, host.get_reseller("retail1").balance) == ("9500.00", "3000.00")


def test_the_admin_cancels_a_request_and_accepts_a_balance_request(stack, host):
    request = host.create_request(actor=3, service="FL", number="01712345678", amount="100", idem_key="r1")
    balance_request = host.create_balance_request(amount="1000", actor=3, idem_key="b1")
    stack.say(ADMIN, f"CANCEL {request.id}")
    stack.say(ADMIN, f"ACCEPT {balance_request.id}")
    cancelled, accepted = replies(stack, ADMIN, 2)
    assert cancelled.startswith(f"অনুরোধ #{request.id}".translate(BN)) and "বাতিল হয়েছে, টাকা ফেরত গেছে" in cancelled
    assert "অনুমোদিত" in accepted and "৳৩,৫০০" in accepted
    assert host.get_request(request.id).status == "cancelled"
    assert host.get_reseller("retail1").balance == "3500.00"  # 2,500 - 100 + 100 + 1,000
