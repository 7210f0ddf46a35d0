# ruff: noqa: F811  (tests take the imported fixtures by their names)
"""What shopkeepers and admins see (issue 11), end to end on real parts.

Chat through signed Cloud API webhooks, a real worker process, the sandbox
host over HTTP emitting its events as signed hooks, replies to the fake
Graph API: the ``live`` stack of tests/helpers.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import ADMIN, DEALER1, DEALER2, RETAIL1, RETAIL2
from helpers import (  # noqa: F401  (fixtures)
    extra_settings,
    host_db,
    live,
    relay,
    sandbox,
    stack_settings,
    wait_text,
)

from wa_addon import journal
from wa_addon.render import BN_DIGITS as BN


def bn(value: object) -> str:
    return str(value).translate(BN)


def placed(live, phone: str, text: str, head: str) -> int:
    """Send a money command; the id of the request its reply says was placed."""
    before = len(live.graph.sent_to(phone))
    live.stack.say(phone, text)
    live.graph.wait_for(lambda sent: sum(m.to == phone for m in sent) > before, timeout=20)
    reply = live.graph.sent_to(phone)[before]
    assert reply.startswith(head), reply
    return live.db.list_requests(limit=1)[0]["id"]


def test_success_shows_the_balance_now_and_a_package_by_its_name(live):
    first = placed(live, RETAIL1, "FL 01712345678 50 4321", "✅ Request")
    package = placed(live, RETAIL1, "PKG GP1 01712345678 4321", "✅ Request")
    alert = wait_text(live, ADMIN, f"#{bn(package)}")  # the admin reads Bengali
    assert "GP1 — 1GB 7 days 01712***678 — ৳৯৮" in alert and "FL (prepaid)" not in alert
    live.stack.say(ADMIN, f"COMPLETE {first} TRX123")
    done = wait_text(live, RETAIL1, f"Request #{first} successful")
    assert done.endswith("Balance: ৳2,352")  # 2,500 - 50 - 98: now, not right after #first was placed
    live.stack.say(ADMIN, f"COMPLETE {package} TRX124")
    assert "GP1 — 1GB 7 days 01712345678 — ৳98" in wait_text(live, RETAIL1, f"Request #{package} successful")


def test_a_resend_tells_the_reseller_and_req_drops_the_old_failure_note(live):
    rid = placed(live, RETAIL2, "FL 01712345678 50 5678", "✅ অনুরোধ")
    live.db.act_on_request(rid, "fail", note="operator down")
    assert "কারণ: operator down" in wait_text(live, RETAIL2, "ব্যর্থ")
    live.stack.say(ADMIN, f"RESEND {rid}")
    resent = wait_text(live, RETAIL2, "আবার পাঠানো")
    assert resent == (
        f"🔁 অনুরোধ #{bn(rid)} আবার পাঠানো হয়েছে\nFL 01712345678 — ৳৫০ আপনার ব্যালেন্স থেকে আবার কাটা হয়েছে\nব্যালেন্স: ৳৪৫০"
    )
    live.stack.say(RETAIL2, f"REQ {rid}")
    status = wait_text(live, RETAIL2, f"অনুরোধ #{bn(rid)}: অপেক্ষমাণ")
    assert "operator down" not in status and "নোট" not in status
    assert live.db.get_reseller(4)["balance"] == "450.00"


def replies_to(live, phone: str, texts: list[str]) -> list[str]:
    """Say each text in turn; the replies, in order (one sender's messages are answered in order)."""
    before = len(live.graph.sent_to(phone))
    for text in texts:
        live.stack.say(phone, text)
    live.graph.wait_for(lambda sent: sum(m.to == phone for m in sent) >= before + len(texts), timeout=20)
    return live.graph.sent_to(phone)[before:]


def test_their_own_words_in_english(live):
    bal, habit, hi, unknown = replies_to(live, RETAIL1, ["balance", "bal 4321", "hi", "recharge 50"])
    assert bal == habit == "Karim Store: balance ৳2,500"
    assert hi.startswith("Commands:\n• BAL — your balance")
    assert unknown.startswith('Unknown command "recharge".\nTry:\n• BAL — your balance\n')
    assert unknown.endswith("HELP: every command")


def test_their_own_words_in_bengali(live):
    texts = ["ব্যালেন্স", "ব্যালান্স", "সাহায্য", "মেনু", "রিচার্জ"]
    bal, bal2, help_, menu, unknown = replies_to(live, RETAIL2, texts)
    assert bal == bal2 == "Salma Shop: ব্যালেন্স ৳৫০০"
    assert help_ == menu and help_.startswith("কমান্ডসমূহ:\n• BAL — আপনার ব্যালেন্স")
    assert unknown.startswith('অজানা কমান্ড "রিচার্জ"।\nএগুলো চেষ্টা করুন:\n• BAL — আপনার ব্যালেন্স')


def test_small_things_pin_tries_one_reply_to_lang_an_audit_that_keeps_amounts(live):
    texts = ["FL 01712345678 5000 postpaid 1111"] * 4 + ["LANG bn", "PKGS XX"]
    replies = replies_to(live, RETAIL1, texts)
    assert replies[3] == "Wrong PIN. 1 try left."
    assert replies[4] == "এখন থেকে উত্তর বাংলায় আসবে।"
    assert replies[5].startswith('"XX" নামে কোনো অপারেটর নেই। অপারেটর: AT, BL, GP, RB, TT')
    live.stack.say(RETAIL1, "BAL")  # a barrier: a second message for LANG would have come before this reply
    wait_text(live, RETAIL1, "ব্যালেন্স")
    assert len(live.graph.sent_to(RETAIL1)) == 7
    audit = [e["command"] for e in journal.recent(live.rt.conn, live.rt.keys.audit)]
    assert "FL 01712345678 5000 postpaid ****" in audit and not [a for a in audit if "1111" in a]


def in_zone(when: datetime, hours: float) -> str:
    return (when + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M")


def test_req_and_a_lockout_show_dhaka_time_whatever_the_servers_zone(live):
    rid = placed(live, RETAIL1, "FL 01712345678 50 4321", "✅ Request")
    created = datetime.fromisoformat(live.db.get_request(rid)["created_at"].replace("Z", "+00:00"))
    start = datetime.now(UTC)
    status, *_, locked = replies_to(live, RETAIL1, [f"REQ {rid}"] + ["PIN 1111 2222"] * 5)
    end = datetime.now(UTC)
    assert status.splitlines()[-1] == in_zone(created, 6)  # the host's UTC created_at, in UTC+6
    until = {in_zone(t + timedelta(seconds=900), 6)[-5:] for t in (start, end)}
    assert locked.removeprefix("Too many wrong PINs. Locked until ").rstrip(".") in until


@pytest.mark.parametrize("extra_settings", [{"timezone": "Asia/Kathmandu"}])
def test_the_time_zone_is_a_setting(live):
    rid = placed(live, RETAIL2, "FL 01712345678 50 5678", "✅ অনুরোধ")
    created = datetime.fromisoformat(live.db.get_request(rid)["created_at"].replace("Z", "+00:00"))
    live.stack.say(RETAIL2, f"REQ {rid}")
    status = wait_text(live, RETAIL2, f"অনুরোধ #{bn(rid)}:")
    assert status.splitlines()[-1] == bn(in_zone(created, 5.75))


def test_the_admins_day_in_bengali(live):
    first = placed(live, RETAIL1, "FL 01712345678 50 4321", "✅ Request")
    second = placed(live, RETAIL2, "FL 01812345678 60 5678", "✅ অনুরোধ")
    live.db.act_on_request(second, "process")
    for text in ("REQ", "RS", "BAL"):  # the admin's alerts of the new requests come in between
        live.stack.say(ADMIN, text)
    open_, low, totals = (wait_text(live, ADMIN, head) for head in ("খোলা অনুরোধ", "স্থগিত:", "📊"))
    lines = open_.splitlines()
    assert lines[0] == "খোলা অনুরোধ, পুরনোটি আগে:"
    assert lines[1].startswith(f"• #{bn(first)} FL GP prepaid 01712345678 ৳৫০ অপেক্ষমাণ · ")
    assert lines[2].startswith(f"• #{bn(second)} FL RB prepaid 01812345678 ৳৬০ প্রক্রিয়াধীন · ")
    assert lines[1].endswith((" · এইমাত্র", " মিনিট আগে"))  # placed a moment ago
    assert low.splitlines() == [
        "৳৫০০-এর কম ব্যালেন্স বা স্থগিত:",
        "• Salma Shop (retail2) ৳৪৪০",
        "• Nipa Mobile (retail3) ৳৮০০ ⛔ স্থগিত",
    ]
    assert totals.startswith("📊 রিসেলার: ৫ জন (১ জন স্থগিত)\nতাদের মোট ব্যালেন্স: ৳১৬,৬৯০\n")


@pytest.mark.parametrize("extra_settings", [{"default_language": "en"}])
def test_the_admins_day_in_english(live):
    totals, open_ = replies_to(live, ADMIN, ["BAL", "REQ"])
    assert totals == (
        "📊 Resellers: 5 (1 suspended)\nTheir balance: ৳16,800\n"
        "Requests: 0 pending, 0 processing\nLow or suspended: 1 (RS)"
    )
    assert open_ == "Open requests, oldest first:\nnone: nothing is pending or processing."


def test_a_guided_recharge_in_english(live):
    asked = replies_to(live, RETAIL1, ["FL", "01712345678", "50"])
    assert [a.splitlines()[0] for a in asked] == ["FL · 1/3", "FL · 2/3", "FL · 3/3"]
    (placed_,) = replies_to(live, RETAIL1, ["4321"])
    assert placed_.startswith("✅ Request #") and "Balance: ৳2,500 → ৳2,450" in placed_
    assert live.db.get_reseller(3)["balance"] == "2450.00"


def test_a_guided_payment_and_a_stopped_guide_in_bengali(live):
    stopped = replies_to(live, RETAIL2, ["FL", "বাতিল"])
    assert stopped == ["FL · ১/৩\nকোন নম্বরে? (যেমন 01712345678)\nথামাতে বাতিল লিখুন।", "থামানো হলো। কিছু পাঠানো হয়নি।"]
    *_, paid = replies_to(live, DEALER1, ["ADDBAL", "retail2", "১০০", "1234"])
    assert paid.startswith("💰 Salma Shop (retail2)-কে ৳১০০ দেওয়া হয়েছে")
    assert live.db.get_reseller(4)["balance"] == "600.00"


def tap(live, sender: str, command: str, kind: str = "button") -> None:
    """A tap on a reply button (or a list row) whose id is ``command``, as Meta posts it."""
    from wa_addon.testing import cloud_payloads as cp

    item = cp.button_reply(sender, command) if kind == "button" else cp.list_reply(sender, command)
    assert live.stack.post_cloud(cp.dumps(cp.messages_webhook(item))).status_code == 200


def sent_with_choices(live, to: str, fragment: str):
    live.graph.wait_for(lambda sent: any(m.to == to and fragment in m.text for m in sent), timeout=20)
    return next(m for m in live.graph.sent if m.to == to and fragment in m.text)


def test_the_admins_taps_move_money_once_even_pressed_twice(live):
    rid = placed(live, RETAIL1, "FL 01712345678 50 4321", "✅ Request")
    alert = sent_with_choices(live, ADMIN, f"CANCEL {rid}")
    assert alert.type == "interactive"
    assert alert.choices == [{"id": f"COMPLETE {rid}", "title": "সম্পন্ন"}, {"id": f"CANCEL {rid}", "title": "বাতিল"}]
    tap(live, ADMIN, f"CANCEL {rid}")
    tap(live, ADMIN, f"CANCEL {rid}")  # pressed again: refused, nothing refunded twice
    assert wait_text(live, ADMIN, "আগেই") == f"অনুরোধ #{bn(rid)} আগেই বাতিল হয়েছে।"
    assert live.db.get_reseller(3)["balance"] == "2500.00"
    br = live.db.create_balance_request(amount="300", actor=3)
    asked = sent_with_choices(live, ADMIN, f"ACCEPT {br['id']}")
    assert [c["id"] for c in asked.choices] == [f"ACCEPT {br['id']}", f"DENY {br['id']}"]
    tap(live, ADMIN, f"ACCEPT {br['id']}")
    tap(live, ADMIN, f"ACCEPT {br['id']}")  # late and twice: already decided
    wait_text(live, ADMIN, "আগেই অনুমোদিত")
    assert live.db.get_reseller(3)["balance"] == "2800.00"


def test_a_package_picked_from_the_list_asks_for_the_number_and_the_pin(live):
    live.stack.say(RETAIL1, "PKGS GP")
    listed = sent_with_choices(live, RETAIL1, "GP packages")
    assert listed.type == "interactive" and "Buy: PKG <code> <number> <PIN>" in listed.text  # the text form too
    assert [c["id"] for c in listed.choices] == ["PKG GP1", "PKG GP2", "PKG GP3"]
    assert listed.choices[0] == {"id": "PKG GP1", "title": "GP1 · ৳98", "description": "1GB 7 days"}
    tap(live, RETAIL1, "PKG GP1", kind="list")
    assert wait_text(live, RETAIL1, "PKG · 2/3").endswith("Which number? (e.g. 01712345678)\nNO to stop.")
    *_, bought = replies_to(live, RETAIL1, ["01712345678", "4321"])
    assert bought.startswith("✅ Request #") and "GP1 — 1GB 7 days 01712345678 — ৳98" in bought
    assert live.db.get_reseller(3)["balance"] == "2402.00"


def test_help_is_a_list_of_what_the_sender_may_do(live):
    live.stack.say(RETAIL2, "HELP")
    menu = sent_with_choices(live, RETAIL2, "কমান্ডসমূহ")
    assert menu.type == "interactive"
    assert [c["id"] for c in menu.choices] == ["BAL", "FL", "BK", "PKG", "ADDBAL", "ADDRS", "RS", "REQ", "PERM"]
    assert menu.choices[0] == {"id": "BAL", "title": "BAL", "description": "আপনার ব্যালেন্স"}
    tap(live, RETAIL2, "BAL", kind="list")
    assert wait_text(live, RETAIL2, "Salma Shop: ব্যালেন্স") == "Salma Shop: ব্যালেন্স ৳৫০০"


# -- each item again in the other language (issue 11: "Bengali and English") ------------


def test_a_bengali_reseller_hears_the_balance_now_and_the_package_by_its_name(live):
    first = placed(live, RETAIL2, "FL 01712345678 50 5678", "✅ অনুরোধ")
    package = placed(live, RETAIL2, "PKG GP1 01712345678 5678", "✅ অনুরোধ")
    live.stack.say(ADMIN, f"COMPLETE {first} TRX9")
    done = wait_text(live, RETAIL2, f"অনুরোধ #{bn(first)} সফল")
    assert done.endswith("ট্রানজেকশন আইডি: TRX9\nব্যালেন্স: ৳৩৫২")  # 500 - 50 - 98: now
    live.stack.say(ADMIN, f"CANCEL {package}")
    cancelled = wait_text(live, RETAIL2, f"অনুরোধ #{bn(package)} বাতিল")
    assert cancelled == f"🚫 অনুরোধ #{bn(package)} বাতিল করা হয়েছে\nGP1 — 1GB 7 days 01712345678 — ৳৯৮\nব্যালেন্স: ৳৪৫০"


@pytest.mark.parametrize("extra_settings", [{"default_language": "en"}])
def test_a_resend_in_english_tells_the_reseller_and_names_the_package(live):
    rid = placed(live, RETAIL1, "PKG GP1 01712345678 4321", "✅ Request")
    assert "GP1 — 1GB 7 days 01712***678 — ৳98" in wait_text(live, ADMIN, f"New request #{rid}")
    live.db.act_on_request(rid, "fail", note="operator down")
    assert "Reason: operator down\nBalance: ৳2,500" in wait_text(live, RETAIL1, f"Request #{rid} failed")
    live.stack.say(ADMIN, f"RESEND {rid}")
    resent = wait_text(live, RETAIL1, "sent again")
    assert resent == (
        f"🔁 Request #{rid} sent again\nGP1 — 1GB 7 days 01712345678 — ৳98 taken from your balance again\n"
        "Balance: ৳2,402"
    )
    live.stack.say(RETAIL1, f"REQ {rid}")
    status = wait_text(live, RETAIL1, f"Request #{rid}: pending")
    assert "operator down" not in status and "Note" not in status


def test_amounts_in_lakhs_in_both_languages(live):
    replies_to(live, RETAIL1, ["BAL"])  # both open their 24-hour window: the notices come as text
    replies_to(live, RETAIL2, ["BAL"])
    (paid,) = replies_to(live, ADMIN, ["ADDBAL retail1 100000"])
    assert paid == "💰 Karim Store (retail1)-কে ৳১,০০,০০০ দেওয়া হয়েছে\nতার ব্যালেন্স: ৳২,৫০০ → ৳১,০২,৫০০"
    assert wait_text(live, RETAIL1, "added to your balance").endswith("New balance: ৳1,02,500")
    live.stack.say(ADMIN, "ADDBAL retail2 250000.50")
    assert wait_text(live, RETAIL2, "যোগ করেছেন").endswith("নতুন ব্যালেন্স: ৳২,৫০,৫০০.৫০")
    (sent,) = replies_to(live, RETAIL1, ["BK 01812345678 1250.50 cashin 4321"])
    assert "BK cashin 01812345678 — ৳1,250.50\nBalance: ৳1,02,500 → ৳1,01,249.50" in sent


@pytest.mark.parametrize("extra_settings", [{"default_language": "en"}])
def test_the_admins_english_taps_move_money_once(live):
    rid = placed(live, RETAIL1, "FL 01712345678 50 4321", "✅ Request")
    alert = sent_with_choices(live, ADMIN, f"CANCEL {rid}")
    assert alert.choices == [{"id": f"COMPLETE {rid}", "title": "Complete"}, {"id": f"CANCEL {rid}", "title": "Cancel"}]
    tap(live, ADMIN, f"COMPLETE {rid}")
    tap(live, ADMIN, f"COMPLETE {rid}")  # pressed twice
    assert wait_text(live, ADMIN, "already") == f"Request #{rid} is already successful."
    assert wait_text(live, RETAIL1, f"Request #{rid} successful").endswith("Balance: ৳2,450")
    br = live.db.create_balance_request(amount="300", actor=3)
    asked = sent_with_choices(live, ADMIN, f"DENY {br['id']}")
    assert asked.choices == [
        {"id": f"ACCEPT {br['id']}", "title": "Accept"},
        {"id": f"DENY {br['id']}", "title": "Deny"},
    ]
    tap(live, ADMIN, f"DENY {br['id']}")
    assert wait_text(live, RETAIL1, "was denied") == f"Your balance request #{br['id']} for ৳300 was denied."
    tap(live, ADMIN, f"ACCEPT {br['id']}")  # late: already denied
    assert wait_text(live, ADMIN, "is already denied") == f"Balance request #{br['id']} is already denied."
    replies_to(live, RETAIL1, ["BAL"])  # a barrier: a second success notice would have come before this reply
    assert sum(f"Request #{rid} successful" in t for t in live.graph.sent_to(RETAIL1)) == 1
    assert live.db.get_reseller(3)["balance"] == "2450.00"


def test_a_new_reseller_step_by_step_in_english_and_bengali(live):
    asked = replies_to(live, DEALER2, ["ADDRS", "01700000011", "Nodi Telecom"])
    assert [a.splitlines()[0] for a in asked] == ["ADDRS · 1/3", "ADDRS · 2/3", "ADDRS · 3/3"]
    (added,) = replies_to(live, DEALER2, ["2468"])
    assert added.startswith("👤 New reseller Nodi Telecom · level 2\nPhone: 01700000011\n")
    asked = replies_to(live, ADMIN, ["ADDRS", "01700000012"])
    assert asked[1] == "ADDRS · ২/২\nতার নাম?\nথামাতে বাতিল লিখুন।"
    (added,) = replies_to(live, ADMIN, ["Tara Store"])
    assert added.startswith("👤 নতুন রিসেলার Tara Store · লেভেল ")
    assert live.db.get_reseller("8801700000011")["name"] == "Nodi Telecom"
    assert live.db.get_reseller("8801700000012")["name"] == "Tara Store"


@pytest.mark.parametrize("extra_settings", [{"default_language": "en"}])
def test_the_admins_open_requests_and_low_balances_in_english(live):
    first = placed(live, RETAIL2, "FL 01712345678 460 5678", "✅ অনুরোধ")  # Salma: 40 left, below 500
    second = placed(live, RETAIL1, "PKG GP1 01712345678 4321", "✅ Request")
    live.db.act_on_request(first, "process")
    for text in ("REQ", "RS"):  # the admin's alerts of the new requests come in between
        live.stack.say(ADMIN, text)
    open_, low = (wait_text(live, ADMIN, head) for head in ("Open requests", "Below "))
    lines = open_.splitlines()
    assert lines[0] == "Open requests, oldest first:" and len(lines) == 3
    assert lines[1].startswith(f"• #{first} FL GP prepaid 01712345678 ৳460 processing · ")
    assert lines[2].startswith(f"• #{second} GP1 01712345678 ৳98 pending · ")
    assert low.splitlines() == [
        "Below ৳500 or suspended:",
        "• Salma Shop (retail2) ৳40",
        "• Nipa Mobile (retail3) ৳800 ⛔ suspended",
    ]


NO_TOTALS = {
    "bn": "আপনার হোস্ট মোট হিসাব দেয় না। একজন রিসেলারের ব্যালেন্স দেখতে RS <রিসেলার>; খোলা অনুরোধ দেখতে REQ লিখুন।",
    "en": "Your host gives no totals. RS <reseller> shows one reseller's balance; REQ lists the open requests.",
}


@pytest.mark.parametrize("sandbox", [False], indirect=True, ids=["no-summary"])  # a host without GET /summary
@pytest.mark.parametrize("extra_settings", [{"default_language": "bn"}, {"default_language": "en"}])
def test_the_admins_bal_on_a_host_without_totals_is_a_helpful_line(live, extra_settings):
    totals, low, one = replies_to(live, ADMIN, ["BAL", "RS", "RS retail1"])
    assert totals == low == NO_TOTALS[extra_settings["default_language"]]
    assert one.startswith("Karim Store (retail1)")


@pytest.fixture
def server_zone(monkeypatch):
    """The worker's machine on New York time: what the shop reads must not follow it."""
    monkeypatch.setenv("TZ", "America/New_York")


def test_a_bengali_lockout_and_req_show_dhaka_time_on_a_server_in_new_york(server_zone, live):
    rid = placed(live, RETAIL2, "FL 01712345678 50 5678", "✅ অনুরোধ")
    created = datetime.fromisoformat(live.db.get_request(rid)["created_at"].replace("Z", "+00:00"))
    start = datetime.now(UTC)
    status, *wrong, locked = replies_to(live, RETAIL2, [f"REQ {rid}"] + ["FL 01712345678 50 1111"] * 5)
    end = datetime.now(UTC)
    assert status.splitlines()[-1] == bn(in_zone(created, 6))
    assert wrong[-1] == "ভুল পিন। আর ১ বার চেষ্টা করতে পারবেন।"
    until = {bn(in_zone(t + timedelta(seconds=900), 6)[-5:]) for t in (start, end)}
    assert locked.removeprefix("অনেকবার ভুল পিন। ").removesuffix(" পর্যন্ত বন্ধ।") in until


def test_small_things_in_bengali_digits_one_reply_to_lang_and_an_unknown_operator(live):
    texts = ["FL 01712345678 ৫০০০ postpaid ১১১১"] * 2 + ["ভাষা en", "PKGS XX", "ব্যালেন্স ৫৬৭৮"]
    wrong, _, lang, unknown, bal = replies_to(live, RETAIL2, texts)
    assert wrong == "ভুল পিন। আর ৪ বার চেষ্টা করতে পারবেন।"
    assert lang == "Replies will be in English from now on."
    assert unknown.startswith('No operator "XX". Operators: AT, BL, GP, RB, TT')
    assert bal == "Salma Shop: balance ৳500"  # the PIN typed out of habit is no PIN to check
    assert len(live.graph.sent_to(RETAIL2)) == 5  # LANG: one reply
    audit = [e["command"] for e in journal.recent(live.rt.conn, live.rt.keys.audit)]
    assert "FL 01712345678 5000 postpaid ****" in audit and not [a for a in audit if "1111" in a or "১১১১" in a]
