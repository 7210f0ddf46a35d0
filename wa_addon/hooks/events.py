"""Host events: the envelope, the known types and what each one's data must hold.

The envelope (``docs/hooks.md``)::

    {"id": "evt_...", "type": "request.updated", "created_at": "2025-01-31T10:00:00Z", "data": {...}}

Only the fields the add-on relies on are checked; a host may send more.
Phones of ``otp.requested`` and ``message.send`` are normalised to E.164
digits here, so a bad one is refused at the door (400), not later.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from wa_addon.phones import parse_phone
from wa_addon.workflows import balance_approval, request

REQUEST_CREATED = "request.created"
REQUEST_UPDATED = "request.updated"
BALANCE_ADDED = "balance.added"
BALANCE_REQUEST_CREATED = "balance_request.created"
BALANCE_REQUEST_UPDATED = "balance_request.updated"
RESELLER_CREATED = "reseller.created"
RESELLER_UPDATED = "reseller.updated"
RESELLER_RESET = "reseller.reset"
OTP_REQUESTED = "otp.requested"
MESSAGE_SEND = "message.send"

ID = (int, str)  # host ids: 12 or "12"
MONEY = (str, int, float)  # "1250.00" or a number
TEXT = (str,)

# Per type, the data fields that must be present, and their JSON types.
REQUIRED: dict[str, dict[str, tuple[type, ...]]] = {
    REQUEST_CREATED: {"id": ID, "reseller_id": ID},
    REQUEST_UPDATED: {"id": ID, "reseller_id": ID, "status": TEXT},
    BALANCE_ADDED: {"reseller_id": ID, "amount": MONEY, "balance": MONEY},
    BALANCE_REQUEST_CREATED: {"id": ID, "reseller_id": ID, "amount": MONEY},
    BALANCE_REQUEST_UPDATED: {"id": ID, "reseller_id": ID, "status": TEXT},
    RESELLER_CREATED: {"id": ID},
    RESELLER_UPDATED: {"id": ID, "changes": (dict,)},
    RESELLER_RESET: {"id": ID, "password": TEXT, "pin": TEXT},
    OTP_REQUESTED: {"phone": TEXT},
    MESSAGE_SEND: {"phone": TEXT, "text": TEXT},
}
EVENT_TYPES = tuple(REQUIRED)

# Fields whose value must be one of a few words.
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    (REQUEST_CREATED, "status"): tuple(request.STATES),
    (REQUEST_UPDATED, "status"): tuple(request.STATES),
    (BALANCE_REQUEST_UPDATED, "status"): balance_approval.HOST_STATUSES,
}

MAX_TEXT = 4096  # WhatsApp's limit for one text message
MONEY_FIELDS = ("amount", "balance", "balance_after")  # checked in every event that carries them
MAX_MONEY = Decimal(10) ** 12  # no shop moves a trillion taka: a larger figure is a bug or an attack
_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")
_SECONDS = re.compile(r"[0-9]{1,9}")


class EventError(ValueError):
    """An event the add-on will not take (answer 400); ``code`` is machine-readable."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Event:
    """One host event, as queued for the worker."""

    id: str
    type: str
    created_at: str
    data: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        return cls(**json.loads(raw))

    @property
    def order_key(self) -> str:
        """Events with the same key are processed in order: one reseller's, or one phone's."""
        if self.type in (OTP_REQUESTED, MESSAGE_SEND):
            return f"phone:{self.data['phone']}"
        owner = self.data["id"] if self.type.startswith("reseller.") else self.data["reseller_id"]
        return f"reseller:{owner}"


