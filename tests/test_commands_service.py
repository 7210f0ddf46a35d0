"""Money requests: services, packages, the checks before money moves, idempotency, the duplicate hold."""

from __future__ import annotations

import re

import pytest
from conftest import DEALER1, RETAIL1, RETAIL2


def newest(chat, reseller_id: int = 3):
    return chat.host.list_requests(actor=reseller_id, limit=1)[0]


def test_a_recharge_says_what_happened_in_full(chat):
    text = chat.reply(RETAIL1, "FL 01712345678 50 4321")
    request = newest(chat)
    assert text == (f"✅ Request #{request.id} received\nFL GP prepaid 01712345678 — ৳50\nBalance: ৳2,500 → ৳2,450")
    assert (request.number, request.operator, request.type, request.amount) == (
        "8801712345678",
        "GP",
        "prepaid",
        "50.00",
    )
    assert chat.balance("retail1") == "2450.00"


@pytest.mark.parametrize(
    ("text", "operator"),
    [
        ("FL ০১৮১২৩৪৫৬৭৮ ৫০ ৪৩২১", "RB"),  # Bengali digits everywhere
        ("fl +8801912345678 50tk 4321", "BL"),
        ("Fl 8801512345678 ৳50 4321", "TT"),
        ("FL 016-1234-5678 50 4321", "AT"),
        ("FL 01312345678 50 4321", "GP"),
    ],
)
def test_every_number_form_and_the_operator_from_the_prefix(chat, text, operator):
    assert chat.reply(RETAIL1, text).startswith("✅ Request #")
    assert (newest(chat).operator, newest(chat).amount) == (operator, "50.00")


def test_a_named_operator_wins_over_the_prefix_ported_numbers(chat):
    chat.reply(RETAIL1, "FL 01712345678 100 postpaid RB 4321")
    assert (newest(chat).operator, newest(chat).type) == ("RB", "postpaid")
    chat.reply(RETAIL1, "FL 01712345678 200 gp post 4321")  # a unique prefix of a type will do
    assert (newest(chat).operator, newest(chat).type) == ("GP", "postpaid")


def test_skitto_only_where_the_operator_offers_it(chat):
    assert chat.reply(RETAIL1, "FL 01712345678 20 skitto 4321").startswith("✅")
    assert chat.reply(RETAIL1, "FL 01812345678 20 skitto 4321") == "RB has no skitto. Types: prepaid, postpaid"


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("FL 01712345678 5 4321", "Not sent: FL GP prepaid takes ৳10 to ৳1,000, not ৳5."),
        ("FL 01712345678 1500 4321", "Not sent: FL GP prepaid takes ৳10 to ৳1,000, not ৳1,500."),
        ("FL 01512345678 4000 postpaid 4321", "Not sent: FL TT postpaid takes ৳10 to ৳3,000, not ৳4,000."),
        ("FL 01712345678 10 skitto 4321", "Not sent: FL GP skitto takes ৳20 to ৳1,000, not ৳10."),
        ("BK 01712345678 20 4321", "Not sent: BK cashin takes ৳50 to ৳25,000, not ৳20."),
    ],
)
def test_amounts_outside_the_limits_are_refused_before_anything_moves(chat, text, reply):
    assert chat.reply(RETAIL1, text) == reply
    assert chat.balance("retail1") == "2500.00"


def test_a_request_beyond_the_balance_is_refused_before_anything_moves(chat):
    assert chat.reply(RETAIL2, "FL 01712345678 600 postpaid 5678") == ("পাঠানো হয়নি: আপনার ব্যালেন্স ৳৫০০, যা ৳৬০০-এর কম।")
    assert chat.balance("retail2") == "500.00"


def test_mobile_banking_custom_and_country_services(chat):
    assert chat.reply(RETAIL1, "BK 01712345678 500 4321").startswith("✅")
    assert (newest(chat).service, newest(chat).type, newest(chat).operator) == ("BK", "cashin", None)
    chat.reply(RETAIL1, "NG 01812345678 600 sendmoney 4321")
    assert (newest(chat).service, newest(chat).type) == ("NG", "sendmoney")
    assert "BPDB postpaid 123456789 — ৳500" in chat.reply(RETAIL1, "BPDB 123456789 500 postpaid 4321")
    assert "NPR prepaid +9779841234567 — ৳100" in chat.reply(RETAIL1, "NPR 9841234567 100 4321")
    assert newest(chat).number == "9779841234567"
    chat.reply(RETAIL1, "RK 01912345678 700 agent 4321")  # to an agent account
    assert (newest(chat).service, newest(chat).type) == ("RK", "agent")
    assert chat.balance("retail1") == str(2500 - 500 - 600 - 500 - 100 - 700) + ".00"


