"""Reply buttons and list messages on the Cloud API: Meta's limits kept, the text form elsewhere."""

from __future__ import annotations

from wa_addon.messages import Outbound
from wa_addon.render import choice
from wa_addon.testing.fake_graph import _invalid_interactive
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


def test_an_id_is_never_cut_and_nothing_repeats_or_it_goes_as_text():
    long_id = "COMPLETE " + "9" * 300  # cut, a tap would send back another command
    cases = [
        [choice(long_id, "Complete"), choice("CANCEL 9", "Cancel")],
        [choice("ACCEPT 5", "Accept"), choice("ACCEPT 5", "Accept again")],  # two taps, one command
        [choice("PKG A", "A very long package title one"), choice("PKG B", "A very long package title two")],
    ]
    for choices in cases:  # the third: titles that are one once shortened to 20 characters
        assert build_body(Outbound("m8", "8801711000000", "pick", choices=choices))["type"] == "text"
    rows = [choice("PKG " + "X" * 200, "X"), choice("PKG Y", "Y")]
    assert build_body(Outbound("m9", "8801822222222", "pick", choices=rows, menu="Packages"))["type"] == "text"
    twice = [choice("PKG Y", "Y"), choice("PKG Y", "Y2")]
    assert build_body(Outbound("m10", "8801822222222", "pick", choices=twice, menu="Packages"))["type"] == "text"


def test_the_fake_graph_refuses_what_meta_refuses():
    def buttons(*pairs):
        return {"type": "button", "body": {"text": "t"}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": i, "title": t}} for i, t in pairs
        ]}}  # fmt: skip

    def listed(rows, section="Packages"):
        return {"type": "list", "body": {"text": "t"}, "action": {"button": "Packages", "sections": [
            {"title": section, "rows": [{"id": i, "title": t} for i, t in rows]}
        ]}}  # fmt: skip

    assert _invalid_interactive(buttons(("A", "Yes"), ("B", "No"))) == ""
    assert _invalid_interactive(buttons(("A", "Yes"), ("B", "Yes")))  # titles repeat
    assert _invalid_interactive(buttons(("A", "Yes"), ("A", "No")))  # ids repeat
    assert _invalid_interactive(buttons(("A" * 257, "Yes")))
    assert _invalid_interactive(listed([("A", "a"), ("B", "b")])) == ""
    assert _invalid_interactive(listed([("A", "a"), ("A", "b")]))
    assert _invalid_interactive(listed([("A" * 201, "a")]))
    assert _invalid_interactive(listed([("A", "a")], section="x" * 25))
    for built in (
        build_body(Outbound("m", "1", "t", choices=[choice("ACCEPT 5", "Accept"), choice("DENY 5", "Deny")])),
        build_body(Outbound("m", "1", "t", choices=[choice(f"PKG {i}", "x" * 30) for i in range(12)], menu="y" * 30)),
    ):
        assert _invalid_interactive(built["interactive"]) == ""  # what we build, the fake takes


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


def test_help_and_the_package_list_fit_a_list_message_for_everyone_in_both_languages(chat):
    from conftest import ADMIN, DEALER1, RETAIL1

    for lang in ("bn", "en"):
        for who in (ADMIN, DEALER1, RETAIL1):  # the admin's commands, and a reseller with every service
            if who != ADMIN:
                chat.reply(who, f"LANG {lang}")
            else:
                chat.configure(default_language=lang)
            for text in ("HELP", "PKGS GP") if who != ADMIN else ("HELP",):
                (out,) = chat.send(who, text)
                body = build_body(out)
                assert body["type"] == "interactive" and body["interactive"]["type"] == "list", (who, lang, text)
                assert _invalid_interactive(body["interactive"]) == ""