def parse(raw: bytes, region: str = "BD") -> Event:
    """The event in a hook body; raises :class:`EventError` when it is not a valid one."""
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        raise EventError("bad_json", "the body is not JSON (NaN and Infinity are not JSON either)") from None
    if not isinstance(body, dict):
        raise EventError("bad_envelope", "the body must be a JSON object")
    event_id, kind, created_at, data = (body.get(k) for k in ("id", "type", "created_at", "data"))
    if not isinstance(event_id, str) or not _EVENT_ID.match(event_id):
        raise EventError("bad_envelope", "id must be 1-100 letters, digits or _.:-")
    if not isinstance(created_at, str) or _when(created_at) is None:
        raise EventError("bad_envelope", "created_at must be an ISO 8601 time")
    checked_type, checked = _checked(kind, data, region)
    return Event(event_id, checked_type, created_at, checked)


def new(
    type: str,
    data: dict[str, Any],
    region: str = "BD",
    *,
    clock: Callable[[], datetime] | None = None,
    uuidgen: Callable[[], uuid.UUID] = uuid.uuid4,
) -> Event:
    """A new event for ``emit()``: a fresh id and the current time; raises :class:`EventError`."""
    now = clock() if clock else datetime.now(UTC)
    created = now.isoformat(timespec="seconds").replace("+00:00", "Z")
    checked_type, checked = _checked(type, data, region)
    return Event(f"evt_{uuidgen().hex}", checked_type, created, checked)


def _checked(type: Any, data: Any, region: str) -> tuple[str, dict[str, Any]]:
    if type not in REQUIRED:
        raise EventError("unknown_type", f"unknown event type {str(type)[:60]!r}")
    if not isinstance(data, dict):
        raise EventError("bad_envelope", "data must be a JSON object")
    for name, kinds in REQUIRED[type].items():
        value = data.get(name)
        if value is None or isinstance(value, bool) or not isinstance(value, kinds) or value == "":
            raise EventError("bad_data", f"{type}: data.{name} is missing or of the wrong type")
    for name in MONEY_FIELDS:  # required or not: a sum shown to a reseller must be one
        if data.get(name) is not None and data[name] != "":
            _money(type, name, data[name])
    for (of, name), allowed in CHOICES.items():
        if of == type and name in data and data[name] not in allowed:
            raise EventError("bad_data", f"{type}: data.{name} must be one of {', '.join(allowed)}")
    return type, _normalised(type, data, region)


def _normalised(type: str, data: dict[str, Any], region: str) -> dict[str, Any]:
    if type not in (OTP_REQUESTED, MESSAGE_SEND):
        return data
    phone = parse_phone(data["phone"], region)
    if phone is None:
        raise EventError("bad_data", f"{type}: data.phone is not a phone number")
    if type == MESSAGE_SEND and len(data["text"]) > MAX_TEXT:
        raise EventError("bad_data", f"{type}: data.text is longer than {MAX_TEXT} characters")
    if type == OTP_REQUESTED and data.get("expires_in") is not None:
        return {**data, "phone": phone, "expires_in": _seconds(type, data["expires_in"])}
    return {**data, "phone": phone}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json would take NaN and Infinity otherwise


def _money(type: str, name: str, value: Any) -> None:
    """A sum of money: a finite decimal under :data:`MAX_MONEY`, an amount above zero, a balance from zero."""
    try:
        figure = Decimal(str(value).strip()) if isinstance(value, MONEY) and not isinstance(value, bool) else None
    except InvalidOperation:
        figure = None
    low = Decimal("0.01") if name == "amount" else Decimal(0)  # a balance may be zero
    if figure is None:
        raise EventError("bad_data", f"{type}: data.{name} must be a sum of money")
    if not figure.is_finite() or not low <= figure < MAX_MONEY:
        raise EventError("bad_data", f"{type}: data.{name} must be a sum of money from {low} up")


def _seconds(type: str, value: Any) -> int:
    """Whole seconds, given as a number or as digits (``600``, ``"600"``)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 10**9:
        return int(value)
    if isinstance(value, str) and _SECONDS.fullmatch(value.strip()):
        return int(value)
    raise EventError("bad_data", f"{type}: data.expires_in must be a number of seconds")


def _when(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
