"""parse_webhook over recorded Meta payloads and arbitrary input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wa_addon.testing import cloud_payloads as cp
from wa_addon.transports.cloud_webhook import WebhookError, parse_webhook

UPDATES = Path(__file__).parent / "data" / "updates"
BSUID = "BD.13491208655302741918"


def _load(name: str):
    return parse_webhook((UPDATES / name).read_bytes())


def _senders(inbound):
    return [(m.sender, m.user_id, m.name, m.kind, m.text) for m in inbound]


def test_every_recorded_payload_parses():
    files = sorted(UPDATES.glob("*.json"))
    assert len(files) >= 10
    for path in files:
        inbound, statuses = parse_webhook(path.read_bytes())
        assert inbound or statuses, path.name
        assert all(m.transport == "cloud" and m.msg_id for m in inbound)


def test_text():
    inbound, statuses = _load("text.json")
    assert statuses == []
    [msg] = inbound
    assert _senders(inbound) == [("8801711000001", None, "Rahim Uddin", "text", "BAL")]
    assert msg.msg_id.startswith("wamid.") and msg.timestamp == 1749416383


def test_escaped_bengali_is_decoded():
    [msg], _ = _load("text_bengali_escaped.json")
    assert msg.text == "GP 01712345678 ৫০ prepaid ১২৩৪ https://example.com/x"
    assert msg.name == "রহিম উদ্দিন"


def test_button_reply_uses_id():
    [msg], _ = _load("interactive_button_reply.json")
    assert (msg.kind, msg.text, msg.sender) == ("interactive", "ACCEPT 42", "8801811000002")


def test_list_reply_with_empty_id_uses_title():
    [msg], _ = _load("interactive_list_reply.json")
    assert (msg.kind, msg.text) == ("interactive", "OPS GP")


def test_template_quick_reply_uses_payload():
    [msg], _ = _load("button_quick_reply.json")
    assert (msg.kind, msg.text, msg.name) == ("button", "DENY 17", "Admin")


def test_statuses():
    inbound, statuses = _load("statuses.json")
    assert inbound == []
    assert [s.status for s in statuses] == ["sent", "delivered", "read"]
    assert {s.recipient for s in statuses} == {"8801711000001"}
    assert all(s.error is None and s.wa_msg_id.startswith("wamid.") for s in statuses)


def test_failed_status_carries_error():
    _, [status] = _load("status_failed.json")
    assert status.status == "failed"
    assert status.error == "131047 Re-engagement message"
    assert status.recipient == "8801811000002"


def test_batched_walks_every_entry_and_change():
    inbound, statuses = _load("batched.json")
    assert [m.msg_id for m in inbound] == [
        "wamid.BATCH0001",
        "wamid.BATCH0002",
        "wamid.BATCH0003",
        "wamid.BATCH0004",
    ]
    assert [(m.sender, m.name) for m in inbound] == [
        ("8801711000001", "Rahim Uddin"),
        ("8801811000002", "Karim Traders"),
        ("8801711000001", "Rahim Uddin"),
        ("8801911000003", "Admin"),
    ]
    assert [(s.wa_msg_id, s.status) for s in statuses] == [("wamid.SENT0001", "delivered")]


def test_bsuid_only_sender():
    inbound, _ = _load("bsuid_only.json")
    assert _senders(inbound) == [
        ("", BSUID, "Nasrin", "text", "BAL"),
        ("8801711000001", "BD.77000000000000000001", "Rahim Uddin", "text", "REQ"),
    ]


def test_bsuid_from_lone_contact_and_status_recipient_user_id():
    [msg], [status] = _load("bsuid_contact_only.json")
    assert (msg.sender, msg.user_id, msg.name, msg.text) == ("", BSUID, "Nasrin", "help")
    assert status.recipient == BSUID


@pytest.mark.parametrize(("name", "kind"), [("unsupported.json", "unsupported"), ("image.json", "image")])
def test_other_types_have_kind_and_empty_text(name, kind):
    [msg], _ = _load(name)
    assert (msg.kind, msg.text, msg.sender) == (kind, "", "8801711000001")


def test_reactions_and_system_messages_are_ignored():
    body = cp.messages_webhook(
        cp.message("8801711000001", "reaction", {"message_id": "wamid.X", "emoji": "👍"}),
        cp.message("8801711000001", "system", {"body": "changed number", "type": "user_changed_number"}),
        cp.text("8801711000001", "BAL"),
    )
    inbound, _ = parse_webhook(cp.dumps(body))
    assert [m.text for m in inbound] == ["BAL"]


def test_message_without_any_sender_or_id_is_skipped():
    no_sender = cp.text("", "BAL")
    no_id = cp.text("8801711000001", "BAL")
    del no_id["id"]
    body = cp.webhook(cp.entry(cp.value([no_sender, no_id], contacts=[])))
    assert parse_webhook(cp.dumps(body)) == ([], [])


def test_contacts_matched_by_phone_not_position():
    body = cp.webhook(
        cp.entry(
            cp.value(
                [cp.text("8801711000001", "A"), cp.text("8801811000002", "B")],
                contacts=[cp.contact("8801811000002", "Karim"), cp.contact("8801711000001", "Rahim")],
            )
        )
    )
    inbound, _ = parse_webhook(cp.dumps(body))
    assert [(m.text, m.name) for m in inbound] == [("A", "Rahim"), ("B", "Karim")]


def test_lone_contact_for_another_phone_is_not_borrowed():
    body = cp.webhook(cp.entry(cp.value([cp.text("8801711000001", "A")], contacts=[cp.contact("8801999", "X")])))
    [msg], _ = parse_webhook(cp.dumps(body))
    assert msg.name is None


def test_builders_round_trip():
    body = cp.webhook(
        cp.entry(
            cp.value([cp.button_reply("8801711000001", "BAL", "ব্যালেন্স")], names={"8801711000001": "R"}),
            cp.value(statuses=[cp.status("wamid.1", "failed", "8801711000001", error_code=131026, error_title="x")]),
        ),
        cp.entry(cp.value([cp.list_reply("", "PERM", user_id=BSUID), cp.quick_reply("8801811000002", "OK")])),
    )
    inbound, statuses = parse_webhook(cp.dumps(body))
    assert [(m.text, m.kind) for m in inbound] == [
        ("BAL", "interactive"),
        ("PERM", "interactive"),
        ("OK", "button"),
    ]
    assert inbound[0].name == "R" and inbound[1].user_id == BSUID
    assert statuses[0].error == "131026 x"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"null",
        b'{"object": "page", "entry": []}',
        b'{"object": "whatsapp_business_account"}',
        b'{"object": "whatsapp_business_account", "entry": {}}',
        b"[" * 100000,
        b'{"a": 1' + b"0" * 5000 + b"}",
    ],
)
def test_not_a_webhook_raises_webhook_error(raw):
    with pytest.raises(WebhookError):
        parse_webhook(raw)


def test_other_fields_and_junk_items_are_skipped():
    body = {
        "object": "whatsapp_business_account",
        "entry": [1, None, {"changes": [{"field": "account_update"}]}],
    }
    assert parse_webhook(json.dumps(body).encode()) == ([], [])


# -- property tests: nothing but WebhookError, whatever comes in -------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=30,
)


def _maybe(value):
    return st.one_of(st.just(value), _json)


_message = st.fixed_dictionaries(
    {},
    optional={
        "from": _maybe("8801711000001"),
        "from_user_id": _maybe(BSUID),
        "id": _maybe("wamid.1"),
        "timestamp": _maybe("1749416383"),
        "type": st.one_of(st.sampled_from(["text", "interactive", "button", "image", "system"]), _json),
        "text": _maybe({"body": "BAL"}),
        "interactive": _maybe({"type": "button_reply", "button_reply": {"id": "X", "title": "Y"}}),
        "button": _maybe({"payload": "P", "text": "T"}),
    },
)
_contact = st.fixed_dictionaries(
    {},
    optional={"wa_id": _maybe("8801711000001"), "user_id": _maybe(BSUID), "profile": _maybe({"name": "N"})},
)
_status = st.fixed_dictionaries(
    {},
    optional={
        "id": _maybe("wamid.2"),
        "status": _maybe("failed"),
        "recipient_id": _maybe("8801711000001"),
        "recipient_user_id": _maybe(BSUID),
        "timestamp": _maybe("1"),
        "errors": _maybe([{"code": 131047, "title": "Re-engagement message"}]),
    },
)
_value = st.fixed_dictionaries(
    {},
    optional={
        "contacts": st.one_of(st.lists(_contact, max_size=3), _json),
        "messages": st.one_of(st.lists(_message, max_size=3), _json),
        "statuses": st.one_of(st.lists(_status, max_size=3), _json),
        "errors": _json,
    },
)
_change = st.fixed_dictionaries({"value": st.one_of(_value, _json)}, optional={"field": _maybe("messages")})
_entry = st.fixed_dictionaries({}, optional={"id": _json, "changes": st.one_of(st.lists(_change, max_size=3), _json)})
_webhook = st.fixed_dictionaries(
    {"object": _maybe("whatsapp_business_account"), "entry": st.one_of(st.lists(_entry, max_size=3), _json)}
)


def _parse_or_webhook_error(raw: bytes) -> None:
    try:
        inbound, statuses = parse_webhook(raw)
    except WebhookError:
        return
    for msg in inbound:
        assert isinstance(msg.text, str) and isinstance(msg.sender, str) and msg.msg_id
        assert msg.sender or msg.user_id
        msg.to_json()  # serialisable for the queue
    for status in statuses:
        status.to_json()


@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw):
    _parse_or_webhook_error(raw)


@given(_json)
def test_arbitrary_json(value):
    _parse_or_webhook_error(json.dumps(value).encode())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_webhook)
def test_near_valid_webhooks(payload):
    _parse_or_webhook_error(cp.dumps(payload))
