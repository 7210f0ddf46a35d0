"""Every message renders in both languages, with sample data, and stays short."""

from __future__ import annotations

import pytest

from wa_addon.render import LANGUAGES, Renderer, mask, money

SAMPLE = {
    "name": "Karim Store", "balance": "2500.00", "usages": ["BAL — your balance"], "role": "reseller",
    "usage": "BAL — your balance", "word": "XYZ", "until": "14:05", "left": 3, "code": "forbidden",
    "message": "not in your subtree",
}


def test_both_languages_have_the_same_messages():
    renderer = Renderer()
    assert renderer.names("bn") == renderer.names("en")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_template_renders_short(lang):
    renderer = Renderer()
    for name in renderer.names(lang):
        text = renderer.render(lang, name, **SAMPLE)
        assert text and len(text) < 1000, name


def test_money_uses_bengali_digits_in_bn():
    assert money("1250.5", "en") == "৳1,250.50"
    assert money("1250.5", "bn") == "৳১,২৫০.৫০"


def test_mask_hides_the_middle_of_a_number():
    assert mask("01711123678") == "01711***678"


def test_user_text_is_not_rendered_as_a_template():
    text = Renderer().render("en", "unknown_command", word="{{ 7*7 }}")
    assert "{{ 7*7 }}" in text and "49" not in text
