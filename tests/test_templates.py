"""Every message renders in both languages, with sample data, and stays short."""

from __future__ import annotations

import pytest
from helpers import COMMAND_SAMPLES, NOTIFY_SAMPLES

from wa_addon.render import LANGUAGES, Renderer, mask, money

BASIC = {
    "balance": {"name": "Karim Store", "balance": "2500.00"},
    "help": {"role": "reseller", "usages": ["BAL — your balance"]},
    "usage": {"usage": "BAL — your balance"},
    "unknown_command": {"word": "XYZ"},
    "pin_locked": {"until": "14:05"},
    "pin_wrong": {"left": 3},
    "unknown_sender": {},
    "suspended": {},
    "paused": {},
    "error": {},
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
    assert money("1250.5", "en") == "৳1,250.50" and money("100000", "en") == "৳1,00,000"
    assert money("1250.5", "bn") == "৳১,২৫০.৫০" and money("100000.00", "bn") == "৳১,০০,০০০"


def test_money_groups_in_lakhs_and_crores_and_keeps_paisa():
    assert money("12345678.9", "en") == "৳1,23,45,678.90"
    assert money("12345678.9", "bn") == "৳১,২৩,৪৫,৬৭৮.৯০"
    assert money("50", "en") == "৳50" and money("not money", "bn") == "not money"


def test_mask_hides_the_middle_of_a_number():
    assert mask("01711123678") == "01711***678"


def test_user_text_is_not_rendered_as_a_template():
    text = Renderer().render("en", "unknown_command", word="{{ 7*7 }}")
    assert "{{ 7*7 }}" in text and "49" not in text


def test_times_are_shown_in_the_configured_zone_whatever_the_servers():
    from wa_addon.render import local_time

    assert local_time("2026-11-30T18:30:00Z", "Asia/Dhaka") == "2026-12-01 00:30"  # the host's UTC, converted
    assert local_time("2026-11-30T18:30:00", "Asia/Dhaka") == "2026-12-01 00:30"  # no offset: UTC
    assert local_time(0, "Asia/Dhaka", "%H:%M") == "06:00" and local_time(0, "Asia/Kolkata", "%H:%M") == "05:30"
    assert local_time(0, "Not/AZone", "%H:%M") == "00:00" and local_time(None, "Asia/Dhaka") == ""


@pytest.mark.parametrize(
    ("lang", "ages"),
    [
        ("en", ["just now", "1 min ago", "1 h ago", "2 d ago"]),
        ("bn", ["এইমাত্র", "১ মিনিট আগে", "১ ঘণ্টা আগে", "২ দিন আগে"]),
    ],
)
def test_an_open_requests_age_reads_naturally(lang, ages):
    card = {"id": 1, "what": "FL", "number": "01712345678", "amount": "50", "status": "pending"}
    requests = [{**card, "minutes": m} for m in (0, 1, 75, 2 * 1440 + 5)]
    lines = Renderer().render(lang, "open_requests", requests=requests, more=0).splitlines()[1:]
    assert [line.rpartition(" · ")[2] for line in lines] == ages


def test_a_package_says_how_long_it_lasts_once():
    from wa_addon.commands.catalog import _about, _package_line
    from wa_addon.host import Package

    named = Package("GP1", "GP", "1GB 7 days", "98", "7 days")
    plain = Package("GP9", "GP", "2GB", "150", "30 days")
    assert _about(named) == "1GB 7 days" and _about(plain) == "2GB · 30 days"
    lines = [_package_line(p) for p in (named, plain)]
    assert Renderer().render("en", "packages", operator="GP", packages=lines).splitlines()[1:3] == [
        "• GP1 1GB 7 days ৳98",
        "• GP9 2GB ৳150 (30 days)",
    ]
