"""Services, operators and packages: what the sandbox sells, and number rules.

Service kinds and the numbers they take:

- ``recharge`` / ``mobile_banking``: a Bangladeshi mobile number, accepted as
  ``01XXXXXXXXX``, ``8801XXXXXXXXX`` or ``+8801XXXXXXXXX``, stored as E.164
  digits (``8801XXXXXXXXX``).  Operator prefixes (``017``) match its local form.
- ``custom``: an account / meter number, 6 to 20 digits.
- ``country``: an international number, 8 to 15 digits.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from wa_addon.sandbox.money import fmt
from wa_addon.sandbox.tx import Tx, invalid

_BD_MOBILE = re.compile(r"^(?:\+?88)?(01[3-9]\d{8})$")


def service_json(row: sqlite3.Row) -> dict[str, Any]:
    """The REST shape of a service."""
    return {
        "code": row["code"],
        "name": row["name"],
        "kind": row["kind"],
        "min_amount": fmt(row["min_amount"]),
        "max_amount": fmt(row["max_amount"]),
        "types": json.loads(row["types"]),
        "country": row["country"],
    }


def operator_json(row: sqlite3.Row) -> dict[str, Any]:
    """The REST shape of an operator; limits map a type to [min, max]."""
    limits = json.loads(row["limits"])
    return {
        "code": row["code"],
        "name": row["name"],
        "service": row["service"],
        "prefixes": json.loads(row["prefixes"]),
        "limits": {t: [fmt(lo), fmt(hi)] for t, (lo, hi) in limits.items()},
    }


def package_json(row: sqlite3.Row) -> dict[str, Any]:
    """The REST shape of a package."""
    return {
        "code": row["code"],
        "operator": row["operator"],
        "name": row["name"],
        "price": fmt(row["price"]),
        "validity": row["validity"],
    }


def services(tx: Tx, *, reseller_id: int | None = None) -> list[dict[str, Any]]:
    """All services, or only those a reseller is permitted."""
    if reseller_id is None:
        rows = tx.all("SELECT * FROM services ORDER BY position, code")
    else:
        rows = tx.all(
            "SELECT s.* FROM services s JOIN permissions p ON p.service = s.code"
            " WHERE p.reseller_id = ? ORDER BY s.position, s.code",
            (reseller_id,),
        )
    return [service_json(r) for r in rows]


def operators(tx: Tx, *, service: str | None = None) -> list[dict[str, Any]]:
    """Operators, optionally of one service."""
    if service is None:
        rows = tx.all("SELECT * FROM operators ORDER BY service, code")
    else:
        rows = tx.all("SELECT * FROM operators WHERE service = ? ORDER BY code", (service.upper(),))
    return [operator_json(r) for r in rows]


def packages(tx: Tx, *, operator: str | None = None) -> list[dict[str, Any]]:
    """Packages, optionally of one operator."""
    if operator is None:
        rows = tx.all("SELECT * FROM packages ORDER BY operator, code")
    else:
        rows = tx.all("SELECT * FROM packages WHERE operator = ? ORDER BY code", (operator.upper(),))
    return [package_json(r) for r in rows]


def find_service(tx: Tx, code: str) -> sqlite3.Row:
    """A service row by code; ``invalid`` when there is none."""
    row = tx.one("SELECT * FROM services WHERE code = ?", (str(code).upper(),))
    if row is None:
        raise invalid(f"unknown service {code!r}")
    return row


def find_package(tx: Tx, code: str) -> sqlite3.Row:
    """A package row by code; ``invalid`` when there is none."""
    row = tx.one("SELECT * FROM packages WHERE code = ?", (str(code).upper(),))
    if row is None:
        raise invalid(f"unknown package {code!r}")
    return row


def normalise_number(kind: str, number: object) -> str:
    """The stored form of a request's number; ``invalid`` when it does not fit ``kind``."""
    digits = re.sub(r"[\s\-]", "", str(number or ""))
    if kind in ("recharge", "mobile_banking"):
        match = _BD_MOBILE.match(digits)
        if not match:
            raise invalid("number must be a Bangladeshi mobile number (01XXXXXXXXX)")
        return "88" + match.group(1)
    digits = digits.lstrip("+")
    low, high = (6, 20) if kind == "custom" else (8, 15)
    if not digits.isdigit() or not low <= len(digits) <= high:
        raise invalid(f"number must be {low} to {high} digits")
    return digits


def resolve_operator(tx: Tx, service: sqlite3.Row, number: str, code: str | None) -> sqlite3.Row | None:
    """The operator a request goes to: the one named, else the one owning the prefix.

    Services without operators (mobile banking, bills, ...) give None.  An
    explicit operator wins over the prefix because numbers may have been
    ported to another operator.
    """
    rows = tx.all("SELECT * FROM operators WHERE service = ?", (service["code"],))
    if code:
        chosen = [r for r in rows if r["code"] == str(code).upper()]
        if not chosen:
            raise invalid(f"operator {code!r} is not an operator of {service['code']}")
        return chosen[0]
    if not rows:
        return None
    local = "0" + number[3:] if number.startswith("880") else number
    for row in rows:
        if any(local.startswith(p) for p in json.loads(row["prefixes"])):
            return row
    raise invalid("no operator serves this number; name the operator")


def amount_range(service: sqlite3.Row, operator: sqlite3.Row | None, type: str) -> tuple[int, int]:
    """[min, max] paisa for a request: the operator's limit for the type inside the service's."""
    low, high = service["min_amount"], service["max_amount"]
    if operator is None:
        return low, high
    limits = json.loads(operator["limits"])
    if type not in limits:
        raise invalid(f"type {type!r} is not offered by {operator['code']}")
    op_low, op_high = limits[type]
    return max(low, op_low), min(high, op_high)


def choose_type(service: sqlite3.Row, type: str | None) -> str:
    """The request type: the one given (must be the service's) or the service's first."""
    types = json.loads(service["types"])
    if not type:
        return types[0] if types else "default"
    chosen = str(type).lower()
    if types and chosen not in types:
        raise invalid(f"type must be one of {', '.join(types)}")
    return chosen
