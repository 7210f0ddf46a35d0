"""Commands through ``dispatch.handle`` on real parts: Redis and the sandbox host over HTTP.

The ``chat`` fixture and the seeded accounts are tests/conftest.py's.
"""

from __future__ import annotations

import re

import pytest
from conftest import ADMIN, DEALER1, RETAIL1, RETAIL2, RETAIL3
from helpers import COMMAND_SAMPLES

from wa_addon.commands import registry
from wa_addon.commands.registry import ALIASES, HELP_ORDER, REGISTRY, acl, commands_for, lookup
from wa_addon.render import Renderer

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


@pytest.mark.parametrize("lang", ["bn", "en"])
@pytest.mark.parametrize("name", sorted(COMMAND_SAMPLES))
def test_every_command_template_renders_short_in_both_languages(name, lang):
    text = Renderer().render(lang, name, **COMMAND_SAMPLES[name])
    assert text and len(text) < 600 and "{" not in text, text
    if lang == "bn":
        assert not re.search(r"৳[0-9]", text), text  # money in Bengali digits


def test_every_command_has_a_bengali_usage_line():
    from wa_addon.commands.registry import REGISTRY

    for command in REGISTRY.values():
        bn = command.usage_in("bn")
        assert bn != command.usage and re.search(r"[\u0980-\u09FF]", bn), command.name
