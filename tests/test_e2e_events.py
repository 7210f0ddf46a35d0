"""Host events end to end, on real parts.

The sandbox host emits its events as signed hooks (its ``HookSender``) to the
add-on served over HTTP; a real worker process turns them into WhatsApp
messages sent to the fake Graph API.  ``otp.requested`` and ``message.send``
(which the sandbox never emits) and the duplicate / out-of-order cases are
posted by the test, signed the same way; the admin's chat commands come in
as signed Cloud API webhooks and go to the host's API, as in production.

Waits are on the fake Graph API (no sleeps).  To know that nothing more is
coming for a reseller, a last event of that reseller is sent as a barrier:
one reseller's events are processed in order, and one recipient's messages
are sent in order.
"""

# ruff: noqa: F811  (the fixtures imported from helpers are taken as parameters: pytest's way, not a redefinition)

from __future__ import annotations

import json
import threading
import uuid

import pytest
import requests
from conftest import ADMIN, HOOK_SECRET, HOST_KEY, RETAIL1, RETAIL2
from helpers import TIMEOUT, extra_settings, host_db, live, relay, sandbox, stack_settings, wait_text  # noqa: F401  (fixtures)

from wa_addon import journal
from wa_addon.hooks.signing import HEADER, sign
from wa_addon.host import HostError
from wa_addon.render import BN_DIGITS as BN
from wa_addon.workflows import request as rq


def post_event(live, type, data, event_id=None):
    """Post one signed event to the hook endpoint; returns (raw body, response)."""
    event = {
        "id": event_id or f"evt_{uuid.uuid4().hex}",
        "type": type,
        "created_at": "2025-01-31T10:00:00Z",
        "data": data,
    }
    raw = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", HEADER: sign(HOOK_SECRET, raw)}
    return raw, requests.post(f"{live.stack.url}/hooks", data=raw, headers=headers, timeout=10)


def barrier(live, reseller_id, phone, name):
    """Rename a reseller (its event queues behind its earlier ones) and wait for that notice."""
    live.db.update_reseller(reseller_id, {"name": name})
    wait_text(live, phone, name)


def new_request(live, number="01712345678", amount="50"):
    body = {"service": "FL", "number": number, "amount": amount, "type": "prepaid"}
    return live.db.create_request(body, actor=3, idem_key=uuid.uuid4().hex)


# -- every event ------------------------------------------------------------------


