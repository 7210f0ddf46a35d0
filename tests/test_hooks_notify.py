"""Event -> lifecycle -> notifications, on real Redis and the real sandbox host (over HTTP).

The worker's processor is called directly; the messages it returns are what
the outbox would send.
"""

from __future__ import annotations

import pytest
import redis
from helpers import NOTIFY_SAMPLES, drain, queued

from wa_addon import otp
from wa_addon.hooks import events, notify, timers
from wa_addon.host.http import HttpHost
from wa_addon.notifications import PARAMS, Notes
from wa_addon.render import LANGUAGES, Renderer
from wa_addon.runtime import Runtime
from wa_addon.sealing import PREFIX, sealer
from wa_addon.settings import Settings
from wa_addon.workflows import request as rq

HOST_KEY = "notify-test-key"
ADMIN = "8801711000000"
RETAIL1 = "8801822222222"  # seeded: id 3, Karim Store, 2,500.00, English
RETAIL2 = "8801933333333"  # seeded: id 4, Salma Shop, 500.00, Bengali
KARIM = {"id": 3, "username": "retail1", "name": "Karim Store", "phone": RETAIL1, "language": "en"}


@pytest.fixture(scope="module")
def host_url(tmp_path_factory):
    """The seeded sandbox host, shared by this module's tests (they only read from it)."""
    from wa_addon.sandbox import SandboxDB, create_sandbox_app, seed
    from wa_addon.testing.wsgi_server import serve_in_thread

    db = SandboxDB(str(tmp_path_factory.mktemp("host") / "host.sqlite3"))
    seed(db)
    url, stop = serve_in_thread(create_sandbox_app(db, HOST_KEY))
    yield url
    stop()


@pytest.fixture
def rt(redis_url, namespace, host_url):
    settings = Settings(
        redis_url=redis_url,
        namespace=namespace,
        host_url=host_url,
        host_key=HOST_KEY,
        hook_secret="s",
        admin_numbers=(ADMIN,),
        default_language="bn",
        cloud_templates=("notify_request_success:req_ok_v1", "balance_added:bal_v2"),
    )
    runtime = Runtime(settings, HttpHost(host_url, HOST_KEY))
    yield runtime
    runtime.close()


def run(rt, type, data, event_id=None):
    event = events.new(type, data)
    if event_id:
        event = events.Event(event_id, event.type, event.created_at, event.data)
    transport, msgs = notify.process(rt, event.to_json())
    assert transport is None
    assert all(m.text.startswith(PREFIX) for m in msgs if m.secret)  # sealed for Redis
    return [sealer(rt.settings).open_message(m) for m in msgs]


def request(status="pending", **extra):
    data = {
        "id": 12,
        "reseller_id": 3,
        "service": "FL",
        "operator": "GP",
        "number": "01712345678",
        "amount": "50.00",
        "type": "prepaid",
        "status": status,
        "balance_after": "2450.00",
        "reseller": KARIM,
    }
    return {**data, **extra}


# -- requests -------------------------------------------------------------------


def test_a_new_request_goes_to_the_admin_with_the_number_masked(rt):
    (msg,) = run(rt, "request.created", request())
    assert (msg.to, msg.kind, msg.language) == (ADMIN, "notify.request_created", "bn")
    assert "FL GP (prepaid) 01712***678" in msg.text and "01712345678" not in msg.text  # the operator: which SIM
    assert "CANCEL 12" in msg.text and "Karim Store" in msg.text


def test_a_rerun_makes_the_same_ids_and_another_event_for_it_nothing(rt):
    first = run(rt, "request.created", request(), event_id="evt_a")
    rerun = run(rt, "request.created", request(), event_id="evt_a")  # the worker died before acking
    other = run(rt, "request.created", request(), event_id="evt_b")  # the host sent it twice
    assert [m.id for m in rerun] == [m.id for m in first]
    assert other == []


