"""The host port: everything the add-on asks of the recharge server.

The add-on never keeps money or balances; the host does.  Nothing outside
this package knows how the host is reached (HTTP, in-process, ...).

``actor`` arguments name the reseller on whose behalf a call is made; the
host enforces that a reseller acts only on its own subtree.  ``actor=None``
means the admin.  Every money-moving call takes an ``idem_key``: the same key
twice makes one effect and returns the first result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "BalanceRequest",
    "Host",
    "HostError",
    "HostOutcomeUnknown",
    "HostUnavailable",
    "NewReseller",
    "Operator",
    "Package",
    "Payment",
    "Request",
    "Reseller",
    "Service",
    "Summary",
]


class HostError(Exception):
    """The host refused a call; ``code`` is machine-readable (see openapi.yaml)."""

    def __init__(self, code: str, message: str = "", status: int = 400):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.status = status


class HostUnavailable(Exception):
    """The host could not be reached or answered 5xx: retry later, never drop."""


class HostOutcomeUnknown(HostUnavailable):
    """A money move was sent but its answer was lost (empty, cut, not JSON, connection dropped).

    The money may have moved.  Only the same idempotency key may ask again (the
    host then answers what happened), so the work item is kept and retried like
    any outage, and nobody is told "something went wrong" meanwhile.
    """


def _from(cls: type, data: dict[str, Any]) -> Any:
    names = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Reseller:
    id: int
    username: str
    name: str
    phone: str
    parent_id: int | None
    level: int
    balance: str  # decimal as string, e.g. "1250.00"
    status: str = "active"  # active | suspended
    language: str = "bn"  # bn | en
    services: list[str] = field(default_factory=list)  # permitted service codes
    wa_user_id: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reseller:
        return _from(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NewReseller:
    """A created reseller with its first password and PIN (shown once)."""

    reseller: Reseller
    password: str
    pin: str
    # True when the host answered a repeated Idempotency-Key: it keeps only hashes,
    # so password and pin are empty then (issue new ones with a reset).
    replayed: bool = False


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    kind: str  # recharge | mobile_banking | custom | country
    min_amount: str
    max_amount: str
    types: list[str] = field(default_factory=list)  # e.g. prepaid, postpaid, skitto
    country: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Service:
        return _from(cls, data)


@dataclass(frozen=True)
class Operator:
    code: str
    name: str
    service: str
    prefixes: list[str] = field(default_factory=list)
    limits: dict[str, list[str]] = field(default_factory=dict)  # type -> [min, max]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Operator:
        return _from(cls, data)


@dataclass(frozen=True)
class Package:
    code: str
    operator: str
    name: str
    price: str
    validity: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Package:
        return _from(cls, data)


@dataclass(frozen=True)
class Request:
    id: int
    reseller_id: int
    service: str
    operator: str | None
    number: str
    amount: str
    type: str
    status: str  # pending | processing | success | failed | cancelled
    trx_id: str | None = None
    note: str | None = None
    balance_before: str | None = None
    balance_after: str | None = None
    package: str | None = None
    created_at: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Request:
        return _from(cls, data)


@dataclass(frozen=True)
class BalanceRequest:
    id: int
    reseller_id: int
    amount: str
    status: str  # pending | approved | denied
    note: str | None = None
    payment_id: int | None = None  # the payment an approval made
    created_at: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BalanceRequest:
        return _from(cls, data)


@dataclass(frozen=True)
class Payment:
    id: int
    from_id: int | None  # None: the admin
    to_id: int
    amount: str
    balance_after: str  # the receiver's balance after the payment
    from_balance_after: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Payment:
        return _from(cls, data)


@dataclass(frozen=True)
class Summary:
    """The admin's day at a glance (optional ``GET /summary``)."""

    resellers: int
    balance: str  # every reseller's balance added up
    requests: dict[str, int] = field(default_factory=dict)  # pending / processing -> how many
    suspended: int = 0
    attention: list[Reseller] = field(default_factory=list)  # low balance or suspended

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        people = [Reseller.from_dict(r) for r in data.get("attention") or []]
        return _from(cls, {**data, "attention": people})


