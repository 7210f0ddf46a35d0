"""Chat grammar: tokens, keywords, amounts, ids, PINs and their redaction.

Digits and phone numbers are :mod:`wa_addon.phones` (hooks and transports read them too).
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from wa_addon.phones import ascii_digits

_AMOUNT = re.compile(r"^(?:tk|৳)?([0-9]{1,9}(?:\.[0-9]{1,2})?)(?:tk|৳|/-|/=)?$", re.IGNORECASE)


def tokenize(text: str) -> list[str]:
    """Split a chat message into tokens, digits made ASCII."""
    return ascii_digits(text or "").split()


def keyword(token: str) -> str:
    """A command keyword, case-insensitive; Bengali in one Unicode form (য় typed either way)."""
    return unicodedata.normalize("NFC", token).upper()


def parse_amount(token: str) -> Decimal | None:
    """A positive amount with at most 2 decimals (``৳৫০``, ``50tk``, ``50.5``), or None."""
    match = _AMOUNT.match(ascii_digits(token).strip())
    if not match:
        return None
    try:
        value = Decimal(match.group(1))
    except InvalidOperation:
        return None
    return value if value > 0 else None


def parse_int(token: str) -> int | None:
    """A non-negative integer id (``#123`` accepted), or None."""
    text = ascii_digits(token).lstrip("#")
    return int(text) if re.fullmatch(r"[0-9]{1,12}", text) else None


def is_pin(token: str) -> bool:
    """Whether a token looks like a PIN (4 to 8 digits)."""
    return bool(re.fullmatch(r"[0-9]{4,8}", ascii_digits(token)))


SECRET_KEYWORDS = frozenset({"PIN"})


def echo(token: str) -> str:
    """A token as a reply, the journal or the audit may repeat it: anything PIN-like hidden."""
    return "****" if is_pin(token) else token


def redact(text: str) -> str:
    """A chat text safe to journal: every PIN-like token (and every argument of PIN) hidden.

    Wherever a PIN was typed (alone, misplaced, twice), it is masked; an
    amount or id of 4 to 8 digits is masked too now and then, never a phone
    number (11 digits and more).
    """
    tokens = tokenize(text)
    if tokens and keyword(tokens[0]) in SECRET_KEYWORDS:
        return " ".join(tokens[:1] + ["****"] * (len(tokens) - 1))
    return " ".join(echo(t) for t in tokens)
