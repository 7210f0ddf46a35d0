"""Chat grammar: digits, tokens, phone numbers and amounts.

Shop owners type Bengali digits (০–৯), local numbers (01XXXXXXXXX) and
international ones (+8801..., 8801...) interchangeably; all are accepted
wherever a number is.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

import phonenumbers

# Bengali and Arabic-Indic digits to ASCII.
_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯٠١٢٣٤٥٦٧٨٩", "0123456789" * 2)
_AMOUNT = re.compile(r"^(?:tk|৳)?([0-9]{1,9}(?:\.[0-9]{1,2})?)(?:tk|৳|/-|/=)?$", re.IGNORECASE)


def ascii_digits(text: str) -> str:
    """``"BAL ১২৩"`` -> ``"BAL 123"``."""
    return text.translate(_DIGITS)


def tokenize(text: str) -> list[str]:
    """Split a chat message into tokens, digits made ASCII."""
    return ascii_digits(text or "").split()


def keyword(token: str) -> str:
    """A command keyword, case-insensitive; Bengali in one Unicode form (য় typed either way)."""
    return unicodedata.normalize("NFC", token).upper()


def parse_phone(token: str, region: str = "BD") -> str | None:
    """E.164 digits without ``+`` (``8801712345678``), or None if not a valid number."""
    text = ascii_digits(token).strip()
    if not re.fullmatch(r"\+?[0-9\- ]{6,20}", text):
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    elif not text.startswith("+") and len(re.sub(r"\D", "", text)) > 11:
        text = "+" + text  # 8801712345678: international without the plus
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


def national(e164: str, region: str = "BD") -> str:
    """The local form of an E.164 number: ``8801712345678`` -> ``01712345678``."""
    number = phonenumbers.parse("+" + e164, region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL).replace(" ", "").replace(
        "-", ""
    )


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
