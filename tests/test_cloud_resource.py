"""The /webhooks/cloud resource through falcon.testing, with a fake intake."""

from __future__ import annotations

import logging
from pathlib import Path

import falcon
import falcon.testing
import pytest

from wa_addon import http_errors
from wa_addon.settings import Settings
from wa_addon.store import StoreUnavailable
from wa_addon.testing.cloud_payloads import SIGNATURE_HEADER, dumps, messages_webhook, sign, text
from wa_addon.transports.cloud_resource import CloudWebhook

SECRET = "app-secret-123"
VERIFY = "verify-me"
PATH = "/wa/webhooks/cloud"
UPDATES = Path(__file__).parent / "data" / "updates"


class FakeIntake:
    """Records what the resource submits; can play an unavailable store."""

    def __init__(self) -> None:
        self.calls: list[tuple[list, list]] = []
        self.down = False

    def submit(self, inbound, statuses) -> int:
        if self.down:
            raise StoreUnavailable("redis down")
        self.calls.append((inbound, statuses))
        return len(inbound) + len(statuses)


@pytest.fixture
def intake() -> FakeIntake:
    return FakeIntake()


@pytest.fixture
def client(intake) -> falcon.testing.TestClient:
    settings = Settings(cloud_app_secret=SECRET, cloud_verify_token=VERIFY)
    app = http_errors.install(falcon.App())  # the app wiring: error body, StoreUnavailable -> 503
    app.add_route(PATH, CloudWebhook(settings, intake))
    return falcon.testing.TestClient(app)


def _post(client, raw: bytes, header: str | None = "sign"):
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers[SIGNATURE_HEADER] = sign(SECRET, raw) if header == "sign" else header
    return client.simulate_post(PATH, body=raw, headers=headers)


def test_handshake_ok(client):
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    result = client.simulate_get(PATH, params=params)
    assert result.status_code == 200
    assert result.text == "1158201444"
    assert result.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": "1"},
        {"hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": "ভুল", "hub.challenge": "1"},
    ],
)
def test_handshake_refused(client, params):
    result = client.simulate_get(PATH, params=params)
    assert result.status_code == 403
    assert result.json["error"]["code"] == "bad_verify_token"


def test_handshake_refused_when_no_verify_token_is_configured(intake):
    app = http_errors.install(falcon.App())  # the app wiring: error body, StoreUnavailable -> 503
    app.add_route(PATH, CloudWebhook(Settings(cloud_app_secret=SECRET), intake))
    params = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    assert falcon.testing.TestClient(app).simulate_get(PATH, params=params).status_code == 403


@pytest.mark.parametrize("header", [None, "sha256=" + "0" * 64, "garbage"])
def test_bad_signature(client, intake, header):
    raw = (UPDATES / "text.json").read_bytes()
    result = _post(client, raw, header)
    assert result.status_code == 401
    assert result.json["error"]["code"] == "bad_signature"
    assert intake.calls == []


def test_signature_of_another_body_is_refused(client, intake):
    raw = (UPDATES / "text.json").read_bytes()
    result = _post(client, raw + b" ", sign(SECRET, raw))
    assert result.status_code == 401 and intake.calls == []


def test_batched_body_submits_everything_once(client, intake):
    result = _post(client, (UPDATES / "batched.json").read_bytes())
    assert result.status_code == 200 and result.json == {"ok": True}
    [(inbound, statuses)] = intake.calls
    assert [m.text for m in inbound] == ["BAL", "REQ", "PERM", "RS 1001"]
    assert [s.wa_msg_id for s in statuses] == ["wamid.SENT0001"]


def test_escaped_body_verified_as_received(client, intake):
    result = _post(client, (UPDATES / "text_bengali_escaped.json").read_bytes())
    assert result.status_code == 200
    [msg] = intake.calls[0][0]
    assert msg.text.endswith("১২৩৪ https://example.com/x")


def test_statuses_only_body(client, intake):
    assert _post(client, (UPDATES / "statuses.json").read_bytes()).status_code == 200
    inbound, statuses = intake.calls[0]
    assert inbound == [] and len(statuses) == 3


@pytest.mark.parametrize("raw", [b"not json", b'{"object": "page", "entry": []}'])
def test_signed_but_not_a_webhook_is_400(client, intake, raw):
    result = _post(client, raw)
    assert result.status_code == 400
    assert result.json["error"]["code"] == "bad_payload"
    assert intake.calls == []


def test_store_unavailable_is_503(client, intake):
    intake.down = True
    result = _post(client, (UPDATES / "text.json").read_bytes())
    assert result.status_code == 503
    assert result.json["error"]["code"] == "unavailable"


def test_chat_text_not_logged_at_info(client, caplog):
    raw = dumps(messages_webhook(text("8801711000001", "GP 01712345678 50 1234")))
    with caplog.at_level(logging.DEBUG):
        assert _post(client, raw).status_code == 200
    assert "1 messages" in caplog.text
    assert "01712345678" not in caplog.text and "1234" not in caplog.text
