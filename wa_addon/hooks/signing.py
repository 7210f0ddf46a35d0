"""Signatures on host → add-on hooks (``X-WA-Signature``).

The header is ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>``.
Several ``v1=`` values may be present so a host can sign with an old and a
new secret while the secret is rotated; one match is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

HEADER = "X-WA-Signature"
TOLERANCE = 300  # seconds either way; an older signature could be a replay
# ASCII digits only ("²".isdigit() is True, and int() refuses it), and few of them
# (int() refuses more than 4,300 digits): anything else is malformed, never a 500.
_TIMESTAMP = re.compile(r"[0-9]{1,15}")


class SignatureError(Exception):
    """The signature header is missing, malformed, stale or wrong; ``reason`` says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, now: int | None = None) -> str:
    """The ``X-WA-Signature`` value for ``body`` signed at ``now`` (default: the current time)."""
    timestamp = int(time.time()) if now is None else int(now)
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def parse(header: str | None) -> tuple[int, list[str]]:
    """The timestamp and the ``v1`` signatures of a header; ``SignatureError`` if malformed."""
    if not header:
        raise SignatureError("missing signature header")
    timestamp, signatures = None, []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed signature header")
        if name == "t":
            timestamp = value
        elif name == "v1":
            signatures.append(value.lower())
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp) or not signatures:
        raise SignatureError("malformed signature header")
    return int(timestamp), signatures


def verify(secret: str, body: bytes, header: str | None, now: int | None = None, tolerance: int = TOLERANCE) -> None:
    """Check ``header`` against ``body``; raises :class:`SignatureError` unless it is good.

    Args:
        secret: the shared hook secret.
        body: the raw request body, exactly as received.
        header: the ``X-WA-Signature`` value.
        now: the current unix time (injectable for tests).
        tolerance: how many seconds the timestamp may be off, either way.
    """
    timestamp, signatures = parse(header)
    current = int(time.time()) if now is None else int(now)
    if abs(current - timestamp) > tolerance:
        raise SignatureError("timestamp outside the tolerance")
    expected = _digest(secret, timestamp, body).encode()
    # Bytes, because compare_digest refuses non-ASCII str; every candidate is checked, no early exit.
    matches = [hmac.compare_digest(expected, candidate.encode()) for candidate in signatures]
    if not any(matches):
        raise SignatureError("signature does not match")
