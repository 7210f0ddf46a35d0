"""Every message renders in both languages, with sample data, and stays short."""

from __future__ import annotations

import pytest
from test_commands_chat import SAMPLES as COMMAND_SAMPLES
from test_hooks_notify import SAMPLES as NOTIFY_SAMPLES

from wa_addon.render import LANGUAGES, Renderer, mask, money

BASIC = {
    "balance": {"name": "Karim Store", "balance": "2500.00"},
    "help": {"role": "reseller", "usages": ["BAL — your balance"]},
    "usage": {"usage": "BAL — your balance"},
    "unknown_command": {"word": "XYZ"},
    "pin_locked": {"until": "14:05"},
    "pin_wrong": {"left": 3},
    "unknown_sender": {}, "suspended": {}, "paused": {}, "error": {},
}


def sample(name: str) -> dict:
    """The sample context of a template: every template must have one."""
    if name in BASIC:
        return BASIC[name]
    if name in COMMAND_SAMPLES:
        return COMMAND_SAMPLES[name]
    return NOTIFY_SAMPLES if name.startswith(("notify_", "otp")) else {}


def test_both_languages_have_the_same_messages():
    renderer = Renderer()
    assert renderer.names("bn") == renderer.names("en")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_template_renders_short(lang):
    renderer = Renderer()
    for name in renderer.names(lang):
        text = renderer.render(lang, name, **sample(name))  # StrictUndefined: a missing sample fails here
        assert text and len(text) < 1000 and "{" not in text, name


def test_money_uses_bengali_digits_in_bn():
    assert money("1250.5", "en") == "৳1,250.50"
    assert money("1250.5", "bn") == "৳১,২৫০.৫০"


def test_mask_hides_the_middle_of_a_number():
    assert mask("01711123678") == "01711***678"


def test_user_text_is_not_rendered_as_a_template():
    text = Renderer().render("en", "unknown_command", word="{{ 7*7 }}")
    assert "{{ 7*7 }}" in text and "49" not in text
