"""Admin commands: requests, resellers, balance, balance requests, SEND and OTP."""

from __future__ import annotations

import re

import pytest
from conftest import ADMIN, DEALER1, RETAIL1, open_chat
from helpers import without_summary

from wa_addon import otp
from wa_addon.sealing import PREFIX, sealer
from wa_addon.workflows import balance_approval as approval


@pytest.fixture
def request_id(chat) -> int:
    """A pending request of retail1: FL 01712345678, 50.00 (balance now 2,450.00)."""
    chat.reply(RETAIL1, "FL 01712345678 50 4321")
    return chat.host.list_requests(actor=3, limit=1)[0].id


def balance_request(chat, amount: str = "1000") -> int:
    return chat.host.create_balance_request(amount=amount, actor=3, idem_key=f"br-{amount}").id


# -- requests ----------------------------------------------------------------


def test_req(chat, request_id):
    text = chat.reply(ADMIN, f"REQ {request_id}")
    assert text.startswith(f"Request #{request_id}: pending\nFL GP prepaid 01712345678 — ৳50")
    assert chat.reply(ADMIN, "REQ 999") == "No request #999."
    assert chat.reply(ADMIN, "REQ x").startswith("Usage: REQ [<id>]")


def test_cancel_refunds_and_cannot_be_done_twice(chat, request_id):
    text = chat.reply(ADMIN, f"CANCEL {request_id}")
    assert text == (
        f"Request #{request_id} cancelled and refunded.\nFL GP prepaid 01712345678 — ৳50\n"
        "Status: cancelled\nKarim Store's balance: ৳2,500"
    )
    assert chat.balance("retail1") == "2500.00"
    assert chat.reply(ADMIN, f"CANCEL {request_id}") == f"Request #{request_id} is already cancelled."  # pressed twice
    assert chat.balance("retail1") == "2500.00"


def test_complete_with_a_trx_id(chat, request_id):
    text = chat.reply(ADMIN, f"COMPLETE {request_id} TX99ab")
    assert text.startswith(f"Request #{request_id} marked successful.") and "Trx ID: TX99ab" in text
    assert chat.host.get_request(request_id).trx_id == "TX99ab"
    assert chat.reply(ADMIN, "COMPLETE").startswith("Usage: COMPLETE <id> [trx]")


def test_resend_a_failed_request(chat, request_id):
    chat.host.act_on_request(request_id, "fail", idem_key="fail-it")
    text = chat.reply(ADMIN, f"RESEND {request_id}")
    assert text.startswith(f"Request #{request_id} sent again.") and "Status: pending" in text
    assert chat.balance("retail1") == "2450.00"  # refunded on failure, charged again on resend
    assert chat.reply(ADMIN, f"RESEND {request_id}").endswith("it cannot be sent again.")


def test_the_same_cancel_message_twice_refunds_once(chat, request_id):
    first = chat.reply(ADMIN, f"CANCEL {request_id}", msg_id="wamid.cancel")
    again = chat.reply(ADMIN, f"CANCEL {request_id}", msg_id="wamid.cancel")
    assert first == again and chat.balance("retail1") == "2500.00"


# -- resellers and balance ----------------------------------------------------


def test_addrs_shows_the_secrets_in_a_secret_reply(chat):
    sealed = chat.send(ADMIN, "ADDRS +8801799999999 Nur Traders 1")
    assert sealed[0].text.startswith(PREFIX)  # sealed for Redis; the transport opens it
    out = [sealer(chat.rt.settings).open_message(m) for m in sealed]
    assert out[0].secret and out[0].text.startswith("👤 New reseller Nur Traders · level 1\nPhone: 01799999999")
    pin = re.search(r"PIN: (\d+)", out[0].text).group(1)
    created = chat.host.get_reseller("8801799999999")
    assert (created.parent_id, created.name) == (1, "Nur Traders") and chat.host.verify_pin(created.id, pin)
    assert chat.reply(ADMIN, "ADDRS 01799999999 Again") == "Not done: a reseller with this number exists already"


