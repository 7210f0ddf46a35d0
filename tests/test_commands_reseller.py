"""Reseller commands other than money requests: BAL, RS, ADDRS, ADDBAL, REQ, PERM, OPS, PKGS, PIN, LANG."""

from __future__ import annotations

import re

from conftest import DEALER1, DEALER2, RETAIL1, RETAIL2
from helpers import leaks

from wa_addon.sealing import sealer


def test_bal(chat):
    assert chat.reply(RETAIL1, "BAL") == "Karim Store: balance ৳2,500"
    assert chat.reply(RETAIL1, "BAL now").startswith("Usage: BAL")


# -- RS ----------------------------------------------------------------------


def test_rs_lists_the_children_with_status_and_balance(chat):
    text = chat.reply(DEALER1, "RS")
    assert "Karim Store (retail1) ৳২,৫০০" in text and "Salma Shop (retail2) ৳৫০০" in text
    assert "Hasan" not in text


def test_rs_shows_one_reseller_of_the_subtree_by_username_id_or_phone(chat):
    for ref in ("retail1", "3", "01822222222", "+8801822222222", "০১৮২২২২২২২২"):
        text = chat.reply(DEALER1, f"RS {ref}")
        assert text.startswith("Karim Store (retail1)") and "৳২,৫০০" in text, ref


def test_rs_outside_the_subtree_is_refused(chat):
    for ref in ("dealer2", "retail3", "admin", "nobody"):
        assert chat.reply(DEALER1, f"RS {ref}") == f'"{ref}" আপনার রিসেলার নয়।', ref


def test_rs_of_a_leaf_has_nobody(chat):
    assert chat.reply(RETAIL1, "RS").startswith("Your resellers:\nnone yet")


# -- ADDRS -------------------------------------------------------------------


def test_addrs_creates_a_child_and_shows_its_secrets_once_in_a_secret_reply(chat):
    out = chat.send(DEALER1, "ADDRS 01799999999 New Shop 3 1234")
    reply = sealer(chat.rt.settings).open_message(out[0])
    assert reply.secret and "New Shop" in reply.text
    pin = re.search(r"পিন: (\d+)", reply.text).group(1)
    username = re.search(r"ইউজারনেম: (\S+)", reply.text).group(1)
    created = chat.host.get_reseller(username, actor=2)
    assert (created.parent_id, created.level, created.phone) == (2, 3, "8801799999999")
    assert chat.host.verify_pin(created.id, pin)
    assert not leaks(pin, str(chat.audit()))


def test_addrs_needs_the_pin_and_a_name(chat):
    assert chat.reply(DEALER1, "ADDRS 01799999999 Shop 9999").startswith("ভুল পিন")
    assert chat.reply(DEALER1, "ADDRS 01799999999 1234").startswith("নিয়ম: ADDRS")
    assert chat.reply(DEALER1, "ADDRS 12 Shop 1234") == '"12" ফোন নম্বর নয়।'


def test_addrs_of_a_taken_phone_is_refused(chat):
    assert chat.reply(RETAIL1, "ADDRS 01933333333 Salma 4321") == (
        "Not done: a reseller with this number exists already"
    )


# -- ADDBAL ------------------------------------------------------------------


def test_addbal_pays_a_child_and_says_both_balances(chat):
    text = chat.reply(DEALER1, "ADDBAL retail1 500 1234")
    assert "৳৫০০" in text and "৳২,৫০০ → ৳৩,০০০" in text and "৳১০,০০০ → ৳৯,৫০০" in text
    assert (chat.balance("dealer1"), chat.balance("retail1")) == ("9500.00", "3000.00")


def test_addbal_outside_the_subtree_or_to_oneself_moves_nothing(chat):
    assert chat.reply(DEALER1, "ADDBAL dealer2 100 1234") == '"dealer2" আপনার রিসেলার নয়।'
    assert chat.reply(DEALER1, "ADDBAL dealer1 100 1234") == '"dealer1" আপনার রিসেলার নয়।'
    assert chat.reply(RETAIL1, "ADDBAL retail2 100 4321") == '"retail2" is not one of your resellers.'
    assert (chat.balance("dealer1"), chat.balance("dealer2")) == ("10000.00", "3000.00")


def test_addbal_beyond_the_balance_is_refused_before_anything_moves(chat):
    text = chat.reply(DEALER1, "ADDBAL retail1 20000 1234")
    assert text == "পাঠানো হয়নি: আপনার ব্যালেন্স ৳১০,০০০, যা ৳২০,০০০-এর কম।"
    assert chat.balance("retail1") == "2500.00"


def test_addbal_with_a_wrong_pin_or_no_pin(chat):
    assert chat.reply(DEALER1, "ADDBAL retail1 500 4321").startswith("ভুল পিন")
    assert chat.reply(DEALER1, "ADDBAL retail1 500").startswith("নিয়ম: ADDBAL")
    assert chat.balance("retail1") == "2500.00"


def test_the_same_addbal_message_twice_pays_once(chat):
    first = chat.reply(DEALER2, "ADDBAL retail3 100 2468", msg_id="wamid.same")
    again = chat.reply(DEALER2, "ADDBAL retail3 100 2468", msg_id="wamid.same")
    assert first == again and "৳3,000 → ৳2,900" in first
    assert (chat.balance("dealer2"), chat.balance("retail3")) == ("2900.00", "900.00")


# -- REQ ---------------------------------------------------------------------