def test_success_tells_the_reseller_everything_unmasked_with_the_balance_now(rt):
    run(rt, "request.created", request())
    run(rt, "request.updated", request("processing", previous_status="pending"))
    (msg,) = run(rt, "request.updated", request("success", trx_id="TX77", previous_status="processing"))
    assert (msg.to, msg.language, msg.kind) == (RETAIL1, "en", "notify.request_updated")
    # The event's balance_after (2,450) is the balance when the request was placed; the host's is now.
    assert msg.text == "✅ Request #12 successful\nFL 01712345678 — ৳50\nTrx ID: TX77\nBalance: ৳2,500"
    assert (msg.template, msg.params) == ("req_ok_v1", ["12", "01712345678", "৳50", "TX77", "৳2,500"])


def test_a_package_is_named_to_the_admin_and_the_reseller(rt):
    package = request(package="GP1", amount="98.00")
    (alert,) = run(rt, "request.created", package)
    assert "GP1 — 1GB 7 days 01712***678 — ৳৯৮" in alert.text and "FL" not in alert.text
    (done,) = run(rt, "request.updated", {**package, "status": "success", "trx_id": "T9"})
    assert done.text.splitlines()[1] == "GP1 — 1GB 7 days 01712345678 — ৳98"


def test_a_resend_after_a_failure_tells_the_reseller_without_the_old_reason(rt):
    run(rt, "request.created", request())
    run(rt, "request.updated", request("failed", note="operator down", previous_status="pending"))
    (msg,) = run(rt, "request.updated", request("pending", note="operator down", previous_status="failed"))
    assert (msg.to, msg.kind) == (RETAIL1, "notify.request_updated")
    assert msg.text == (
        "🔁 Request #12 sent again\nFL 01712345678 — ৳50 taken from your balance again\nBalance: ৳2,500"
    )
    assert run(rt, "request.updated", request("pending", previous_status="failed")) == []  # said once


def test_cancelled_asks_the_host_for_the_balance_after_the_refund(rt):
    data = request("cancelled", note="wrong number")
    del data["reseller"]  # a host that sends no summary: the add-on looks the reseller up
    run(rt, "request.created", request())
    (msg,) = run(rt, "request.updated", data)
    assert msg.to == RETAIL1
    assert "Reason: wrong number" in msg.text and "Balance: ৳2,500" in msg.text


def test_a_bare_status_change_is_told_with_what_the_request_was(rt):
    # A host may send only the id and the status: the number and amount come from request.created.
    run(rt, "request.created", request())
    (msg,) = run(rt, "request.updated", {"id": 12, "reseller_id": 3, "status": "cancelled"})
    assert msg.text.splitlines()[:2] == ["🚫 Request #12 cancelled", "FL 01712345678 — ৳50"]
    assert "None" not in msg.text


def test_out_of_order_and_duplicate_updates_send_nothing(rt):
    run(rt, "request.created", request())
    assert len(run(rt, "request.updated", request("success", trx_id="T1"))) == 1
    assert run(rt, "request.updated", request("processing")) == []  # late: processing after success
    assert run(rt, "request.updated", request("success", trx_id="T1")) == []  # the host said it twice
    assert rq.LIFECYCLE.state(rt, 12) == rq.SUCCESS


def test_an_update_for_an_unknown_request_is_adopted_once(rt):
    (msg,) = run(rt, "request.updated", request("failed", id=99, note="operator down"))
    assert msg.to == RETAIL1 and "Request #99 failed" in msg.text
    assert rq.LIFECYCLE.state(rt, 99) == rq.FAILED
    assert run(rt, "request.created", request(id=99)) == []  # created arriving late: absorbed


def test_a_stuck_request_is_flagged_to_the_admin_once(rt):
    run(rt, "request.created", request())
    run(rt, "request.updated", request("processing"))
    later = rt.conn.time()[0] + rt.settings.request_stuck_after + 90  # 16.5 min
    assert timers.housekeep(rt, now=later) == 1
    assert timers.housekeep(rt, now=later + 3600) == 0
    (msg,) = _outbox(rt)
    assert msg.to == ADMIN and msg.kind == "notify.request_stuck"
    assert "১৬ মিনিট" in msg.text and "01712***678" in msg.text and "CANCEL 12" in msg.text


