"""Commands through ``dispatch.handle`` on real parts: Redis and the sandbox host over HTTP.

The :func:`chat` fixture here is shared by the other ``test_commands_*``
modules (they import it).  Seeded accounts: wa_addon/sandbox/seed.py.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from wa_addon import journal
from wa_addon.commands import dispatch, registry
from wa_addon.commands.registry import ALIASES, HELP_ORDER, REGISTRY, acl, commands_for, lookup
from wa_addon.host.http import HttpHost
from wa_addon.messages import Inbound, Outbound
from wa_addon.render import Renderer
from wa_addon.runtime import Runtime
from wa_addon.settings import Settings

HOST_KEY = "sandbox-test-key"  # tests/conftest.py's sandbox
ADMIN = "8801711000000"
DEALER1 = "8801711111111"  # Rahim Telecom, 10,000.00, PIN 1234, bn; children retail1, retail2
RETAIL1 = "8801822222222"  # Karim Store, 2,500.00, PIN 4321, en
RETAIL2 = "8801933333333"  # Salma Shop, 500.00, PIN 5678, bn; FL and BK only
DEALER2 = "8801544444444"  # Hasan Enterprise, 3,000.00, PIN 2468, en; child retail3
RETAIL3 = "8801655555555"  # Nipa Mobile, suspended


class Chat:
    """Sends chat messages through the dispatcher and reads the host's state."""

    def __init__(self, rt: Runtime, host: HttpHost):
        self.rt, self.host = rt, host

    def send(self, sender: str, text: str, msg_id: str | None = None) -> list[Outbound]:
        """Every message the add-on would send for one inbound chat message."""
        msg = Inbound("cloud", msg_id or f"wamid.{uuid.uuid4().hex}", sender, text)
        return dispatch.handle(self.rt, msg)

    def reply(self, sender: str, text: str, msg_id: str | None = None) -> str:
        """The text of the reply to the sender."""
        out = self.send(sender, text, msg_id)
        assert out and out[0].to == sender
        return out[0].text

    def balance(self, username: str) -> str:
        return self.host.get_reseller(username).balance

    def audit(self) -> list[dict]:
        return journal.recent(self.rt.conn, self.rt.keys.audit)


def open_chat(redis_url: str, namespace: str, sandbox: str) -> Iterator[Chat]:
    """A :class:`Chat` on the test's Redis namespace and sandbox (other modules' ``chat`` fixtures use it)."""
    settings = Settings(redis_url=redis_url, namespace=namespace, host_url=sandbox, host_key=HOST_KEY,
                        admin_numbers=(ADMIN,), default_language="en", hook_secret="test-hook-secret")
    host = HttpHost(sandbox, HOST_KEY)
    rt = Runtime(settings, host, transports={})
    yield Chat(rt, host)
    rt.close()


@pytest.fixture
def chat(redis_url, namespace, sandbox):
    yield from open_chat(redis_url, namespace, sandbox)


# -- the tables --------------------------------------------------------------


def test_who_may_run_what_is_read_from_the_registrations():
    table = acl()
    assert table["BAL"] == table["HELP"] == {"admin", "reseller"}
    assert table["CANCEL"] == table["OTP"] == {"admin"}
    assert table["PIN"] == table["SERVICE"] == {"reseller"}
    assert list(table) == [name for name in HELP_ORDER if name in table]
    assert lookup("reseller", "CANCEL") is None and lookup("admin", "PIN") is None
    assert lookup("admin", "CANCEL") is REGISTRY[("admin", "CANCEL")]
    assert set(ALIASES.values()) <= set(table)


def test_a_command_help_does_not_list_is_refused_at_registration():
    with pytest.raises(ValueError, match="HELP_ORDER"):
        registry.command("NOPE", role="admin")(lambda ctx, args: None)
    assert ("admin", "NOPE") not in REGISTRY


