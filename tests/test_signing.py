"""Hook signatures (sign / verify) and the sandbox's HookSender delivering signed hooks."""

from __future__ import annotations

import json
import threading

import pytest

from wa_addon.hooks.signing import SignatureError, sign, verify
from wa_addon.sandbox import SandboxDB, seed
from wa_addon.sandbox.hooksender import HookSender, envelope, outcome
from wa_addon.testing.wsgi_server import serve_in_thread

SECRET = "hook-secret"
BODY = b'{"id":"evt_1","type":"request.created","data":{}}'
NOW = 1_767_225_600


def test_good_signature_verifies():
    verify(SECRET, BODY, sign(SECRET, BODY, now=NOW), now=NOW)


def test_signature_format():
    header = sign(SECRET, BODY, now=NOW)
    t, v1 = header.split(",")
    assert t == f"t={NOW}" and v1.startswith("v1=") and len(v1) == 3 + 64


@pytest.mark.parametrize("body", [BODY + b" ", BODY.replace(b"created", b"updated"), b""])
def test_tampered_body_is_refused(body):
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, body, sign(SECRET, BODY, now=NOW), now=NOW)


def test_wrong_secret_is_refused():
    with pytest.raises(SignatureError, match="does not match"):
        verify("other", BODY, sign(SECRET, BODY, now=NOW), now=NOW)


def test_timestamp_is_part_of_the_signature():
    forged = sign(SECRET, BODY, now=NOW).replace(f"t={NOW}", f"t={NOW + 10}")
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, BODY, forged, now=NOW)


@pytest.mark.parametrize("skew", [301, -301, 10_000])
def test_stale_or_future_timestamp_is_refused(skew):
    with pytest.raises(SignatureError, match="tolerance"):
        verify(SECRET, BODY, sign(SECRET, BODY, now=NOW), now=NOW + skew)


@pytest.mark.parametrize("skew", [300, -300, 0])
def test_timestamp_within_tolerance_is_accepted(skew):
    verify(SECRET, BODY, sign(SECRET, BODY, now=NOW), now=NOW + skew)


def test_custom_tolerance():
    with pytest.raises(SignatureError):
        verify(SECRET, BODY, sign(SECRET, BODY, now=NOW), now=NOW + 11, tolerance=10)


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", "t=abc,v1=00", "v1=00", f"t={NOW}", f"t={NOW},v1", f"t={NOW};v1=00", "t=-5,v1=00"],
)
def test_malformed_header_is_refused(header):
    with pytest.raises(SignatureError) as info:
        verify(SECRET, BODY, header, now=NOW)
    assert info.value.reason in ("missing signature header", "malformed signature header")


def test_non_ascii_signature_is_refused_not_crashing():
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, BODY, f"t={NOW},v1=ä" + "0" * 63, now=NOW)


def test_rotation_accepts_any_listed_signature():
    old = sign("old-secret", BODY, now=NOW)
    new_v1 = sign("new-secret", BODY, now=NOW).split(",")[1]
    header = f"{old},{new_v1}"
    verify("new-secret", BODY, header, now=NOW)
    verify("old-secret", BODY, header, now=NOW)
    with pytest.raises(SignatureError):
        verify("third-secret", BODY, header, now=NOW)


def test_unknown_parts_are_ignored():
    verify(SECRET, BODY, sign(SECRET, BODY, now=NOW) + ",v0=legacy", now=NOW)


def test_error_messages_carry_no_secret():
    with pytest.raises(SignatureError) as info:
        verify(SECRET, BODY, "t=1,v1=00", now=NOW)
    assert SECRET not in str(info.value)


# --- HookSender ------------------------------------------------------------------