@pytest.mark.parametrize(
    ("sender", "text", "reply"),
    [
        (RETAIL2, "NG 01712345678 100 5678", "NG আপনার জন্য চালু নেই। আপনার ডিলারকে বলুন।"),
        (
            RETAIL1,
            "XYZ 01712345678 100 4321",
            'Unknown command "XYZ".\nTry:\n• BAL — your balance\n'
            "• <service> <number> <amount> [type] [operator] <PIN> — e.g. FL 01712345678 50 postpaid <PIN>\n"
            "• REQ [<id>] — your request, or your last 5\n• PKGS <operator> — packages and prices\nHELP: every command",
        ),
        (RETAIL1, "FL 123 50 4321", '"123" is not a mobile number. Write it like 01712345678.'),
        (RETAIL1, "FL 4321 50 4321", '"****" is not a mobile number. Write it like 01712345678.'),  # a PIN: not echoed
        (RETAIL1, "FL +9779841234567 50 4321", '"+9779841234567" is not a mobile number. Write it like 01712345678.'),
        (RETAIL1, "BPDB 12ab 500 4321", '"12ab" is not a valid number for this service.'),
        (
            RETAIL1,
            "FL 01712345678 50 foo 4321",
            '"foo" is neither a type nor an operator. Types: prepaid, postpaid, skitto. Operators: AT, BL, GP, RB, TT.',
        ),
        (
            RETAIL1,
            "FL 01712345678 fifty 4321",
            "Usage: <service> <number> <amount> [type] [operator] <PIN> — e.g. FL 01712345678 50 postpaid <PIN>",
        ),
    ],
)
def test_refusals(chat, sender, text, reply):
    assert chat.reply(sender, text) == reply
    assert chat.balance("retail1") == "2500.00"


def test_a_wrong_pin_moves_nothing(chat):
    assert chat.reply(RETAIL1, "FL 01712345678 50 1111") == "Wrong PIN. 4 tries left."
    assert chat.balance("retail1") == "2500.00"


def test_a_package(chat):
    text = chat.reply(RETAIL1, "PKG gp1 01712345678 4321")
    assert "GP1 — 1GB 7 days 01712345678 — ৳98" in text and "৳2,500 → ৳2,402" in text
    assert (newest(chat).package, newest(chat).operator) == ("GP1", "GP")
    ported = chat.reply(RETAIL1, "PKG RB2 01712345678 4321")  # a GP number ported to Robi: asks for RB
    assert "RB2 — 5GB 30 days 01712345678 — ৳399" in ported
    assert chat.reply(RETAIL1, "PKG XX9 01712345678 4321") == 'No package "XX9". See PKGS <operator>.'


# -- idempotency and the duplicate hold --------------------------------------


def test_the_same_message_processed_twice_moves_money_once(chat):
    first = chat.reply(RETAIL1, "FL 01712345678 50 4321", msg_id="wamid.one")
    again = chat.reply(RETAIL1, "FL 01712345678 50 4321", msg_id="wamid.one")
    assert first == again and first.startswith("✅")
    assert chat.balance("retail1") == "2450.00"
    assert len(chat.host.list_requests(actor=3)) == 1


def test_a_repeat_within_the_window_is_held_until_yes(chat):
    first = chat.reply(RETAIL1, "FL 01712345678 50 4321")
    request_id = re.search(r"#(\d+)", first).group(1)
    held = chat.reply(RETAIL1, "FL 01712345678 50 4321")
    code = re.search(r"CONFIRM (\d+)", held).group(1)
    assert held == (
        f"⚠️ Not sent: FL GP prepaid 01712345678 ৳50 was already sent (#{request_id}) in the "
        f"last 10 min.\nSend it again? Reply YES (or CONFIRM {code}) within 10 min. NO to drop it."
    )
    assert chat.balance("retail1") == "2450.00"
    sent = chat.reply(RETAIL1, "yes")
    assert sent.startswith("✅ Request #") and "৳2,450 → ৳2,400" in sent
    assert chat.reply(RETAIL1, "YES") == "Nothing is waiting for your YES."
    assert chat.balance("retail1") == "2400.00"


