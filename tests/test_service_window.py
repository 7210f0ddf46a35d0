"""Meta's 24-hour window: templates outright when it is closed, and after a late 131047.

End to end on the stack (webhook, worker, sandbox host, fake Graph API); the
late ``failed`` status is handed to ``window.after_failure`` as
``outbox.record_status`` hands it, and what it returns is queued the same way.
"""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from conftest import HOOK_SECRET, eventually

from wa_addon.hooks.signing import HEADER, sign
from wa_addon.messages import Inbound, Outbound
from wa_addon.queue import outbox
from wa_addon.transports import window
from wa_addon.transports.window import ServiceWindow

RETAIL1 = "8801822222222"  # Karim Store, English
RETAIL2 = "8801933333333"  # Salma Shop, Bengali
# The event says 3,000 but no money moved on the sandbox: the message shows the balance now (the host's 2,500).
TEMPLATE = "template:balance_added_v1 ৳500 ৳2,500 Rahim Telecom"
TEXT = "💰 ৳500 added to your balance by Rahim Telecom.\nNew balance: ৳2,500"


@pytest.fixture
def stack_settings(stack_settings):
    return stack_settings.with_(cloud_templates=("notify_balance_added:balance_added_v1",))


def balance_added(stack, phone: str, language: str = "en") -> None:
    data = {
        "payment_id": uuid.uuid4().int % 10**6,
        "reseller_id": 3,
        "amount": "500.00",
        "balance": "3000.00",
        "by": {"id": 2, "name": "Rahim Telecom"},
        "reseller": {"phone": phone, "language": language},
    }
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": "balance.added",
        "created_at": "2026-11-30T10:00:00Z",
        "data": data,
    }
    raw = json.dumps(event).encode()
    resp = requests.post(f"{stack.url}/hooks", data=raw, headers={HEADER: sign(HOOK_SECRET, raw)}, timeout=10)
    assert resp.status_code == 200


def sent(stack, phone: str, count: int = 1) -> list:
    """The messages sent to ``phone``, once ``count`` were sent and the worker recorded them."""
    stack.graph.wait_for(lambda out: sum(m.to == phone for m in out) >= count, timeout=20)
    out = [m for m in stack.graph.sent if m.to == phone]
    for m in out:  # the worker records a send just after the fake Graph API answered it
        assert eventually(lambda m=m: stack.rt.conn.exists(stack.rt.keys.wamid(m.wa_msg_id)))
    return out


def test_a_notification_to_a_user_who_never_wrote_goes_as_the_template_outright(stack):
    balance_added(stack, RETAIL1)
    (only,) = sent(stack, RETAIL1)
    assert only.text == TEMPLATE
    assert len([r for r in stack.graph.requests if r.path.endswith("/messages")]) == 1  # no free text first


def test_within_the_window_the_text_goes_and_a_late_131047_sends_the_template(stack):
    stack.say(RETAIL1, "BAL")  # opens Karim's window on our number
    sent(stack, RETAIL1)
    balance_added(stack, RETAIL1)
    _, note = sent(stack, RETAIL1, 2)
    assert note.text == TEXT  # within the window: free text
    # Meta accepted it, then reports in a status webhook that the window had closed.
    again = window.after_failure(stack.rt, "cloud", note.wa_msg_id, "131047 Re-engagement message")
    assert [m.mode for m in again] == ["template"]
    assert window.after_failure(stack.rt, "cloud", note.wa_msg_id, "131047 Re-engagement message") == again
    outbox.push(stack.rt, again + again, "cloud")  # a repeated status: queued once
    assert sent(stack, RETAIL1, 3)[-1].text == TEMPLATE
    assert stack.rt.conn.llen(stack.rt.keys.failed("cloud")) == 0


def test_a_late_final_error_lands_the_notification_in_the_failed_list_once(stack):
    stack.say(RETAIL1, "BAL")
    sent(stack, RETAIL1)
    balance_added(stack, RETAIL1)
    note = sent(stack, RETAIL1, 2)[1]
    for _ in range(2):  # Meta may repeat a status
        assert window.after_failure(stack.rt, "cloud", note.wa_msg_id, "131026 Message undeliverable") == []
    (failed,) = stack.rt.conn.lrange(stack.rt.keys.failed("cloud"), 0, -1)
    assert Outbound.from_json(failed).kind == "notify.balance_added"
    assert outbox.retry_failed(stack.rt, "cloud") == 1  # the admin's retry works on it as on any other


def test_a_reply_without_a_kept_body_keeps_only_its_failed_status(stack):
    stack.say(RETAIL1, "BAL")
    (reply,) = sent(stack, RETAIL1)
    assert window.after_failure(stack.rt, "cloud", reply.wa_msg_id, "131047 Re-engagement message") == []
    assert window.after_failure(stack.rt, "cloud", "wamid.unknown", "131026 x") == []


def test_the_window_is_per_number_and_closes_after_24_hours(conn, namespace):
    from wa_addon.store import Keys

    now = [1_000_000.0]
    ours = ServiceWindow(conn, Keys(namespace), "111", clock=lambda: now[0])
    other = ServiceWindow(conn, Keys(namespace), "222", clock=lambda: now[0])
    ours.record(
        [
            Inbound("cloud", "w1", RETAIL1, "BAL", timestamp=int(now[0]) - 3600),
            Inbound("cloud", "w2", RETAIL2, "BAL", timestamp=int(now[0]) - 25 * 3600),
        ]
    )  # a day-old redelivery
    assert ours.closed([RETAIL1, RETAIL2]) == {RETAIL2}
    assert other.closed([RETAIL1]) == {RETAIL1}
    ttl = conn.ttl(Keys(namespace).service_window("111", RETAIL1))
    assert 23 * 3600 - 5 <= ttl <= 23 * 3600  # the window's rest, not a fresh 24 hours
