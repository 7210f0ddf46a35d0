"""Property: whatever anyone types, the dispatcher answers and never raises, and never repeats a PIN."""

from __future__ import annotations

import re

from conftest import ADMIN, DEALER1, RETAIL1, RETAIL2, RETAIL3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wa_addon.commands.registry import ALIASES, HELP_ORDER

SENDERS = [ADMIN, DEALER1, RETAIL1, RETAIL2, RETAIL3, "8801799999999"]
PINS = {DEALER1: "1234", RETAIL1: "4321", RETAIL2: "5678"}
WORDS = [*sorted(set(HELP_ORDER) | set(ALIASES)), "FL", "BK", "NG", "BPDB", "NPR", "GP1", "retail1", "dealer2"]
TOKENS = st.one_of(
    st.sampled_from(
        [
            "01712345678",
            "+8801812345678",
            "০১৯১২৩৪৫৬৭৮",
            "8801511111111",
            "9841234567",
            "123456789",
            "50",
            "৫০",
            "৳100",
            "10.5",
            "0",
            "-5",
            "99999999",
            "#3",
            "3",
            "gp",
            "RB",
            "skitto",
            "postpaid",
            "cashin",
            "en",
            "bn",
            "বাংলা",
            "1",
            "9",
        ]
    ),
    st.from_regex(r"[0-9০-৯]{1,14}", fullmatch=True),
    st.text(min_size=1, max_size=12).filter(lambda t: t.strip() == t and " " not in t),
)


@st.composite
def commands(draw) -> str:
    """A keyword, some arguments, and maybe a PIN at the end."""
    words = [draw(st.sampled_from(WORDS)), *draw(st.lists(TOKENS, max_size=5))]
    if draw(st.booleans()):
        words.append(draw(st.sampled_from(["0000", "4321", "1234", "5678", "৪৩২১"])))
    return " ".join(words)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sender=st.sampled_from(SENDERS), text=st.one_of(commands(), st.text(max_size=40)))
def test_dispatch_never_raises_and_always_answers(chat, sender, text):
    out = chat.send(sender, text)
    assert all(m.text and m.to for m in out)
    if sender in PINS:
        assert out and out[0].to == sender  # a known sender always gets a reply
        pin = PINS[sender]
        if text.split()[-1:] == [pin] and pin not in text.split()[:-1]:
            assert not re.search(rf"(?<![0-9]){pin}(?![0-9])", out[0].text), (text, out[0].text)