class Receiver:
    """A WSGI app that checks signatures, answers a scripted list of statuses and records bodies."""

    def __init__(self, statuses: list[int]):
        self.statuses = statuses
        self.received: list[dict] = []
        self.attempts = 0
        self.bad_signatures = 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        with self.lock:
            self.attempts += 1
            status = self.statuses.pop(0) if self.statuses else 200
            try:
                verify(SECRET, body, environ.get("HTTP_X_WA_SIGNATURE"))
            except SignatureError:
                self.bad_signatures += 1
            if 200 <= status < 300:
                self.received.append(json.loads(body))
        start_response(f"{status} X", [("Content-Type", "application/json")])
        return [b'{"error": {"code": "x", "message": "scripted"}}']


@pytest.fixture
def receiver():
    holder = {}

    def start(statuses):
        rec = Receiver(statuses)
        url, stop = serve_in_thread(rec)
        holder["stop"] = stop
        return rec, url + "/wa/hooks"

    yield start
    if "stop" in holder:
        holder["stop"]()


def _sender(url):
    return HookSender(url, SECRET, base_delay=0.01, max_delay=0.05, timeout=5)


def test_envelope_shape():
    env = envelope("balance.added", {"amount": "10.00"})
    assert env["id"].startswith("evt_") and len(env["id"]) == 4 + 32
    assert env["type"] == "balance.added" and env["data"] == {"amount": "10.00"}
    assert env["created_at"].endswith("Z")


@pytest.mark.parametrize(
    ("status", "want"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (409, "delivered"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
        (400, "give_up"),
        (401, "give_up"),
        (404, "give_up"),
    ],
)
def test_outcome_of_status(status, want):
    assert outcome(status) == want


def test_sender_delivers_signed_events_in_order(receiver):
    rec, url = receiver([])
    sender = _sender(url)
    for i in range(5):
        sender("message.send", {"n": i})
    assert sender.join(timeout=10)
    sender.close()
    assert [e["data"]["n"] for e in rec.received] == [0, 1, 2, 3, 4]
    assert rec.bad_signatures == 0
    assert len({e["id"] for e in rec.received}) == 5


def test_sender_retries_5xx_and_429_until_delivered(receiver):
    rec, url = receiver([500, 503, 429, 200])
    sender = _sender(url)
    sender("request.created", {"id": 1})
    assert sender.join(timeout=10)
    sender.close()
    assert rec.attempts == 4 and len(rec.received) == 1 and rec.bad_signatures == 0


def test_sender_gives_up_on_4xx_and_goes_on(receiver, caplog):
    rec, url = receiver([400, 200])
    sender = _sender(url)
    sender("reseller.reset", {"password": "s3cret-pass", "pin": "9876"})
    sender("request.created", {"id": 2})
    assert sender.join(timeout=10)
    sender.close()
    assert rec.attempts == 2 and [e["type"] for e in rec.received] == ["request.created"]
    assert "giving up" in caplog.text
    assert "s3cret-pass" not in caplog.text and "9876" not in caplog.text and SECRET not in caplog.text


def test_sender_treats_409_as_delivered(receiver):
    rec, url = receiver([409])
    sender = _sender(url)
    sender("request.created", {"id": 3})
    assert sender.join(timeout=10)
    sender.close()
    assert rec.attempts == 1


def test_sender_retries_while_the_addon_is_down(receiver):
    rec, url = receiver([])
    sender = _sender("http://127.0.0.1:9/wa/hooks")  # nothing listens on the discard port
    sender("request.created", {"id": 4})
    assert not sender.join(timeout=0.2)  # still retrying, not dropped
    sender.url = url  # the add-on comes up
    assert sender.join(timeout=10)
    sender.close()
    assert len(rec.received) == 1


def test_sandbox_events_reach_the_addon_signed(receiver, tmp_path):
    rec, url = receiver([])
    sender = _sender(url)
    db = SandboxDB(str(tmp_path / "h.sqlite3"), on_event=sender, kdf_cost=4)
    seed(db)
    db.add_balance(to="retail1", amount="50", actor=2, idem_key="k1")
    assert sender.join(timeout=10)
    sender.close()
    (event,) = rec.received
    assert event["type"] == "balance.added" and event["data"]["balance"] == "2550.00"
    assert rec.bad_signatures == 0