def test_every_usage_line_names_its_command():
    for (_, name), cmd in REGISTRY.items():
        assert cmd.usage.startswith("<service>" if name == "SERVICE" else name), name
        assert len(cmd.usage) < 110, name  # one line on a phone


def test_every_reply_template_exists_in_both_languages():
    renderer = Renderer()
    assert renderer.names("bn") == renderer.names("en")


def test_help_lists_only_what_the_sender_may_do(chat):
    admin = chat.reply(ADMIN, "HELP")
    reseller = chat.reply(RETAIL1, "help")
    assert "CANCEL <id>" in admin and "ACCEPT <id>" in admin and "PIN <old>" not in admin
    assert "BAL" in reseller and "PIN <old> <new>" in reseller and "CANCEL" not in reseller
    assert admin.count("\n") == len(commands_for("admin"))  # the heading, then one line each


def test_help_is_in_the_senders_language_and_names_the_senders_services(chat):
    assert chat.reply(DEALER1, "HELP").startswith("কমান্ডসমূহ")
    assert chat.reply(RETAIL2, "HELP").endswith("আপনার সার্ভিস: BK, FL")


def test_a_malformed_command_gets_its_own_usage_line(chat):
    assert chat.reply(RETAIL1, "RS a b") == "Usage: RS [<reseller>] — your resellers' status and balance"
    assert chat.reply(ADMIN, "CANCEL") == "Usage: CANCEL <id> — cancel a request (refunds it)"
    assert chat.reply(RETAIL1, "FL 01712345678 50").startswith("Usage: <service> <number> <amount>")


def test_a_reseller_command_from_the_admin_is_unknown_and_vice_versa(chat):
    assert chat.reply(ADMIN, "PERM").startswith('Unknown command "PERM"')
    assert chat.reply(RETAIL1, "CANCEL 1 4321").startswith('Unknown command "CANCEL"')


def test_bengali_words_are_aliases(chat):
    assert chat.reply(RETAIL1, "হ্যাঁ") == "Nothing is waiting for your YES."
    assert chat.reply(RETAIL1, "না") == "Nothing was held."


def test_unknown_and_suspended_senders_are_handled_before_any_command(chat):
    assert chat.reply(RETAIL3, "BAL").startswith("আপনার অ্যাকাউন্ট স্থগিত")
    assert chat.send("8801799999999", "BAL")  # one polite line...
    assert chat.send("8801799999999", "BAL") == []  # ...and nothing else


def test_the_audit_keeps_commands_without_pins(chat):
    chat.reply(RETAIL1, "FL 01712345678 50 4321")
    chat.reply(RETAIL1, "PIN 4321 9876")
    entries = chat.audit()
    assert entries[0]["command"] == "PIN **** ****"
    assert entries[1]["command"] == "FL 01712345678 50 ****"
    assert all("4321" not in e["command"] and "9876" not in e["command"] for e in entries)


# -- every reply template, both languages -------------------------------------

CARD = {"id": 3, "name": "Karim Store", "username": "retail1", "phone": "01822222222", "level": 2,
        "status": "active", "balance": "2500.00", "services": "FL, BK"}
REQUEST = {"id": 41, "what": "FL GP prepaid", "number": "01712345678", "amount": "50.00", "status": "success",
           "trx_id": "TX1", "note": "ok", "created_at": "2026-01-01 10:00"}
