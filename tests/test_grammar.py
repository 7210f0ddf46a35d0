"""The chat grammar: tokens, amounts, redaction (digits and phone forms: test_phones.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wa_addon import phones
from wa_addon.commands import grammar


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("50", "50"),
        ("৫০", "50"),
        ("50tk", "50"),
        ("৳50", "50"),
        ("50.5", "50.5"),
        ("100/-", "100"),
        ("১২৫০.৫০", "1250.50"),
    ],
)
def test_amounts(text, value):
    assert grammar.parse_amount(text) == Decimal(value)


@pytest.mark.parametrize("text", ["0", "-5", "abc", "50.555", "5e3", "1234567890"])
def test_bad_amounts(text):
    assert grammar.parse_amount(text) is None


def test_tokens_are_ascii_and_keywords_case_insensitive():
    assert grammar.tokenize("  bal   ১২৩ ") == ["bal", "123"]
    assert grammar.keyword("bAl") == "BAL"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("FL 01711111111 50 1234", "FL 01711111111 50 ****"),
        ("pin 1234 5678", "pin **** ****"),
        ("BAL", "BAL"),
        ("ADDBAL retail1 500 ৪৩২১", "ADDBAL retail1 500 ****"),
    ],
)
def test_redact_hides_pins(text, shown):
    assert grammar.redact(text) == shown


@given(st.text())
def test_grammar_never_crashes(text):
    for token in grammar.tokenize(text):
        phones.parse_phone(token)
        grammar.parse_amount(token)
        grammar.parse_int(token)
    grammar.redact(text)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("4321", "****"),
        ("৪৩২১", "****"),
        ("FL 01712345678 50 4321 gp", "FL 01712345678 50 **** gp"),
        ("4321 BAL", "**** BAL"),
    ],
)
def test_a_pin_is_hidden_wherever_it_was_typed(text, shown):
    assert grammar.redact(text) == shown


def test_every_secret_command_is_redacted_whole():
    from wa_addon.commands.registry import REGISTRY

    assert {c.name for c in REGISTRY.values() if c.secret} <= grammar.SECRET_KEYWORDS


def test_every_alias_leads_to_a_command_and_is_documented():
    import re
    from pathlib import Path

    import wa_addon.commands  # noqa: F401  (registers the commands)
    from wa_addon.commands.registry import ADMIN, ALIASES, RESELLER, ROLE_ALIASES, lookup

    docs = Path(__file__).parent.parent.joinpath("docs", "commands.md").read_text(encoding="utf-8")
    documented = {w.upper() for w in re.findall(r"`([^`<>]+)`", docs.split("## Other words")[1].split("## ")[0])}
    for word, name in ALIASES.items():
        assert lookup(RESELLER, word) or lookup(ADMIN, word), word
        assert word in documented, word
    for role, words in ROLE_ALIASES.items():
        assert all(lookup(role, w) and w in documented for w in words)
    assert lookup(RESELLER, grammar.keyword("balance")).name == "BAL"
    assert lookup(ADMIN, "বাতিল").name == "CANCEL" and lookup(RESELLER, "বাতিল").name == "NO"


def test_a_keyword_is_one_unicode_form_whichever_way_it_was_typed():
    assert grammar.keyword("\u09df") == grammar.keyword("\u09af\u09bc")  # য়: one code point, or two
    assert grammar.keyword("bal") == "BAL"
