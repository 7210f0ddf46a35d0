"""Reply buttons and list messages on the Cloud API: Meta's limits kept, the text form elsewhere."""

from __future__ import annotations

from wa_addon.messages import Outbound
from wa_addon.render import choice
from wa_addon.transports.cloud import build_body
from wa_addon.transports.cloud_interactive import fit


def test_two_choices_without_a_menu_are_reply_buttons_carrying_their_command():
    msg = Outbound(
        "m1",
        "8801711000000",
        "💳 Balance request #5",
        choices=[choice("ACCEPT 5", "Accept"), choice("DENY 5", "নামঞ্জুর একটি খুব লম্বা লেবেল যা কাটা হবে")],
    )
    body = build_body(msg)
    assert body["type"] == "interactive" and body["interactive"]["type"] == "button"
    buttons = body["interactive"]["action"]["buttons"]
    assert [b["reply"]["id"] for b in buttons] == ["ACCEPT 5", "DENY 5"]
    assert all(len(b["reply"]["title"]) <= 20 for b in buttons) and buttons[1]["reply"]["title"].endswith("…")
    assert body["interactive"]["body"]["text"] == "💳 Balance request #5"


def test_a_menu_makes_a_list_of_at_most_ten_rows_within_metas_lengths():
    rows = [choice(f"PKG X{i}", f"X{i} · ৳1,00,000 and a long tail", "d" * 100) for i in range(14)]
    body = build_body(Outbound("m2", "8801822222222", "GP packages", choices=rows, menu="A very long menu label"))
    action = body["interactive"]["action"]
    listed = action["sections"][0]["rows"]
    assert len(listed) == 10 and len(action["button"]) <= 20
    assert all(len(r["title"]) <= 24 and len(r["description"]) <= 72 for r in listed)
    assert listed[0]["id"] == "PKG X0"


def test_the_text_form_when_it_does_not_fit_or_outside_the_window():
    long = Outbound("m3", "8801822222222", "x" * 1025, choices=[choice("BAL", "BAL")])
    assert build_body(long)["type"] == "text"
    many = Outbound("m4", "8801822222222", "pick", choices=[choice(str(i), str(i)) for i in range(4)])
    assert build_body(many)["type"] == "text"  # four buttons and no list label: the text says what to type
    template = Outbound("m5", "8801822222222", "t", mode="template", template="t1", choices=[choice("A", "A")])
    assert build_body(template)["type"] == "template"


def test_fit_keeps_short_text_and_cuts_long_text():
    assert fit("Accept", 20) == "Accept" and fit("a  b", 20) == "a b" and fit("abcdef", 4) == "abc…"


def test_choices_survive_the_queue_round_trip():
    msg = Outbound("m6", "8801822222222", "HELP", choices=[choice("BAL", "BAL", "your balance")], menu="Commands")
    assert Outbound.from_json(msg.to_json()) == msg


def test_a_phone_on_the_device_transport_gets_the_text_form():
    from wa_addon.sealing import sealer
    from wa_addon.settings import Settings
    from wa_addon.transports.device_queue import Leased
    from wa_addon.transports.device_resource import _leased

    msg = Outbound(
        "m7",
        "8801711000000",
        "💳 Balance request #5\nReply ACCEPT 5 or DENY 5",
        choices=[choice("ACCEPT 5", "Accept"), choice("DENY 5", "Deny")],
    )
    wire = _leased(Leased("m7", "lease-1", msg, 0.0), sealer(Settings(hook_secret="x")))
    assert wire["text"] == msg.text and "choices" not in wire and "ACCEPT 5" in wire["text"]
