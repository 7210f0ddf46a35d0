"""The toolkit the conformance checks are written with: the raw client, the shared suite state, the asserts.

``conformance_checks`` registers its checks here with ``@check``; ``conformance`` runs them.  Both import
this module, neither imports the other's back.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import requests

from wa_addon.host.http import root_url

API = "/api/v1"
MONEY = r"^-?\d+\.\d{2}$"
DENIED = (403, 404)  # a host may hide what is outside the subtree, or refuse it

CheckFn = Callable[["Suite"], "str | None"]
CHECKS: list[tuple[str, CheckFn, bool]] = []


class CheckFailed(Exception):
    """The host answered something the contract does not allow."""


def check(name: str, *, needs_setup: bool = True) -> Callable[[CheckFn], CheckFn]:
    """Register a check, in definition order."""

    def register(fn: CheckFn) -> CheckFn:
        CHECKS.append((name, fn, needs_setup))
        return fn

    return register


@dataclass
class Reply:
    """One HTTP answer: its status and its JSON body (None when there is none)."""

    method: str
    path: str
    status: int
    body: Any

    def expect(self, *statuses: int, code: str | None = None) -> Any:
        """The body if the status (and error code) are as expected; ``CheckFailed`` otherwise."""
        got_code = self.error_code()
        if self.status not in statuses or (code is not None and got_code != code):
            want = "/".join(map(str, statuses)) + (f" {code}" if code else "")
            raise CheckFailed(f"{self.method} {self.path}: expected {want}, got {self.status} {got_code or ''}".strip())
        return self.body

    def error_code(self) -> str | None:
        """``error.code`` of an error body, if it has that shape."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"].get("code")
        return None


class Client:
    """Raw JSON calls to the host, so the suite sees statuses and bodies as they are."""

    def __init__(self, base_url: str, key: str, session: requests.Session, timeout: float):
        self.base_url, self._key, self._session, self._timeout = root_url(base_url), key, session, timeout

    def __call__(
        self,
        method: str,
        path: str,
        *,
        actor: int | None = None,
        key: str | None = None,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        bearer: str | None = None,
    ) -> Reply:
        headers = {"Authorization": f"Bearer {self._key if bearer is None else bearer}"}
        if bearer == "":
            headers = {}
        if actor is not None:
            headers["X-Acting-Reseller"] = str(actor)
        if key is not None:
            headers["Idempotency-Key"] = key
        resp = self._session.request(
            method, self.base_url + API + path, json=body, params=params, headers=headers, timeout=self._timeout
        )
        try:
            data = resp.json() if resp.content else None
        except ValueError:
            data = None
        return Reply(method, path, resp.status_code, data)


@dataclass
class Suite:
    """Shared state: the client and the resellers / catalogue picks ``provision`` made."""

    call: Client
    run_id: str
    ready: bool = False
    ids: dict[str, int] = field(default_factory=dict)
    pins: dict[str, str] = field(default_factory=dict)
    service: str = ""
    operator: str = ""
    type: str = ""
    low: Decimal = Decimal(0)
    high: Decimal = Decimal(0)
    prefix: str = ""
    _seq: int = 0

    def key(self) -> str:
        """A fresh idempotency key for this run."""
        self._seq += 1
        return f"conf-{self.run_id}-{self._seq}"

    def balance(self, who: str) -> Decimal:
        """A provisioned reseller's balance, read as the admin."""
        return money(self.call("GET", f"/resellers/{self.ids[who]}").expect(200)["balance"])

    def number(self) -> str:
        """A number of the chosen operator, as E.164 digits."""
        local = self.prefix + "".join(secrets.choice("0123456789") for _ in range(11 - len(self.prefix)))
        return "88" + local

    def request(self, who: str, amount: Decimal | str, **extra: Any) -> Reply:
        """Place a request of the chosen service for a provisioned reseller."""
        body = {
            "service": self.service,
            "operator": self.operator,
            "type": self.type,
            "number": self.number(),
            "amount": str(amount),
            **extra,
        }
        return self.call("POST", "/requests", actor=self.ids[who], key=self.key(), body=body)


def money(value: Any) -> Decimal:
    """A contract amount ("1250.00") as a Decimal."""
    return Decimal(str(value))


def same(label: str, got: Any, want: Any) -> None:
    """``CheckFailed`` unless ``got == want``."""
    if got != want:
        raise CheckFailed(f"{label}: expected {want}, got {got}")


def has_fields(label: str, obj: Any, fields: Mapping[str, type]) -> None:
    """``CheckFailed`` unless ``obj`` is a dict with these fields of these types."""
    if not isinstance(obj, dict):
        raise CheckFailed(f"{label}: expected an object, got {type(obj).__name__}")
    for name, kind in fields.items():
        if name not in obj or not isinstance(obj[name], kind):
            raise CheckFailed(f"{label}.{name}: missing or not {getattr(kind, '__name__', kind)}")


def is_money(label: str, value: Any) -> None:
    """``CheckFailed`` unless ``value`` is a decimal string with two places."""
    if not isinstance(value, str) or not re.match(MONEY, value):
        raise CheckFailed(f'{label}: expected a decimal string like "10.00", got {value!r}')
