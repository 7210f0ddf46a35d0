"""Phone numbers and digits, used by commands, hooks and transports alike.

Shop owners type Bengali digits (০–৯), local numbers (01XXXXXXXXX) and
international ones (+8801..., 8801...) interchangeably; all are accepted
wherever a number is.
"""

from __future__ import annotations

import re

import phonenumbers

# Bengali and Arabic-Indic digits to ASCII.
_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯٠١٢٣٤٥٦٧٨٩", "0123456789" * 2)


def ascii_digits(text: str) -> str:
    """``"BAL ১২৩"`` -> ``"BAL 123"``."""
    return text.translate(_DIGITS)


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
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL).replace(" ", "").replace("-", "")
