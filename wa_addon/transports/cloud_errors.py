"""What to do about each Cloud API send error: a table, not nested ifs.

Meta's ``error.code`` in the JSON body decides, not the HTTP status: the same
HTTP 400 carries a pair-rate limit (wait 6 s), a 24-hour-window error (send a
template) or an invalid number (give up).  Codes from Meta's error-code
reference; unknown codes fall back on the HTTP status and ``is_transient``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from wa_addon.transports.base import FAILED, REENGAGE, RETRY


@dataclass(frozen=True)
class ErrorClass:
    """What to do about one Meta error code.

    Attributes:
        outcome: RETRY, FAILED or REENGAGE.
        backoff: seconds to wait before retrying when Meta sends no Retry-After.
        reason: a short description used in the error text.
        credentials: a token / permission problem: Meta's own message is not
            repeated (it may quote token details), only ``reason``.
    """

    outcome: str
    backoff: float | None = None
    reason: str = ""
    credentials: bool = False


AUTH_BACKOFF = 300.0  # long: nothing is lost while an operator fixes the token
DEFAULT_TRANSIENT_BACKOFF = 30.0
MAX_RETRY_AFTER = 86400.0

_AUTH = ErrorClass(RETRY, AUTH_BACKOFF, "access token is invalid or expired: set a new WA_CLOUD_TOKEN", True)
_PERMISSION = ErrorClass(RETRY, AUTH_BACKOFF, "the token lacks WhatsApp permissions for this number", True)

SUPPORTED_ERROR_CODES: dict[int, ErrorClass] = {
    # Transient: rate limits, throughput, temporary server trouble.
    1: ErrorClass(RETRY, 30.0, "unknown API error"),
    2: ErrorClass(RETRY, 30.0, "API service temporarily unavailable"),
    4: ErrorClass(RETRY, 60.0, "app request limit reached"),
    80007: ErrorClass(RETRY, 60.0, "WhatsApp Business Account rate limit"),
    130429: ErrorClass(RETRY, 2.0, "throughput limit reached"),
    131056: ErrorClass(RETRY, 6.0, "pair rate limit: too many messages to this user"),
    131048: ErrorClass(RETRY, 300.0, "spam rate limit"),
    131000: ErrorClass(RETRY, 10.0, "something went wrong at Meta"),
    131016: ErrorClass(RETRY, 30.0, "service unavailable"),
    131057: ErrorClass(RETRY, 120.0, "business account in maintenance mode"),
    133004: ErrorClass(RETRY, 30.0, "server temporarily unavailable"),
    # Operator-fixable account problems: keep retrying slowly, lose nothing.
    0: _AUTH,
    190: _AUTH,
    3: _PERMISSION,
    10: _PERMISSION,
    131005: _PERMISSION,
    131042: ErrorClass(RETRY, AUTH_BACKOFF, "business payment issue"),
    # Outside the 24-hour window: send again as an approved template.
    131047: ErrorClass(REENGAGE, None, "more than 24 hours since the user last wrote"),
    # Permanent for this message: the admin sees it in the failed list.
    100: ErrorClass(FAILED, None, "invalid parameter"),
    131008: ErrorClass(FAILED, None, "required parameter missing"),
    131009: ErrorClass(FAILED, None, "parameter value not valid"),
    131021: ErrorClass(FAILED, None, "recipient is the sender"),
    131026: ErrorClass(FAILED, None, "message undeliverable"),
    131031: ErrorClass(FAILED, None, "business account locked"),
    131049: ErrorClass(FAILED, None, "not delivered to protect the ecosystem"),
    131050: ErrorClass(FAILED, None, "user stopped marketing messages"),
    131051: ErrorClass(FAILED, None, "unsupported message type"),
    131062: ErrorClass(FAILED, None, "this message cannot go to a business-scoped user id"),
    132000: ErrorClass(FAILED, None, "template parameter count mismatch"),
    132001: ErrorClass(FAILED, None, "template does not exist in this language"),
    132005: ErrorClass(FAILED, None, "template text too long"),
    132007: ErrorClass(FAILED, None, "template violates format policy"),
    132012: ErrorClass(FAILED, None, "template parameter format mismatch"),
    132015: ErrorClass(FAILED, None, "template paused"),
    132016: ErrorClass(FAILED, None, "template disabled"),
    133010: ErrorClass(FAILED, None, "phone number not registered"),
    368: ErrorClass(FAILED, None, "temporarily blocked for policy violations"),
}

# Graph API permission errors come as a range (200-299), like code 10.
_RANGES = ((200, 299, _PERMISSION),)


def classify_error(code: int | None, http_status: int, transient: bool = False) -> ErrorClass:
    """The :class:`ErrorClass` for a Meta error code, falling back on HTTP status.

    Args:
        code: Meta's ``error.code``, or None when the body had none.
        http_status: the HTTP status of the response.
        transient: Meta's ``error.is_transient`` flag.

    Returns:
        The table entry; for an unknown code, RETRY when the server is at
        fault (5xx, 429, or no error status at all) or Meta says it is
        transient, else FAILED.
    """
    if code is not None:
        if code in SUPPORTED_ERROR_CODES:
            return SUPPORTED_ERROR_CODES[code]
        for low, high, error_class in _RANGES:
            if low <= code <= high:
                return error_class
    if transient or http_status >= 500 or http_status == 429 or http_status < 400:
        return ErrorClass(RETRY, DEFAULT_TRANSIENT_BACKOFF, f"HTTP {http_status}")
    return ErrorClass(FAILED, None, f"HTTP {http_status}")


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or HTTP date), or None."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value, time.time() if now is None else now)
    # inf/nan or absurd values would stall a lane: keep within a day.
    return min(max(0.0, seconds), MAX_RETRY_AFTER) if math.isfinite(seconds) else None


def _seconds_until(http_date: str, now: float) -> float:
    try:
        return parsedate_to_datetime(http_date.strip()).timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError):
        return math.nan