@runtime_checkable
class Host(Protocol):
    """What the add-on needs from a recharge server.  See openapi.yaml."""

    def find_reseller(self, *, phone: str | None = None, wa_user_id: str | None = None) -> Reseller | None:
        """The reseller owning a WhatsApp number or business-scoped user id."""
        ...

    def get_reseller(self, ref: str, *, actor: int | None = None) -> Reseller:
        """A reseller by id, username or phone, within ``actor``'s subtree."""
        ...

    def list_children(self, reseller_id: int, *, actor: int | None = None) -> list[Reseller]:
        """Direct children of a reseller."""
        ...

    def create_reseller(
        self, *, phone: str, name: str, level: int | None, actor: int | None, idem_key: str
    ) -> NewReseller:
        """A new reseller under ``actor`` (or under the admin)."""
        ...

    def update_reseller(self, reseller_id: int, fields: dict[str, Any], *, actor: int | None = None) -> Reseller:
        """Edit name, status, language, services (or, as admin, wa_user_id)."""
        ...

    def reset_reseller(self, reseller_id: int, *, actor: int | None = None, idem_key: str) -> NewReseller:
        """New password and PIN for a reseller (the admin or an ancestor)."""
        ...

    def change_number(self, *, old_phone: str, new_phone: str) -> Reseller | None:
        """WhatsApp reported a user's new number (``user_changed_number``): move the reseller to it.

        Returns the reseller now on the new number, or None when nobody was on the old one.
        """
        ...

    def create_balance_request(
        self, *, amount: str, actor: int, idem_key: str, note: str | None = None
    ) -> BalanceRequest:
        """``actor`` asks its parent (or the admin) for balance."""
        ...

    def add_balance(self, *, to: str, amount: str, actor: int | None, idem_key: str) -> Payment:
        """Move ``amount`` from ``actor`` (or mint, for the admin) to reseller ``to``."""
        ...

    def verify_pin(self, reseller_id: int, pin: str) -> bool:
        """Whether ``pin`` is the reseller's PIN."""
        ...

    def change_pin(self, reseller_id: int, old_pin: str, new_pin: str) -> None:
        """Set a new PIN; HostError('bad_pin') when the old one is wrong."""
        ...

    def list_services(self, *, reseller_id: int | None = None) -> list[Service]:
        """All services, or those a reseller is permitted."""
        ...

    def list_operators(self, *, service: str | None = None) -> list[Operator]:
        """Operators, optionally of one service."""
        ...

    def list_packages(self, *, operator: str) -> list[Package]:
        """Packages sold for an operator."""
        ...

    def create_request(
        self,
        *,
        actor: int,
        service: str,
        number: str,
        amount: str | None,
        type: str | None = None,
        operator: str | None = None,
        package: str | None = None,
        idem_key: str,
    ) -> Request:
        """A new recharge / mobile-banking / custom / country request."""
        ...

    def get_request(self, request_id: int, *, actor: int | None = None) -> Request:
        """One request, within ``actor``'s subtree."""
        ...

    def list_requests(self, *, actor: int | None, limit: int = 5, status: str | None = None) -> list[Request]:
        """The newest requests of a reseller (``actor=None``: everyone's, for the admin), optionally in one status."""
        ...

    def summary(self, *, low_below: str) -> Summary | None:
        """The admin's totals and the resellers below ``low_below`` or suspended; None if the host has none."""
        ...

    def act_on_request(self, request_id: int, action: str, *, trx_id: str | None = None, idem_key: str) -> Request:
        """Admin action on a request: ``resend``, ``cancel`` or ``complete``."""
        ...

    def get_balance_request(self, balance_request_id: int) -> BalanceRequest:
        """One balance request."""
        ...

    def decide_balance_request(self, balance_request_id: int, *, approve: bool, idem_key: str) -> BalanceRequest:
        """Approve (moves the money) or deny a pending balance request."""
        ...
