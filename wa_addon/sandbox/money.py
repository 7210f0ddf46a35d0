"""Money as integer paisa inside the sandbox, decimal strings ("1250.00") outside.

Integers keep sums exact; the strings are what the REST API carries.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from wa_addon.host import HostError

# Larger than any balance a recharge panel holds; keeps SQLite integers far from overflow.
MAX_PAISA = 10**13


def to_paisa(value: object, *, field: str = "amount") -> int:
    """Parse a positive amount with at most two decimal places.

    Args:
        value: a decimal string ("100", "99.5", "1250.00") or a JSON number.
        field: the field name used in the error message.

    Raises:
        HostError: ``invalid`` when the value is not such an amount.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _bad(field)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _bad(field) from None
    if not amount.is_finite() or amount <= 0 or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise _bad(field)
    paisa = int(amount * 100)
    if paisa > MAX_PAISA:
        raise _bad(field)
    return paisa


def fmt(paisa: int) -> str:
    """Format paisa as a decimal string with two places ("-5.00", "1250.50")."""
    sign = "-" if paisa < 0 else ""
    whole, cents = divmod(abs(paisa), 100)
    return f"{sign}{whole}.{cents:02d}"


def _bad(field: str) -> HostError:
    return HostError("invalid", f"{field} must be a positive amount with at most 2 decimal places", 400)