def test_a_request_from_creation_to_success(live):
    req = new_request(live)
    admin = wait_text(live, ADMIN, f"#{req['id']}".translate(str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")))
    assert "01712***678" in admin and f"CANCEL {req['id']}" in admin
    live.db.act_on_request(req["id"], "process")
    live.db.act_on_request(req["id"], "complete", trx_id="BD123")
    text = wait_text(live, RETAIL1, "successful")
    assert text == f"✅ Request #{req['id']} successful\nFL 01712345678 — ৳50\nTrx ID: BD123\nBalance: ৳2,450"
    barrier(live, 3, RETAIL1, "Karim Store Ltd")
    assert len(live.graph.sent_to(RETAIL1)) == 2  # processing is not news to the reseller


def test_balance_added_and_a_denied_balance_request(live):
    live.db.add_balance(to=3, amount="500", actor=2)
    # Karim never wrote: outside the 24-hour window the approved template goes outright.
    assert live.graph.wait_for(lambda sent: any(m.to == RETAIL1 for m in sent), timeout=TIMEOUT)
    assert live.graph.sent_to(RETAIL1) == ["template:balance_added_v1 ৳500 ৳3,000 Rahim Telecom"]
    assert len([r for r in live.graph.requests if r.path.endswith("/messages")]) == 1  # no free text tried
    br = live.db.create_balance_request(amount="1000", note="Eid stock", actor=3)
    admin = wait_text(live, ADMIN, f"ACCEPT {br['id']}")
    assert f"DENY {br['id']}" in admin and "Eid stock" in admin
    live.db.decide_balance_request(br["id"], approve=False)
    assert wait_text(live, RETAIL1, "denied") == f"Your balance request #{br['id']} for ৳1,000 was denied."


def test_reseller_created_edited_and_reset(live):
    live.db.create_reseller(phone="8801700000009", name="Nodi Telecom", actor=2)
    assert "স্বাগতম, Nodi Telecom" in wait_text(live, "8801700000009", "HELP")
    live.db.update_reseller(4, {"status": "suspended"})
    assert wait_text(live, RETAIL2, "অবস্থা") == "✏️ আপনার অ্যাকাউন্টে পরিবর্তন হয়েছে:\n• অবস্থা: সক্রিয় → স্থগিত"
    reset = live.db.reset_reseller(3)
    text = wait_text(live, RETAIL1, "was reset")
    assert f"Password: {reset['password']}" in text and f"PIN: {reset['pin']}" in text
    barrier(live, 3, RETAIL1, "Karim Store Ltd")  # sent after the reset's send was recorded
    texts = [e["text"] for e in journal.recent(live.rt.conn, live.rt.keys.log("out"))]
    assert "(hidden)" in texts and not [t for t in texts if reset["pin"] in t or reset["password"] in t]


def test_otp_requested_and_message_send(live):
    _, resp = post_event(live, "otp.requested", {"phone": "01822222222", "language": "en"})
    assert resp.status_code == 200
    code = wait_text(live, RETAIL1, "verification code").split()[0]
    verify = f"{live.stack.url}/otp/verify"
    auth = {"Authorization": f"Bearer {HOST_KEY}"}
    assert requests.post(verify, json={"phone": RETAIL1, "code": code}, headers=auth, timeout=10).json() == {
        "valid": True
    }
    assert requests.post(verify, json={"phone": RETAIL1, "code": code}, headers=auth, timeout=10).json() == {
        "valid": False
    }
    post_event(live, "message.send", {"phone": "+8801999000111", "text": "Eid Mubarak! {{ offer }}"})
    assert wait_text(live, "8801999000111", "Eid") == "Eid Mubarak! {{ offer }}"


def test_the_login_page_otp_over_http(live):
    auth = {"Authorization": f"Bearer {HOST_KEY}"}
    resp = requests.post(f"{live.stack.url}/otp", json={"phone": "01933333333"}, headers=auth, timeout=10)
    assert resp.status_code == 200
    text = wait_text(live, RETAIL2, "যাচাই কোড")
    code = text.split("যাচাই কোড: ")[1][:6]
    ok = requests.post(f"{live.stack.url}/otp/verify", json={"phone": RETAIL2, "code": code}, headers=auth, timeout=10)
    assert ok.json() == {"valid": True}


# -- duplicates, disorder, races --------------------------------------------------------


def test_the_same_event_id_twice_is_one_message(live):
    raw, first = post_event(live, "message.send", {"phone": RETAIL2, "text": "one"}, event_id="evt_dup_1")
    again = requests.post(
        f"{live.stack.url}/hooks",
        data=raw,
        timeout=10,
        headers={"Content-Type": "application/json", HEADER: sign(HOOK_SECRET, raw)},
    )
    assert (first.status_code, again.status_code) == (200, 200)
    post_event(live, "message.send", {"phone": RETAIL2, "text": "two"})  # same phone: queued behind
    wait_text(live, RETAIL2, "two")
    assert live.graph.sent_to(RETAIL2) == ["one", "two"]


def test_out_of_order_events_are_absorbed(live):
    data = {
        "id": 500,
        "reseller_id": 3,
        "service": "FL",
        "number": "01712345678",
        "amount": "20.00",
        "status": "success",
        "trx_id": "T500",
        "balance_after": "2480.00",
        "reseller": {"phone": RETAIL1, "language": "en", "name": "Karim Store"},
    }
    post_event(live, "request.updated", data)  # a request the add-on never saw: adopted
    post_event(live, "request.updated", {**data, "status": "processing"})  # late: after success
    post_event(live, "request.created", {**data, "status": "pending"})  # later still
    wait_text(live, RETAIL1, "Request #500 successful")
    barrier(live, 3, RETAIL1, "Karim Store Two")
    assert [t for t in live.graph.sent_to(RETAIL1) if "#500" in t] == [
        "✅ Request #500 successful\nFL 01712345678 — ৳20\nTrx ID: T500\nBalance: ৳2,500"
    ]  # the host's balance now
    assert not [m for m in live.graph.sent if m.to == ADMIN and "৫০০" in m.text]
    assert rq.LIFECYCLE.state(live.rt, 500) == rq.SUCCESS


def admin_reply(live, request_id):
    """The admin's reply to its CANCEL of ``request_id``: done, or refused."""
    head = f"অনুরোধ #{request_id}".translate(BN)

    def replied(sent):
        return [m.text for m in sent if m.to == ADMIN and m.text.startswith(head) and "CANCEL" not in m.text]

    live.graph.wait_for(lambda sent: bool(replied(sent)), timeout=TIMEOUT)
    (text,) = replied(live.graph.sent)
    return text


@pytest.mark.parametrize("first", ["host", "admin", "neither"])
def test_an_admin_cancel_racing_a_host_success_notifies_once(live, first):
    # The admin's CANCEL (chat -> worker -> the host's API) against the host's own success.
    # The host is the arbiter: one SQLite transaction moves the request, the other side
    # gets 409 invalid_state.  Only the winner's event moves the add-on's lifecycle.
    rid = new_request(live, amount="30")["id"]
    wait_text(live, ADMIN, f"CANCEL {rid}")
    gate, refused = threading.Barrier(2 if first == "neither" else 1), []  # one party: no wait

    def host_success():
        gate.wait()
        try:
            live.db.act_on_request(rid, "complete", trx_id="TR1")
        except HostError as err:
            refused.append(err.code)

    def admin_cancel():
        gate.wait()
        live.stack.say(ADMIN, f"CANCEL {rid}")
        return admin_reply(live, rid)

    if first == "neither":
        racer = threading.Thread(target=host_success)
        racer.start()
        reply = admin_cancel()
        racer.join()
    elif first == "host":
        host_success()
        reply = admin_cancel()
    else:
        reply = admin_cancel()
        host_success()
    status = live.db.get_request(rid)["status"]
    assert status in ("success", "cancelled")
    if status == "success":  # the admin lost: its reply says the request can no longer be cancelled
        assert "বাতিল করা যাবে না" in reply and refused == []
    else:  # the host lost
        assert "বাতিল হয়েছে, টাকা ফেরত গেছে" in reply and refused == ["invalid_state"]
    told = "successful" if status == "success" else "cancelled"
    # The sandbox sends its hooks from a thread: the winner's own event must reach the
    # reseller first, or the "late" word below would simply arrive first and win.
    live.graph.wait_for(lambda sent: any(f"#{rid} {told}" in m.text for m in sent if m.to == RETAIL1), timeout=TIMEOUT)
    late = {
        "id": rid,
        "reseller_id": 3,
        "status": "cancelled" if status == "success" else "success",
        "trx_id": "TR1",
        "reseller": {"phone": RETAIL1, "language": "en", "name": "Karim Store"},
    }
    post_event(live, "request.updated", late)  # the loser's word, had a host sent it anyway: absorbed
    barrier(live, 3, RETAIL1, "Karim Store Three")
    about = [t for t in live.graph.sent_to(RETAIL1) if f"#{rid}" in t]
    assert len(about) == 1 and told in about[0] and "None" not in about[0]
    assert rq.LIFECYCLE.state(live.rt, rid) == status


@pytest.mark.parametrize("extra_settings", [{"request_stuck_after": 1, "balance_request_expiry": 1}])
def test_a_stuck_request_and_an_expired_balance_request(live):
    req = new_request(live, amount="40")
    live.db.act_on_request(req["id"], "process")
    stuck = wait_text(live, ADMIN, "প্রসেসিং-এ আটকে আছে")
    assert f"COMPLETE {req['id']} <trx>" in stuck
    br = live.db.create_balance_request(amount="200", actor=3)
    assert "expired" in wait_text(live, RETAIL1, f"#{br['id']}")
    assert len([m for m in live.graph.sent if m.to == ADMIN and "আটকে" in m.text]) == 1