def test_another_amount_or_number_is_not_a_repeat(chat):
    chat.reply(RETAIL1, "FL 01712345678 50 4321")
    assert chat.reply(RETAIL1, "FL 01712345678 51 4321").startswith("✅")
    assert chat.reply(RETAIL1, "FL 01712345679 50 4321").startswith("✅")
    assert chat.reply(DEALER1, "FL 01712345678 50 1234").startswith("✅")  # another reseller


def test_confirm_by_code_and_no(chat):
    chat.reply(RETAIL1, "FL 01712345678 50 4321")
    chat.reply(RETAIL1, "BK 01812345678 100 4321")
    code_a = re.search(r"CONFIRM (\d+)", chat.reply(RETAIL1, "FL 01712345678 50 4321")).group(1)
    chat.reply(RETAIL1, "BK 01812345678 100 4321")
    assert chat.reply(RETAIL1, "CONFIRM 9999") == "Nothing is waiting for your YES with code ****."  # PIN-like
    assert "FL GP prepaid 01712345678 — ৳50" in chat.reply(RETAIL1, f"CONFIRM {code_a}")
    assert chat.reply(RETAIL1, "NO") == "Dropped 1 held request."
    assert chat.reply(RETAIL1, "YES") == "Nothing is waiting for your YES."
    assert chat.balance("retail1") == "2300.00"  # 50 + 100 + 50


def test_a_confirmation_processed_twice_sends_once(chat):
    chat.reply(RETAIL1, "FL 01712345678 50 4321")
    chat.reply(RETAIL1, "FL 01712345678 50 4321")
    first = chat.reply(RETAIL1, "হ্যাঁ", msg_id="wamid.yes")
    again = chat.reply(RETAIL1, "হ্যাঁ", msg_id="wamid.yes")
    assert first == again and first.startswith("✅")
    assert chat.balance("retail1") == "2400.00"


def test_a_held_request_that_the_host_refuses_stays_held(chat):
    chat.reply(RETAIL2, "FL 01712345678 300 5678")
    assert chat.reply(RETAIL2, "FL 01712345678 300 5678").startswith("⚠️")
    assert chat.reply(RETAIL2, "YES") == "পাঠানো হয়নি: আপনার ব্যালেন্স ৳২০০, যা ৳৩০০-এর কম।"
    chat.host.add_balance(to="retail2", amount="100", actor=None, idem_key="top-up")
    assert chat.reply(RETAIL2, "YES").startswith("✅")
    assert chat.balance("retail2") == "0.00"


def test_a_refused_request_is_not_a_repeat(chat):
    assert chat.reply(RETAIL2, "FL 01712345678 600 postpaid 5678").startswith("পাঠানো হয়নি")
    chat.host.add_balance(to="retail2", amount="100", actor=None, idem_key="top-up")
    assert chat.reply(RETAIL2, "FL 01712345678 600 postpaid 5678").startswith("✅")


def test_the_hold_lasts_the_configured_window(chat):
    chat.reply(RETAIL1, "FL 01712345678 50 4321")
    chat.reply(RETAIL1, "FL 01712345678 50 4321")
    window = chat.rt.settings.duplicate_window
    mark = chat.rt.keys.duplicate("3", "FL", "8801712345678", "50.00")
    assert window - 5 < chat.rt.conn.ttl(mark) <= window
    assert window - 5 < chat.rt.conn.ttl(chat.rt.keys.pending_confirm("3")) <= window
    chat.rt.conn.delete(mark)  # the window has passed
    assert chat.reply(RETAIL1, "FL 01712345678 50 4321").startswith("✅")


def test_a_request_asks_the_host_for_the_service_catalogue_once(chat, monkeypatch):
    calls = []
    real = chat.rt.host.list_services
    monkeypatch.setattr(chat.rt.host, "list_services", lambda **kw: calls.append(kw) or real(**kw))
    assert chat.reply(RETAIL1, "FL 01712345678 50 4321").startswith("✅")
    assert len(calls) == 1
