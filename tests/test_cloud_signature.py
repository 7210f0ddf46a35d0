"""X-Hub-Signature-256 checks over the raw webhook bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wa_addon.testing.cloud_payloads import dumps, messages_webhook, sign, text
from wa_addon.transports.cloud_webhook import signature_header, verify_signature

SECRET = "app-secret-123"
UPDATES = Path(__file__).parent / "data" / "updates"


@pytest.fixture
def raw() -> bytes:
    # Exactly as Meta sends it: \uXXXX escapes and \/ in the URL.
    return (UPDATES / "text_bengali_escaped.json").read_bytes()


def test_good_signature_over_raw_bytes(raw):
    assert "\\u09" in raw.decode() and "\\/" in raw.decode()
    assert verify_signature(SECRET, raw, sign(SECRET, raw))


def test_uppercase_hex_and_spaces_accepted(raw):
    header = "sha256=" + sign(SECRET, raw).split("=", 1)[1].upper()
    assert verify_signature(SECRET, raw, f"  {header} ")


def test_builder_body_verifies():
    body = dumps(messages_webhook(text("8801711000001", "BAL ১২৩৪ a/b")))
    assert b"\\/" in body and b"\\u09" in body
    assert verify_signature(SECRET, body, signature_header(SECRET, body))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha256",
        "sha1=" + "0" * 40,
        "sha256=" + "z" * 64,
        "sha256=" + "0" * 63,
        "sha256=" + "0" * 65,
        "0" * 64,
        "sha256=é" + "0" * 63,
    ],
)
def test_malformed_headers_rejected(raw, header):
    assert verify_signature(SECRET, raw, header) is False


def test_wrong_secret_rejected(raw):
    assert not verify_signature(SECRET, raw, sign("other-secret", raw))


def test_tampered_body_rejected(raw):
    assert not verify_signature(SECRET, raw.replace(b"BAL", b"BAK") + b" ", sign(SECRET, raw))


def test_empty_secret_never_verifies(raw):
    assert not verify_signature("", raw, sign("", raw))


@given(header=st.one_of(st.none(), st.text()), body=st.binary(max_size=200))
def test_any_header_never_raises(header, body):
    assert verify_signature(SECRET, body, header) in (True, False)