def test_addbal_mints_and_shows_the_balances(chat):
    text = chat.reply(ADMIN, "ADDBAL retail1 1000")
    assert text.startswith("💰 ৳1,000 added to Karim Store (retail1)\nTheir balance: ৳2,500 → ৳3,500")
    assert "Your balance" not in text
    assert chat.balance("retail1") == "3500.00"
    assert chat.reply(ADMIN, "ADDBAL nobody 10") == 'No reseller "nobody".'
    assert chat.reply(ADMIN, "ADDBAL retail1 -5").startswith("Usage: ADDBAL <reseller> <amount>")


def test_rs(chat):
    text = chat.reply(ADMIN, "RS 01655555555")
    assert text == ("Nipa Mobile (retail3) · level 2\n01655555555 · ⛔ suspended\nBalance: ৳800\nServices: FL")
    assert chat.reply(ADMIN, "RS a b").startswith("Usage: RS [<reseller>]")


# -- balance requests ---------------------------------------------------------


def test_accept_moves_the_money_once(chat):
    br = balance_request(chat)
    text = chat.reply(ADMIN, f"ACCEPT {br}")
    assert text == (f"✅ Balance request #{br} approved: ৳1,000 to Karim Store (retail1).\nTheir balance: ৳3,500")
    assert chat.reply(ADMIN, f"ACCEPT {br}") == f"Balance request #{br} is already approved."
    assert chat.reply(ADMIN, f"DENY {br}") == f"Balance request #{br} is already approved."
    assert chat.balance("retail1") == "3500.00"


def test_the_same_accept_message_twice_pays_once(chat):
    br = balance_request(chat)
    first = chat.reply(ADMIN, f"ACCEPT {br}", msg_id="wamid.accept")
    assert chat.reply(ADMIN, f"ACCEPT {br}", msg_id="wamid.accept") == first
    assert chat.balance("retail1") == "3500.00"


def test_deny_moves_nothing(chat):
    br = balance_request(chat, "700")
    assert chat.reply(ADMIN, f"DENY {br}") == (f"❌ Balance request #{br} denied: ৳700 for Karim Store (retail1).")
    assert chat.balance("retail1") == "2500.00"
    assert chat.reply(ADMIN, "DENY 999") == "No balance request #999."


def test_an_expired_balance_request_cannot_be_accepted_from_chat(chat):
    br = balance_request(chat)
    approval.LIFECYCLE.start(chat.rt, br, approval.EXPIRED, cause="test")
    assert chat.reply(ADMIN, f"ACCEPT {br}") == (
        f"Balance request #{br} has expired; the reseller was told to ask again."
    )
    assert chat.balance("retail1") == "2500.00"


# -- SEND and OTP --------------------------------------------------------------


def test_send_a_message_as_typed(chat):
    out = chat.send(ADMIN, "SEND 01799999999 Eid Mubarak!  অফার ৫০% ছাড়")
    assert out[0].text == "📨 Message queued for 01799999999."
    assert (out[1].to, out[1].text) == ("8801799999999", "Eid Mubarak!  অফার ৫০% ছাড়")
    assert (
        chat.send(ADMIN, "SEND 01799999999 hi", msg_id="wamid.s")[1].id
        == chat.send(ADMIN, "SEND 01799999999 hi", msg_id="wamid.s")[1].id
    )  # a re-run is the same message
    assert chat.reply(ADMIN, "SEND 01799999999").startswith("Usage: SEND <phone> <text>")


def test_send_in_the_resellers_language(chat):
    out = chat.send(ADMIN, "SEND 01933333333 hi")
    assert out[1].language == "bn"


