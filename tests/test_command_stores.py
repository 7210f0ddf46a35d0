"""The commands' stores keep the Redis keys and TTLs they had when handlers called Redis themselves.

A running server's data stays readable after an upgrade: each key is written
here by hand, literally, as the code before the stores wrote it, and read back
through the chat; and what the stores write is found under the same literal names.
"""

from __future__ import annotations

import time

from conftest import ADMIN, DEALER1, RETAIL1

from wa_addon.commands.marks import ONCE_TTL
from wa_addon.commands.pin import STRIKES_TTL
from wa_addon.messages import Inbound, short_hash
from wa_addon.store import SEEN_TTL

UNKNOWN = "8801999999999"


def ns(chat) -> str:
    return chat.rt.settings.namespace


def reseller_id(chat, username: str) -> str:
    return str(chat.host.get_reseller(username).id)


def test_a_pin_lockout_written_before_the_upgrade_still_locks(chat):
    who = reseller_id(chat, "retail1")
    until = time.time() + 600
    chat.rt.conn.set(f"{ns(chat)}:pinlock:{who}", f"{until:.0f}", ex=600)  # as the old PinGuard wrote it
    assert chat.reply(RETAIL1, "FL 01712345678 50 4321").startswith("Too many wrong PINs. Locked until ")
    assert chat.balance("retail1") == "2500.00"  # the right PIN, and still nothing moved


def test_wrong_pins_count_and_lock_under_the_same_keys_and_ttls(chat):
    who, conn, settings = reseller_id(chat, "retail1"), chat.rt.conn, chat.rt.settings
    assert chat.reply(RETAIL1, "FL 01712345678 50 0000") == "Wrong PIN. 4 tries left."
    assert conn.get(f"{ns(chat)}:pinfail:{who}") == b"1"
    assert 0 < conn.ttl(f"{ns(chat)}:pinfail:{who}") <= settings.pin_window
    for _ in range(4):
        chat.reply(RETAIL1, "FL 01712345678 50 0000")
    assert not conn.exists(f"{ns(chat)}:pinfail:{who}")  # the count starts again after the lockout
    assert 0 < conn.ttl(f"{ns(chat)}:pinlock:{who}") <= settings.pin_lockout
    assert float(conn.get(f"{ns(chat)}:pinlock:{who}")) > time.time()
    assert conn.get(f"{ns(chat)}:pinstrike:{who}") == b"1"
    assert STRIKES_TTL - 60 < conn.ttl(f"{ns(chat)}:pinstrike:{who}") <= STRIKES_TTL == 24 * 3600


def test_an_admin_pin_set_before_the_upgrade_is_read(chat):
    from wa_addon.commands.admin_pin import AdminPin

    AdminPin(chat.rt.conn, chat.rt.keys).set("8642")
    assert chat.rt.conn.get(f"{ns(chat)}:adminpin").startswith(b"scrypt$")
    assert chat.rt.conn.ttl(f"{ns(chat)}:adminpin") == -1  # no TTL
    chat.configure(admin_pin="always")
    assert chat.reply(ADMIN, "ADDBAL retail1 5 1111") == "Wrong PIN. 4 tries left."
    assert chat.rt.conn.get(f"{ns(chat)}:pinfail:admin") == b"1"  # the admin counts as "admin"
    assert chat.reply(ADMIN, "ADDBAL retail1 5 8642").startswith("💰")


def test_a_guide_started_before_a_restart_goes_on(chat):
    assert "number" in chat.reply(RETAIL1, "FL").lower()
    key = f"{ns(chat)}:guide:{RETAIL1}"  # per chat (the number), since 2026-11-30; before, per reseller id
    assert 0 < chat.rt.conn.ttl(key) <= chat.rt.settings.guide_timeout + 3600
    chat.configure()  # a new process, with the stores built afresh: it finds the guide under that key
    assert chat.reply(RETAIL1, "01712345678").startswith("FL · 2/3\nHow much?")
    chat.rt.conn.delete(key)
    assert not chat.reply(RETAIL1, "50").startswith("FL · 3/3")  # without the key, no guide


def test_once_an_hour_answers_keep_their_mark(chat):
    assert chat.send(UNKNOWN, "hello")  # "this number is not registered", once
    key = f"{ns(chat)}:seen:once-unknown_sender:{short_hash(UNKNOWN)}"
    assert ONCE_TTL - 60 < chat.rt.conn.ttl(key) <= ONCE_TTL == 3600
    other = "8801888888888"
    chat.rt.conn.set(f"{ns(chat)}:seen:once-unknown_sender:{short_hash(other)}", "1", ex=ONCE_TTL)
    assert chat.send(other, "hello") == []  # answered by the old code within the hour: not again


def test_a_first_run_mark_is_the_messages_seen_mark(chat):
    chat.reply(DEALER1, "ADDBAL retail1 5 1234", msg_id="wamid.pay1")
    dedupe = Inbound("cloud", "wamid.pay1", DEALER1, "").dedupe_id
    key = f"{ns(chat)}:seen:cmd-pay:{dedupe}"
    assert SEEN_TTL - 60 < chat.rt.conn.ttl(key) <= SEEN_TTL


def test_one_time_codes_keep_their_keys(chat):
    phone = "8801822222222"
    chat.send(ADMIN, "OTP 01822222222")
    assert 0 < chat.rt.conn.ttl(f"{ns(chat)}:otp:{phone}") <= chat.rt.settings.otp_ttl
    assert chat.rt.conn.get(f"{ns(chat)}:otprate:{phone}") == b"1"
    assert 0 < chat.rt.conn.ttl(f"{ns(chat)}:otprate:{phone}") <= chat.rt.settings.otp_window
    assert len(list(chat.rt.conn.scan_iter(match=f"{ns(chat)}:otpcause:*"))) == 1


def test_the_audit_is_the_same_list(chat):
    chat.reply(RETAIL1, "BAL")
    assert chat.rt.conn.llen(f"{ns(chat)}:audit") == 1