def stuck_and_expiring(rt) -> float:
    """Request 12 stuck in processing and balance request 9 past its expiry; returns a time when both are due."""
    run(rt, "request.created", request())
    run(rt, "request.updated", request("processing"))
    run(rt, "balance_request.created", {"id": 9, "reseller_id": 3, "amount": "700.00", "reseller": KARIM})
    return rt.conn.time()[0] + rt.settings.balance_request_expiry + 1


@pytest.mark.parametrize("failing", ["notify.request_stuck", "notify.balance_request_updated"])
def test_timed_notices_survive_redis_failing_as_they_are_queued(rt, monkeypatch, failing):
    later = stuck_and_expiring(rt)
    push = timers.outbox.push

    def flaky(rt, msgs):
        if any(m.kind == failing for m in msgs):
            raise redis.exceptions.ConnectionError("Redis went away")
        return push(rt, msgs)

    monkeypatch.setattr(timers.outbox, "push", flaky)
    with pytest.raises(redis.exceptions.ConnectionError):
        timers.housekeep(rt, now=later)
    monkeypatch.setattr(timers.outbox, "push", push)
    kept = {"notify.request_stuck": 2, "notify.balance_request_updated": 1}[failing]  # the first pass stopped there
    assert timers.housekeep(rt, now=later) == kept
    assert timers.housekeep(rt, now=later + 60) == 0
    assert sorted(m.kind for m in _outbox(rt)) == ["notify.balance_request_updated", "notify.request_stuck"]


def test_one_failing_timed_notice_costs_the_others_nothing(rt, monkeypatch):
    later = stuck_and_expiring(rt)
    run(rt, "request.created", request(id=13))
    run(rt, "request.updated", request("processing", id=13))
    context = notify._request_context

    def buggy(data, **kwargs):
        if data["id"] == "12":
            raise KeyError("a bug")
        return context(data, **kwargs)

    monkeypatch.setattr(notify, "_request_context", buggy)
    assert timers.housekeep(rt, now=later) == 2  # request 13 and balance request 9
    monkeypatch.setattr(notify, "_request_context", context)  # the bug fixed
    assert timers.housekeep(rt, now=later) == 1  # request 12 was kept
    stuck = [m.text for m in _outbox(rt) if m.kind == "notify.request_stuck"]
    assert len(stuck) == 2 and "CANCEL 13" in stuck[0] and "CANCEL 12" in stuck[1]


# -- balance --------------------------------------------------------------------


def test_balance_added_names_who_paid_and_dedupes_by_payment(rt):
    data = {
        "payment_id": 41,
        "reseller_id": 4,
        "amount": "300.00",
        "balance": "800.00",
        "by": {"id": 2, "name": "Rahim Telecom"},
        "reseller": {"phone": RETAIL2, "language": "bn"},
    }
    (msg,) = run(rt, "balance.added", data)
    assert msg.to == RETAIL2
    # The event's balance (800) is the host's figure then; this host says 500 now, and now is shown.
    assert msg.text == "💰 Rahim Telecom আপনার অ্যাকাউন্টে ৳৩০০ যোগ করেছেন।\nনতুন ব্যালেন্স: ৳৫০০"
    assert (msg.template, msg.params) == ("bal_v2", ["৳৩০০", "৳৫০০", "Rahim Telecom"])
    assert [m.id for m in run(rt, "balance.added", data)] == [msg.id]  # another event id, same payment


def test_a_balance_request_goes_to_the_admin_with_the_reply_line(rt):
    data = {"id": 7, "reseller_id": 3, "amount": "5000.00", "note": "weekend stock", "reseller": KARIM}
    (msg,) = run(rt, "balance_request.created", data)
    assert msg.to == ADMIN and "ACCEPT 7" in msg.text and "DENY 7" in msg.text and "weekend stock" in msg.text
    assert run(rt, "balance_request.created", data) == []


def test_a_denied_balance_request_is_told_and_an_approved_one_left_to_balance_added(rt):
    run(rt, "balance_request.created", {"id": 7, "reseller_id": 3, "amount": "5000.00", "reseller": KARIM})
    run(rt, "balance_request.created", {"id": 8, "reseller_id": 3, "amount": "100.00", "reseller": KARIM})
    (msg,) = run(rt, "balance_request.updated", {"id": 7, "reseller_id": 3, "amount": "5000.00", "status": "denied"})
    assert msg.to == RETAIL1 and msg.text == "Your balance request #7 for ৳5,000 was denied."
    approved = {"id": 8, "reseller_id": 3, "amount": "100.00", "status": "approved"}
    assert run(rt, "balance_request.updated", approved) == []


