"""The hook door: envelope checks, signature refusals, dedupe, 503 on Redis down, emit()."""

from __future__ import annotations

import json

import pytest
from falcon import testing
from helpers import payloads

from wa_addon.app import Addon, create_app
from wa_addon.hooks import events
from wa_addon.hooks.events import Event, EventError
from wa_addon.hooks.signing import HEADER, sign
from wa_addon.host.http import HttpHost
from wa_addon.runtime import EVENT_LANE, Runtime
from wa_addon.settings import Settings

SECRET = "hook-secret"
UNUSED_HOST = HttpHost("http://127.0.0.1:9", "unused")  # intake never asks the host


def envelope(type="request.created", data=None, event_id="evt_1", created_at="2025-01-31T10:00:00Z"):
    data = {"id": 12, "reseller_id": 3, "status": "pending"} if data is None else data
    return {"id": event_id, "type": type, "created_at": created_at, "data": data}


def body(obj) -> bytes:
    return json.dumps(obj).encode()


@pytest.fixture
def rt(redis_url, namespace):
    settings = Settings(redis_url=redis_url, namespace=namespace, hook_secret=SECRET)
    runtime = Runtime(settings, UNUSED_HOST)
    yield runtime
    runtime.close()


@pytest.fixture
def client(rt):
    return testing.TestClient(create_app(rt.settings, UNUSED_HOST, runtime=rt))


def post(client, raw: bytes, header: str | None = "sign"):
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers[HEADER] = sign(SECRET, raw) if header == "sign" else header
    return client.simulate_post("/hooks", body=raw, headers=headers)


def queued(rt) -> list[Event]:
    return [Event.from_json(r) for r in payloads(rt, EVENT_LANE)]


# -- the envelope -------------------------------------------------------------


def test_a_good_envelope_parses():
    event = events.parse(body(envelope()))
    assert (event.id, event.type, event.data["id"], event.order_key) == ("evt_1", "request.created", 12, "reseller:3")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", "bad_json"),
        (b"[1, 2]", "bad_envelope"),
        (body({**envelope(), "id": ""}), "bad_envelope"),
        (body({**envelope(), "id": "evt with spaces"}), "bad_envelope"),
        (body({**envelope(), "created_at": "yesterday"}), "bad_envelope"),
        (body({**envelope(), "data": []}), "bad_envelope"),
        (body(envelope(type="request.exploded")), "unknown_type"),
        (body(envelope(data={"id": 12})), "bad_data"),
        (body(envelope(type="request.updated", data={"id": 1, "reseller_id": 3, "status": "teleported"})), "bad_data"),
        (body(envelope(type="balance.added", data={"reseller_id": 3, "amount": True, "balance": "1"})), "bad_data"),
        (body(envelope(type="message.send", data={"phone": "not a phone", "text": "hi"})), "bad_data"),
        (body(envelope(type="otp.requested", data={"phone": "01711000000", "expires_in": "ten minutes"})), "bad_data"),
        (body(envelope(type="otp.requested", data={"phone": "01711000000", "expires_in": True})), "bad_data"),
        (
            body(envelope(type="balance_request.updated", data={"id": 1, "reseller_id": 3, "status": "deciding"})),
            "bad_data",
        ),  # the add-on's own state while an admin decides, never the host's word
    ],
)
def test_a_bad_envelope_is_refused_with_a_code(raw, code):
    with pytest.raises(EventError) as err:
        events.parse(raw)
    assert err.value.code == code


def test_phones_are_normalised_and_order_by_phone():
    event = events.parse(body(envelope(type="otp.requested", data={"phone": "01711-000000"})))
    assert event.data["phone"] == "8801711000000"
    assert event.order_key == "phone:8801711000000"


@pytest.mark.parametrize("expires_in", [600, 600.0, "600", " 600 "])
def test_an_otp_lifetime_is_read_as_whole_seconds(expires_in):
    data = {"phone": "01711000000", "code": "4711", "expires_in": expires_in}
    assert events.parse(body(envelope(type="otp.requested", data=data))).data["expires_in"] == 600


def test_every_balance_request_status_of_the_docs_is_taken():
    for status in ("pending", "approved", "denied", "expired"):
        data = {"id": 1, "reseller_id": 3, "status": status}
        assert events.parse(body(envelope(type="balance_request.updated", data=data))).data["status"] == status


def test_every_event_type_has_a_handler():
    from wa_addon.hooks.notify import HANDLERS

    assert set(HANDLERS) == set(events.EVENT_TYPES)


# -- the HTTP door --------------------------------------------------------------


def test_a_signed_event_is_taken_and_queued(client, rt):
    resp = post(client, body(envelope()))
    assert resp.status_code == 200
    assert resp.json == {"ok": True, "id": "evt_1"}
    assert [e.id for e in queued(rt)] == ["evt_1"]
    announced = rt.conn.lrange(rt.keys.ready("lo"), 0, -1)  # for a worker's session to take
    assert [a.decode().split("|")[0] for a in announced] == [EVENT_LANE]


def test_the_same_event_id_twice_is_taken_once(client, rt):
    first = post(client, body(envelope()))
    again = post(client, body(envelope(data={"id": 12, "reseller_id": 3, "status": "pending", "retry": 1})))
    assert (first.status_code, again.status_code) == (200, 200)
    assert len(queued(rt)) == 1


