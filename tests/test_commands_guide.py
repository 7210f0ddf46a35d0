"""Guided commands through the dispatcher, on real Redis and the sandbox host: FL alone, ADDBAL, ADDRS."""

from __future__ import annotations

import json
import time

from conftest import ADMIN, DEALER1, RETAIL1, RETAIL2

from wa_addon.commands import guide
from wa_addon.commands.registry import ADMIN as ADMIN_ROLE
from wa_addon.commands.registry import REGISTRY, RESELLER
from wa_addon.sealing import sealer


def test_every_flow_guides_a_registered_command_and_ends_with_the_pin_when_it_needs_one():
    for (role, name), steps in guide.FLOWS.items():
        assert (role, name) in REGISTRY and steps
        assert (steps[-1] is guide.PIN) == REGISTRY[(role, name)].pin
    assert {role for role, _ in guide.FLOWS} == {ADMIN_ROLE, RESELLER}


def test_fl_alone_asks_for_the_number_the_amount_and_the_pin_then_places_it_once(chat):
    assert chat.reply(RETAIL1, "FL") == "FL · 1/3\nWhich number? (e.g. 01712345678)\nNO to stop."
    assert chat.reply(RETAIL1, "123") == (
        'FL · 1/3\n"123" is not a mobile number. Write it like 01712345678.'
        "\nWhich number? (e.g. 01712345678)\nNO to stop."
    )
    assert chat.reply(RETAIL1, "০১৭১২৩৪৫৬৭৮").startswith("FL · 2/3\nHow much?")
    assert chat.reply(RETAIL1, "lots").startswith("FL · 2/3\nThat is not an amount")
    assert chat.reply(RETAIL1, "50").startswith("FL · 3/3\nYour PIN?")
    last = "wamid.pin-step"
    placed = chat.reply(RETAIL1, "4321", msg_id=last)
    assert placed.startswith("✅ Request #") and "FL GP prepaid 01712345678 — ৳50" in placed
    again = chat.reply(RETAIL1, "4321", msg_id=last)  # the same message redelivered: the same request
    assert again == placed and chat.balance("retail1") == "2450.00"
    assert b"4321" not in chat.rt.conn.get(chat.rt.keys.guide(RETAIL1))  # a PIN is never kept
    assert chat.reply(RETAIL1, "4321").startswith("Unknown command")  # the guide is over
    assert "FL 01712345678 50 ****" in [e["command"] for e in chat.audit()]


def test_a_wrong_pin_in_a_guide_counts_and_ends_it(chat):
    chat.reply(RETAIL1, "FL")
    chat.reply(RETAIL1, "01712345678")
    chat.reply(RETAIL1, "50")
    assert chat.reply(RETAIL1, "0000") == "Wrong PIN. 4 tries left."
    assert chat.balance("retail1") == "2500.00"


def test_bengali_stop_word_and_another_command_end_a_guide(chat):
    assert chat.reply(RETAIL2, "ADDBAL").startswith("ADDBAL · ১/৩\nকোন রিসেলারকে?")
    assert chat.reply(RETAIL2, "বাতিল") == "থামানো হলো। কিছু পাঠানো হয়নি।"
    assert chat.reply(RETAIL2, "50").startswith("অজানা কমান্ড")
    chat.reply(RETAIL2, "FL")
    assert chat.reply(RETAIL2, "BAL") == "Salma Shop: ব্যালেন্স ৳৫০০"  # BAL runs, the guide is dropped
    assert chat.reply(RETAIL2, "01712345678").startswith("অজানা কমান্ড")


def test_a_dealer_pays_and_the_admin_adds_a_reseller_step_by_step(chat):
    chat.reply(DEALER1, "ADDBAL")
    assert chat.reply(DEALER1, "retail9").startswith('ADDBAL · ১/৩\n"retail9" আপনার রিসেলার নয়।')
    chat.reply(DEALER1, "retail1")
    chat.reply(DEALER1, "৫০০")
    assert "৳২,৫০০ → ৳৩,০০০" in chat.reply(DEALER1, "1234")
    assert chat.reply(ADMIN, "ADDRS") == "ADDRS · 1/2\nThe new reseller's phone number?\nNO to stop."
    assert chat.reply(ADMIN, "01700000009").startswith("ADDRS · 2/2\nTheir name?")
    added = sealer(chat.rt.settings).open(chat.reply(ADMIN, "Nodi Telecom"))  # it carries the PIN: sealed
    assert added.startswith("👤 New reseller Nodi Telecom") and "PIN: " in added


def test_a_guided_name_ending_in_a_digit_is_the_name_not_a_level(chat):
    chat.reply(ADMIN, "ADDRS")
    chat.reply(ADMIN, "01700000010")
    added = sealer(chat.rt.settings).open(chat.reply(ADMIN, "Mobile Point 2"))
    assert added.startswith("👤 New reseller Mobile Point 2 · level 1\n")  # typed on one line, 2 is the level
    chat.reply(DEALER1, "ADDRS")
    chat.reply(DEALER1, "01700000013")
    chat.reply(DEALER1, "Shop 3")
    added = sealer(chat.rt.settings).open(chat.reply(DEALER1, "1234"))
    assert added.startswith("👤 নতুন রিসেলার Shop 3 · লেভেল ২\n")
    assert chat.host.get_reseller("8801700000013").name == "Shop 3"


def test_a_guide_times_out_with_its_redis_key(chat):
    chat.reply(RETAIL1, "FL")
    key = chat.rt.keys.guide(RETAIL1)
    assert chat.rt.settings.guide_timeout == 300
    assert 3590 <= chat.rt.conn.ttl(key) <= 300 + guide.REMEMBER_EXPIRED  # the time out is remembered an hour
    chat.rt.conn.delete(key)  # what Redis does when that hour is over too
    assert chat.reply(RETAIL1, "01712345678").startswith("Unknown command")


def _time_out(chat, who: str) -> None:
    """What the clock does to a guide: its question's time runs out (the key stays, as Redis keeps it)."""
    key = chat.rt.keys.guide(who)
    entry = json.loads(chat.rt.conn.get(key))
    assert entry["until"] - time.time() > 290  # the question waits WA_GUIDE_TIMEOUT
    chat.rt.conn.set(key, json.dumps({**entry, "until": time.time() - 1}), keepttl=True)


def test_an_answer_after_the_time_out_is_told_so_and_not_taken(chat):
    chat.reply(RETAIL1, "FL")
    chat.reply(RETAIL1, "01712345678")
    _time_out(chat, RETAIL1)
    late = chat.reply(RETAIL1, "50")
    assert late == "⏱ FL stopped: no answer in 5 min. Nothing was sent.\nSend FL to start again."
    assert chat.reply(RETAIL1, "1234").startswith("Unknown command")  # told once; the guide is over
    assert chat.host.list_requests(actor=3) == []  # nothing was placed


def test_a_command_after_the_time_out_runs_and_a_fresh_guide_starts_clean(chat):
    chat.reply(RETAIL2, "FL")
    chat.reply(RETAIL2, "01712345678")
    _time_out(chat, RETAIL2)
    assert chat.reply(RETAIL2, "BAL").startswith("Salma Shop")  # a command: it runs, the guide is over
    chat.reply(RETAIL2, "FL")
    _time_out(chat, RETAIL2)
    assert "থামানো হলো: ৫ মিনিটে উত্তর আসেনি" in chat.reply(RETAIL2, "01712345678")  # in the sender's language
    assert chat.reply(RETAIL2, "FL").startswith("FL · ১/৩")  # and FL starts again