def test_req_lists_the_last_five_and_shows_one(chat):
    assert chat.reply(RETAIL1, "REQ") == "Your last requests:\nnone yet."
    for amount in (10, 20, 30, 40, 50, 60):
        chat.reply(RETAIL1, f"FL 01712345678 {amount} 4321")
    listed = chat.reply(RETAIL1, "REQ")
    assert listed.count("\n• #") == 5 and "৳60 pending" in listed and "৳10" not in listed
    newest = re.search(r"#(\d+)", listed).group(1)
    one = chat.reply(RETAIL1, f"REQ #{newest}")
    assert one.startswith(f"Request #{newest}: pending\nFL GP prepaid 01712345678 — ৳60")


def test_req_of_someone_elses_request_is_refused(chat):
    chat.reply(RETAIL1, "FL 01712345678 50 4321")
    request_id = chat.host.list_requests(actor=3)[0].id
    assert chat.reply(DEALER2, f"REQ {request_id}") == f"No request #{request_id} of yours."
    assert chat.reply(DEALER1, f"REQ {request_id}").startswith("অনুরোধ #")  # a parent sees its subtree
    assert chat.reply(RETAIL1, "REQ x").startswith("Usage: REQ")


# -- catalogue ---------------------------------------------------------------


def test_perm_lists_the_permitted_services(chat):
    text = chat.reply(RETAIL2, "PERM")
    assert "FL Flexiload" in text and "BK bKash" in text and "NG" not in text


def test_ops_and_pkgs(chat):
    ops = chat.reply(RETAIL1, "OPS fl")
    assert "GP Grameenphone 013, 017: prepaid ৳10–৳1,000" in ops and "skitto ৳20–৳1,000" in ops
    assert chat.reply(RETAIL1, "OPS BK") == "BK operators:\nnone: just give the number."
    assert chat.reply(RETAIL1, "OPS XX") == 'No service "XX". Send PERM for yours.'
    pkgs = chat.reply(RETAIL1, "PKGS gp")
    assert "GP1 1GB 7 days ৳98\n" in pkgs and "RB1" not in pkgs
    assert chat.reply(RETAIL1, "PKGS TT") == "TT packages:\nnone.\nBuy: PKG <code> <number> <PIN>"
    assert chat.reply(RETAIL1, "PKGS ZZ") == 'No operator "ZZ". Operators: AT, BL, GP, RB, TT'
    assert "GP1" in chat.reply("8801711000000", "PKGS GP")  # the admin too


# -- PIN ---------------------------------------------------------------------


def test_pin_change(chat):
    assert chat.reply(RETAIL1, "PIN 4321 9876") == "🔐 Your PIN is changed. Never share it."
    assert chat.host.verify_pin(3, "9876") and not chat.host.verify_pin(3, "4321")
    assert chat.reply(RETAIL1, "BAL")  # still works
    assert chat.reply(RETAIL1, "FL 01712345678 50 9876").startswith("✅ Request #")


def test_pin_change_refusals(chat):
    assert chat.reply(RETAIL1, "PIN 1111 9876") == "Wrong PIN. 4 tries left."  # counts towards the lockout
    assert chat.reply(RETAIL1, "PIN 4321 12345678") == "The new PIN must be 4 to 6 digits."
    assert chat.reply(RETAIL1, "PIN 4321").startswith("Usage: PIN")
    assert chat.host.verify_pin(3, "4321")


def test_wrong_pins_lock_the_sender_out_even_with_the_right_one(chat):
    for left in ("4 tries", "3 tries", "2 tries", "1 try"):
        assert chat.reply(RETAIL1, "FL 01712345678 50 0000") == f"Wrong PIN. {left} left."
    assert chat.reply(RETAIL1, "FL 01712345678 50 0000").startswith("Too many wrong PINs. Locked until ")
    assert chat.reply(RETAIL1, "FL 01712345678 50 4321").startswith("Too many wrong PINs.")
    assert chat.reply(RETAIL1, "PIN 4321 9876").startswith("Too many wrong PINs.")
    assert chat.balance("retail1") == "2500.00"


# -- LANG --------------------------------------------------------------------


def test_lang_switches_the_replies_and_is_kept_on_the_host(chat):
    assert chat.reply(RETAIL2, "LANG en") == "Replies will be in English from now on."
    assert chat.host.get_reseller("retail2").language == "en"
    assert chat.reply(RETAIL2, "BAL") == "Salma Shop: balance ৳500"
    assert chat.reply(RETAIL2, "lang বাংলা") == "এখন থেকে উত্তর বাংলায় আসবে।"
    assert chat.reply(RETAIL2, "LANG fr") == "নিয়ম: LANG bn|en — উত্তরের ভাষা"


def test_a_rerun_pin_change_is_not_a_wrong_pin(chat):
    first = chat.reply(RETAIL1, "PIN 4321 9876", msg_id="wamid.pin-change")
    again = chat.reply(RETAIL1, "PIN 4321 9876", msg_id="wamid.pin-change")  # a redelivery or a retried job
    assert again == first == "🔐 Your PIN is changed. Never share it."
    from wa_addon.commands.pin import PinGuard

    assert PinGuard(chat.rt.conn, chat.rt.keys, chat.rt.settings).remaining("3") == 5


def test_a_pending_request_shows_no_failure_note_even_if_the_host_kept_it(chat):
    from wa_addon.commands import common
    from wa_addon.commands.registry import RESELLER, Context
    from wa_addon.host import Request
    from wa_addon.messages import Inbound

    ctx = Context(chat.rt.command_kit, Inbound("cloud", "wamid.x", RETAIL1, "REQ 7"), RESELLER, None, "en")
    resent = Request(7, 3, "FL", "GP", "8801712345678", "50.00", "prepaid", "pending", note="operator down")
    assert common.request_card(ctx, resent)["note"] == ""
    assert common.request_card(ctx, Request(**{**vars(resent), "status": "failed"}))["note"] == "operator down"