def test_an_undecided_balance_request_expires_with_a_notice(rt):
    run(rt, "balance_request.created", {"id": 9, "reseller_id": 3, "amount": "700.00", "reseller": KARIM})
    later = rt.conn.time()[0] + rt.settings.balance_request_expiry + 1
    assert timers.housekeep(rt, now=later) == 1
    (msg,) = _outbox(rt)
    assert msg.to == RETAIL1 and "expired" in msg.text
    late = run(rt, "balance_request.updated", {"id": 9, "reseller_id": 3, "amount": "700.00", "status": "approved"})
    assert late == []


def test_an_adopted_balance_request_expires_with_a_notice_found_at_the_host(rt):
    # Created before the add-on listened, and no reseller summary: the host is asked a day later.
    adopted = {"id": 10, "reseller_id": 4, "amount": "250.00", "status": "pending"}
    assert run(rt, "balance_request.updated", adopted) == []
    later = rt.conn.time()[0] + rt.settings.balance_request_expiry + 1
    assert timers.housekeep(rt, now=later) == 1
    (msg,) = _outbox(rt)
    assert msg.to == RETAIL2 and msg.language == "bn" and "৳২৫০" in msg.text


def test_a_new_balance_request_asks_the_host_nothing(rt):
    # A host that sends no reseller summary: the admins' notice needs none, and a duplicate costs no lookup.
    unreachable = Runtime(rt.settings, HttpHost("http://127.0.0.1:9", HOST_KEY))
    data = {"id": 11, "reseller_id": 3, "amount": "900.00"}
    try:
        (msg,) = run(unreachable, "balance_request.created", data)
        assert msg.to == ADMIN and "ACCEPT 11" in msg.text
        assert run(unreachable, "balance_request.created", data) == []
    finally:
        unreachable.close()


def test_an_expired_status_from_the_host_is_told(rt):
    run(rt, "balance_request.created", {"id": 12, "reseller_id": 3, "amount": "300.00", "reseller": KARIM})
    (msg,) = run(rt, "balance_request.updated", {"id": 12, "reseller_id": 3, "amount": "300.00", "status": "expired"})
    assert msg.to == RETAIL1 and "expired" in msg.text


# -- resellers --------------------------------------------------------------------


def test_an_edit_lists_what_changed_in_the_resellers_language(rt):
    data = {
        **KARIM,
        "id": 4,
        "phone": RETAIL2,
        "language": "bn",
        "changes": {"status": {"from": "active", "to": "suspended"}, "wa_user_id": {"from": None, "to": "BD.1"}},
    }
    (msg,) = run(rt, "reseller.updated", data)
    assert msg.to == RETAIL2 and msg.text == "✏️ আপনার অ্যাকাউন্টে পরিবর্তন হয়েছে:\n• অবস্থা: সক্রিয় → স্থগিত"
    assert run(rt, "reseller.updated", {**data, "changes": {"wa_user_id": {"from": None, "to": "x"}}}) == []


def test_a_reset_carries_password_and_pin_as_a_secret(rt):
    (msg,) = run(rt, "reseller.reset", {"id": 3, "password": "Pa55word", "pin": "8642"})  # no phone: host lookup
    assert msg.to == RETAIL1 and msg.secret
    assert "Pa55word" in msg.text and "8642" in msg.text


def test_a_new_reseller_is_welcomed(rt):
    (msg,) = run(
        rt,
        "reseller.created",
        {"id": 7, "username": "rahim2", "name": "Rahim 2", "phone": "8801700000007", "language": "bn"},
    )
    assert msg.to == "8801700000007" and "স্বাগতম, Rahim 2" in msg.text and not msg.secret


# -- codes and free text ------------------------------------------------------------


