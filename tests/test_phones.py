"""Phone numbers and digits: every form a shop owner types is the same number."""

from __future__ import annotations

import pytest

from wa_addon import phones


@pytest.mark.parametrize(
    "text",
    [
        "01711111111",
        "+8801711111111",
        "8801711111111",
        "008801711111111",
        "০১৭১১১১১১১১",
        "017-1111-1111",
        "+880 1711-111111",
    ],
)
def test_every_local_and_international_form_is_the_same_number(text):
    assert phones.parse_phone(text) == "8801711111111"


@pytest.mark.parametrize("text", ["12345", "abc", "0171111", "", "01211111111", "+"])
def test_non_numbers_are_refused(text):
    assert phones.parse_phone(text) is None


def test_national_form():
    assert phones.national("8801822222222") == "01822222222"


def test_bengali_digits_become_ascii():
    assert phones.ascii_digits("BAL ১২৩") == "BAL 123"