SAMPLES: dict[str, dict] = {
    "services": {"services": [{"code": "FL", "name": "Flexiload", "min": "10", "max": "5000", "types": "prepaid"}]},
    "operators": {"service": "FL", "operators": [{"code": "GP", "name": "Grameenphone", "prefixes": "013, 017",
                                                  "limits": [{"type": "prepaid", "min": "10", "max": "1000"}]}]},
    "packages": {"operator": "GP", "packages": [{"code": "GP1", "name": "1GB", "price": "98", "validity": "7 days"}]},
    "unknown_service": {"service": "XX"},
    "service_not_permitted": {"service": "NG"},
    "type_not_offered": {"type": "skitto", "operator": "RB", "types": "prepaid"},
    "unknown_package": {"package": "XX1"},
    "unknown_operator": {"operator": "XX", "operators": "GP, RB"},
    "totals": {"resellers": 5, "suspended": 1, "balance": "16800.00", "pending": 2, "processing": 0, "attention": 2},
    "no_summary": {},
    "guide_ask": {"what": "FL", "step": "amount", "n": 2, "total": 3, "problem": "A PIN is 4 to 8 digits."},
    "guide_stopped": {}, "guide_not_pin": {}, "guide_not_name": {}, "guide_not_amount": {},
    "open_requests": {"requests": [{**REQUEST, "minutes": 75}], "more": 2},
    "attention": {"resellers": [CARD], "low": 500, "more": 0},
    "amount_out_of_range": {"what": "FL GP prepaid", "min": "10", "max": "1000", "amount": "5"},
    "insufficient_balance": {"balance": "40", "amount": "50"},
    "bad_number": {"number": "123", "kind": "mobile"},
    "bad_option": {"word": "foo", "types": "prepaid", "operators": "GP"},
    "no_operator": {"number": "01112345678", "operators": "GP, RB"},
    "request_placed": {"id": 41, "what": "FL", "number": "01712345678", "amount": "50", "before": "100",
                       "after": "50", "status": "pending"},
    "duplicate_held": {"what": "FL", "number": "01712345678", "amount": "50", "previous": "41", "code": "123",
                       "minutes": 10},
    "nothing_held": {"code": "123"},
    "held_dropped": {"count": 2},
    "no_reseller": {"ref": "x"},
    "not_in_subtree": {"ref": "x"},
    "reseller_added": {**CARD, "password": "pw", "pin": "4821", "replayed": False},
    "payment_done": {"amount": "500", "name": "Karim Store", "username": "retail1", "to_before": "1",
                     "to_after": "501", "from_before": "1000", "from_after": "500", "id": 1},
    "reseller": CARD,
    "resellers": {"resellers": [CARD, {**CARD, "status": "suspended"}], "more": 3},
    "requests": {"requests": [REQUEST]},
    "request_status": REQUEST,
    "no_request": {"id": 41, "yours": True},
    "pin_format": {"min": 4, "max": 6},
    "pin_changed": {},
    "language_set": {"language": "bn"},
    "request_action": {**REQUEST, "action": "complete", "name": "Karim Store", "balance": "2450"},
    "request_state": {"id": 41, "status": "success", "action": "cancel"},
    "balance_request_expired": {"id": 7},
    "no_balance_request": {"id": 7},
    "balance_request_closed": {"id": 7, "status": "approved"},
    "balance_request_decided": {"id": 7, "amount": "1000", "status": "approved", "name": "Karim Store",
                                "username": "retail1", "balance": "3500"},
    "switched_off": {"kind": "otp"},
    "otp_limited": {"minutes": 5},
    "message_sent": {"phone": "01799999999"},
    "otp_sent": {"phone": "01799999999", "minutes": 5},
    "host_error": {"code": "insufficient_balance", "message": "balance 40.00 is less than 50.00"},
}


@pytest.mark.parametrize("lang", ["bn", "en"])
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_command_template_renders_short_in_both_languages(name, lang):
    text = Renderer().render(lang, name, **SAMPLES[name])
    assert text and len(text) < 600 and "{" not in text, text
    if lang == "bn":
        assert not re.search(r"৳[0-9]", text), text  # money in Bengali digits


def test_every_command_has_a_bengali_usage_line():
    from wa_addon.commands.registry import REGISTRY

    for command in REGISTRY.values():
        bn = command.usage_in("bn")
        assert bn != command.usage and re.search(r"[\u0980-\u09FF]", bn), command.name