def test_otp_requested_sends_a_code_that_verifies_once(rt):
    (msg,) = run(rt, "otp.requested", {"phone": "01822222222", "language": "en"}, event_id="evt_otp")
    code = msg.text.split()[0]
    assert msg.secret and msg.to == RETAIL1 and len(code) == 6
    (again,) = run(rt, "otp.requested", {"phone": "01822222222", "language": "en"}, event_id="evt_otp")
    assert again.text == msg.text  # a re-run sends the same code under the same id
    assert otp.verify(rt, RETAIL1, code)
    assert not otp.verify(rt, RETAIL1, code)


@pytest.mark.parametrize("expires_in", [600, "600", 600.0])
def test_otp_requested_with_the_hosts_own_code_delivers_it(rt, expires_in):
    (msg,) = run(rt, "otp.requested", {"phone": RETAIL1, "code": "4711", "language": "en", "expires_in": expires_in})
    assert msg.text.startswith("4711 is your verification code. It expires in 10 minutes.")


def test_otp_requested_while_codes_are_switched_off_issues_none(rt):
    rt.switches.set(notify__otp=False)
    assert run(rt, "otp.requested", {"phone": RETAIL1}, event_id="evt_off") == []
    assert not rt.conn.exists(rt.keys.otp(RETAIL1))  # no live code that nobody was sent


def test_message_send_delivers_the_text_as_it_is(rt):
    (msg,) = run(rt, "message.send", {"phone": "+8801822222222", "text": "Eid offer {{ 7*7 }}"})
    assert (msg.to, msg.text, msg.kind) == (RETAIL1, "Eid offer {{ 7*7 }}", "notify.message")


def test_a_switched_off_kind_sends_nothing(rt):
    rt.switches.set(notify__request_created=False)
    assert run(rt, "request.created", request()) == []
    assert rq.LIFECYCLE.state(rt, 12) == rq.PENDING  # the lifecycle still moves


def test_the_admins_switch_is_read_once_for_all_admins(rt, monkeypatch):
    rt.switches.set(admin_numbers="8801711000000,8801711000001,8801711000002")
    reads = []
    notify_switch = rt.switches.notify
    monkeypatch.setattr(rt.switches, "notify", lambda kind: reads.append(kind) or notify_switch(kind))
    notes = Notes(rt, "cause")
    notes.admins("request_created", "notify_request_created", **notify._request_context(request(), masked=True))
    assert len(notes.out) == 3 and reads == ["request_created"]


def test_a_bug_in_a_handler_lands_in_the_dead_letters_and_does_not_jam_the_lane(rt, monkeypatch):
    from wa_addon.hooks.intake import EventIntake
    from wa_addon.queue import dead as dead_letters
    from wa_addon.runtime import EVENT_LANE

    send = notify.HANDLERS["message.send"]

    def buggy(rt, event):
        if event.data["text"] == "meets a bug":
            raise KeyError("bug")
        return send(rt, event)

    monkeypatch.setitem(notify.HANDLERS, "message.send", buggy)
    intake = EventIntake(rt)
    lost = intake.emit("message.send", {"phone": RETAIL1, "text": "meets a bug"})
    intake.emit("message.send", {"phone": RETAIL1, "text": "behind it"})  # same recipient, same partition
    drain(rt, classes=("lo",))  # the work lanes only: what is sent stays in the outbox to be read
    (letter,) = dead_letters.read(rt, EVENT_LANE)
    assert events.Event.from_json(letter.item).id == lost.id  # kept, not acknowledged and lost
    assert letter.why.startswith("KeyError in ")
    assert [m.text for m in _outbox(rt)] == ["behind it"]


# -- templates ------------------------------------------------------------------------

NOTIFICATIONS = sorted(name for name in PARAMS if name != "message")  # message.send is sent as written


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_notification_renders_short_in_both_languages(lang):
    renderer = Renderer()
    assert set(NOTIFICATIONS) <= set(renderer.names(lang))
    for name in NOTIFICATIONS:
        text = renderer.render(lang, name, **NOTIFY_SAMPLES)
        assert text and len(text) < 400 and "{" not in text, name


def _outbox(rt):
    return queued(rt, "out:cloud")