@pytest.mark.parametrize("header", [None, "t=1,v1=00", "garbage", f"t=1,v1={'0' * 64}"])
def test_a_missing_or_wrong_signature_is_refused(client, rt, header):
    resp = post(client, body(envelope()), header=header)
    assert resp.status_code == 401
    assert resp.json["error"]["code"] == "bad_signature"
    assert queued(rt) == []


@pytest.mark.parametrize("timestamp", ["\u00b2", "\u0661\u0662", "9" * 5000])
def test_a_timestamp_that_is_not_ascii_digits_is_a_json_401(client, rt, timestamp):
    # All pass str.isdigit(): "²" and 5,000 digits made int() raise (a 500), "١٢" was read as 12.
    resp = post(client, body(envelope()), header=f"t={timestamp},v1={'0' * 64}")
    assert resp.status_code == 401
    assert resp.json["error"] == {"code": "bad_signature", "message": "malformed signature header"}
    assert queued(rt) == []


def test_a_stale_signature_is_refused(client, rt):
    raw = body(envelope())
    old = sign(SECRET, raw, now=int(rt.conn.time()[0]) - 301)
    resp = post(client, raw, header=old)
    assert resp.status_code == 401
    assert "tolerance" in resp.json["error"]["message"]


def test_a_signature_over_another_body_is_refused(client, rt):
    resp = post(client, body(envelope(event_id="evt_2")), header=sign(SECRET, body(envelope())))
    assert resp.status_code == 401


def test_no_hook_secret_refuses_everything(redis_url, namespace):
    runtime = Runtime(Settings(redis_url=redis_url, namespace=namespace), UNUSED_HOST)
    client = testing.TestClient(create_app(runtime.settings, UNUSED_HOST, runtime=runtime))
    raw = body(envelope())
    resp = client.simulate_post("/hooks", body=raw, headers={HEADER: sign("", raw)})
    assert resp.status_code == 401


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{", "bad_json"),
        (body(envelope(type="nope")), "unknown_type"),
        (body(envelope(data={})), "bad_data"),
    ],
)
def test_bad_bodies_get_400_with_a_json_error(client, raw, code):
    resp = post(client, raw)
    assert resp.status_code == 400
    assert resp.json["error"]["code"] == code and resp.json["error"]["message"]


def added(amount, balance="800.00") -> dict:
    return envelope(type="balance.added", data={"reseller_id": 3, "amount": amount, "balance": balance})


@pytest.mark.parametrize(
    ("amount", "balance"),
    [
        ("NaN", "800.00"),
        ("-500", "800.00"),
        ("1e308", "800.00"),
        ("lots", "800.00"),
        ("0", "800.00"),
        (1e308, "800.00"),
        ("Infinity", "800.00"),
        ("300.00", "NaN"),
        ("300.00", "-1"),
        ("300.00", "snow"),
    ],
)
def test_a_signed_balance_added_with_a_sum_that_is_not_money_is_refused(client, rt, amount, balance):
    resp = post(client, body(added(amount, balance)))  # before: 200 and "৳NaN added" to the reseller
    assert resp.status_code == 400 and resp.json["error"]["code"] == "bad_data"
    assert queued(rt) == []


@pytest.mark.parametrize(
    ("type", "data"),
    [
        ("request.updated", {"id": 1, "reseller_id": 3, "status": "success", "amount": "NaN"}),
        ("request.created", {"id": 1, "reseller_id": 3, "balance_after": "-5"}),
        ("balance_request.created", {"id": 1, "reseller_id": 3, "amount": [50]}),
    ],
)
def test_optional_sums_shown_to_a_reseller_are_checked_too(client, rt, type, data):
    resp = post(client, body(envelope(type=type, data=data)))
    assert resp.status_code == 400 and resp.json["error"]["code"] == "bad_data"


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_json_nan_and_infinity_literals_are_refused(client, rt, literal):
    raw = body(added("300.00")).replace(b'"300.00"', literal)
    resp = post(client, raw)
    assert resp.status_code == 400 and resp.json["error"]["code"] == "bad_json"
    assert queued(rt) == []


def test_real_sums_still_pass(client, rt):
    for amount, balance in (("300.00", "0"), (300, 800.5), ("99.5", "1250.00")):
        assert post(client, body(added(amount, balance) | {"id": f"evt_{amount}"})).status_code == 200
    assert len(queued(rt)) == 3


def test_a_huge_body_is_refused(client):
    resp = post(client, b"{" + b" " * 300_000 + b"}")
    assert resp.status_code == 413


def test_redis_down_answers_503_so_the_host_retries(namespace):
    dead = Settings(redis_url="redis://127.0.0.1:1/0", namespace=namespace, hook_secret=SECRET)
    runtime = Runtime(dead, UNUSED_HOST)
    client = testing.TestClient(create_app(dead, UNUSED_HOST, runtime=runtime))
    resp = post(client, body(envelope()))
    assert resp.status_code == 503
    assert resp.json["error"]["code"] == "unavailable"


# -- emit() for Python hosts ------------------------------------------------------


def test_emit_runs_the_same_intake(rt):
    addon = Addon(rt.settings, UNUSED_HOST, runtime=rt)
    addon.emit("message.send", {"phone": "+8801711000000", "text": "hello"})
    (event,) = queued(rt)
    assert event.id.startswith("evt_") and event.type == "message.send"
    assert event.data == {"phone": "8801711000000", "text": "hello"}
    with pytest.raises(EventError):
        addon.emit("message.send", {"text": "no phone"})
    with pytest.raises(EventError):
        addon.emit("no.such.event", {})