def test_otp_goes_to_the_phone_only(chat):
    out = [sealer(chat.rt.settings).open_message(m) for m in chat.send(ADMIN, "OTP 01822222222")]
    assert out[0].text == "🔑 A one-time code was sent to 01822222222 (valid 5 min)."
    code = re.search(r"\d{6}", out[1].text).group(0)
    assert out[1].to == "8801822222222" and out[1].secret and code not in out[0].text
    assert otp.verify(chat.rt, "8801822222222", code)


def test_otp_without_a_number_goes_to_the_admin(chat):
    out = chat.send(ADMIN, "OTP")
    assert out[1].to == ADMIN


def test_otp_refusals(chat):
    for _ in range(chat.rt.settings.otp_max_per_window):
        chat.send(ADMIN, "OTP 01822222222")
    assert chat.reply(ADMIN, "OTP 01822222222").startswith("Too many codes for this number. Try again in ")
    chat.rt.switches.set(notify__otp=False)
    assert chat.reply(ADMIN, "OTP 01822222222") == "One-time codes are switched off on the admin page."
    assert chat.reply(ADMIN, "OTP 123") == '"123" is not a phone number.'


# -- the admin's day ------------------------------------------------------------


def test_req_without_an_id_lists_the_open_requests_oldest_first_with_their_age(chat):
    assert chat.reply(ADMIN, "REQ") == "Open requests, oldest first:\nnone: nothing is pending or processing."
    first = chat.host.create_request(actor=3, service="FL", number="01712345678", amount="50", idem_key="a")
    done = chat.host.create_request(actor=3, service="FL", number="01812345678", amount="60", idem_key="b")
    last = chat.host.create_request(actor=4, service="FL", number="01912345678", amount="70", idem_key="c")
    chat.host.act_on_request(done.id, "complete", idem_key="d")
    lines = chat.reply(ADMIN, "REQ").splitlines()
    assert lines[0] == "Open requests, oldest first:" and len(lines) == 3
    assert lines[1].startswith(f"• #{first.id} FL GP prepaid 01712345678 ৳50 pending · ")
    assert lines[2].startswith(f"• #{last.id} FL BL prepaid 01912345678 ৳70 pending · ")
    assert all(line.endswith((" · just now", " min ago")) for line in lines[1:])  # placed a moment ago


def test_rs_without_an_argument_lists_the_low_and_the_suspended_and_bal_gives_the_totals(chat):
    assert chat.reply(ADMIN, "RS").splitlines() == [
        "Below ৳500 or suspended:",
        "• Nipa Mobile (retail3) ৳800 ⛔ suspended",
    ]
    chat.reply(DEALER1, "ADDBAL retail2 1 1234")  # Salma: 501, still not below
    assert chat.reply(ADMIN, "BAL") == (
        "📊 Resellers: 5 (1 suspended)\nTheir balance: ৳16,800\n"
        "Requests: 0 pending, 0 processing\nLow or suspended: 1 (RS)"
    )
    chat.host.create_request(actor=4, service="FL", number="01712345678", amount="50", idem_key="s")
    assert "• Salma Shop (retail2) ৳451" in chat.reply(ADMIN, "RS")


def test_a_host_without_totals_gets_a_helpful_line(redis_url, namespace, tmp_path):
    from conftest import HOST_KEY

    from wa_addon.sandbox import SandboxDB, create_sandbox_app, seed
    from wa_addon.testing.wsgi_server import serve_in_thread

    db = SandboxDB(str(tmp_path / "host.sqlite3"), kdf_cost=4)
    seed(db)
    url, stop = serve_in_thread(without_summary(create_sandbox_app(db, HOST_KEY)))
    try:
        chat = next(open_chat(redis_url, namespace, url))
        line = "Your host gives no totals. RS <reseller> shows one reseller's balance; REQ lists the open requests."
        assert chat.reply(ADMIN, "BAL") == line and chat.reply(ADMIN, "RS") == line
        assert chat.reply(ADMIN, "RS retail1").startswith("Karim Store (retail1)")
    finally:
        stop()
