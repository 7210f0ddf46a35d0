"""HttpHost: the :class:`~wa_addon.host.Host` port over the host's REST API (openapi.yaml).

Unreachable host, timeouts, 408, 429 and 5xx raise :class:`HostUnavailable`
(retry later); any other 4xx raises :class:`HostError` with the host's error
code.  Exception texts name the method and path, never the key.

A money move whose answer is lost after the request went out (a 2xx that is
empty, cut or not the promised JSON, a connection dropped or timed out
mid-answer) has an *unknown outcome*: it is asked again with the same
idempotency key, and the host answers what happened.  If it stays unknown,
:class:`HostOutcomeUnknown` (a :class:`HostUnavailable`) keeps the work item
for a later retry with that same key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import requests
import urllib3

from wa_addon.host import (
    BalanceRequest,
    HostError,
    HostOutcomeUnknown,
    HostUnavailable,
    NewReseller,
    Operator,
    Package,
    Payment,
    Request,
    Reseller,
    Service,
    Summary,
)
from wa_addon.httpclient import Client, keepalive_session

API = "/api/v1"
UNKNOWN_TRIES = 3  # asks with the same key before the item goes back to its lane
UNKNOWN_PAUSE = 0.3  # seconds before the 2nd ask, twice that before the 3rd

T = TypeVar("T")


class _Unclear(Exception):
    """The answer to a money move was lost: it may or may not have happened."""


def root_url(url: str) -> str:
    """The host's root URL, whether it was given with the ``/api/v1`` prefix or without.

    The demo prints the API's URL (``…/api/v1``); operators paste either.
    """
    url = url.rstrip("/")
    return url[: -len(API)] if url.endswith(API) else url


class HttpHost:
    """A recharge server reached over HTTP with a bearer key.

    Args:
        base_url: the host's root URL (``/api/v1`` is appended), or its API URL ending in ``/api/v1``.
        key: the API key sent as ``Authorization: Bearer <key>``.
        session: a client to reuse, e.g. a ``requests.Session`` (a keep-alive one is made otherwise).
        timeout: seconds per call.
        connections: keep-alive connections kept (commands run concurrently).
        unknown_pause: seconds before asking a lost money move again (grows with each try).

    Attributes:
        observe: called with each call's seconds (answered or not), e.g.
            :meth:`wa_addon.tally.HostLatency.record`; the runtime sets it.
    """

    observe: Callable[[float], None] | None = None

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        session: Client | None = None,
        timeout: float = 10,
        connections: int = 32,
        unknown_pause: float = UNKNOWN_PAUSE,
    ):
        self.base_url = root_url(base_url)
        self._key = key
        self._session: Client = session or keepalive_session(connections)
        self._timeout = timeout
        self._unknown_pause = unknown_pause

    def __repr__(self) -> str:
        return f"HttpHost({self.base_url!r})"  # never the key

    # -- transport ------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        actor: int | None = None,
        idem_key: str | None = None,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        money: bool = False,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json"}
        if actor is not None:
            headers["X-Acting-Reseller"] = str(actor)
        if idem_key is not None:
            headers["Idempotency-Key"] = idem_key
        query = {k: v for k, v in (params or {}).items() if v is not None}
        started = time.perf_counter()
        try:
            resp = self._session.request(
                method, self.base_url + API + path, headers=headers, json=json, params=query, timeout=self._timeout
            )
        except requests.RequestException as exc:
            if money and not _never_sent(exc):
                raise _Unclear(type(exc).__name__) from None
            raise HostUnavailable(f"{method} {path}: {type(exc).__name__}") from None
        finally:
            if self.observe is not None:
                self.observe(time.perf_counter() - started)
        return _answer(method, path, resp, money)

    def _move(
        self, parse: Callable[[Any], T], path: str, *, idem_key: str, json: dict[str, Any], actor: int | None = None
    ) -> T:
        """A money-moving POST; a lost answer is asked again with the same key (see the module doc)."""
        why = ""
        for attempt in range(UNKNOWN_TRIES):
            if attempt:
                time.sleep(self._unknown_pause * attempt)
            try:
                data = self._call("POST", path, actor=actor, idem_key=idem_key, json=json, money=True)
                return parse(data)
            except _Unclear as exc:
                why = str(exc)
            except (KeyError, TypeError, ValueError, AttributeError):
                why = "a 2xx answer without the promised fields"
        raise HostOutcomeUnknown(f"POST {path}: outcome unknown after {UNKNOWN_TRIES} tries ({why})")

    # -- resellers ------------------------------------------------------------

    def find_reseller(self, *, phone: str | None = None, wa_user_id: str | None = None) -> Reseller | None:
        """The reseller owning a WhatsApp number or business-scoped user id, or None."""
        if not phone and not wa_user_id:
            return None  # nobody to look up: the transport withheld both
        return self._reseller_or_none("GET", "/resellers", params={"phone": phone, "wa_user_id": wa_user_id})

    def get_reseller(self, ref: str, *, actor: int | None = None) -> Reseller:
        """A reseller by id, username or phone, within ``actor``'s subtree."""
        return Reseller.from_dict(self._call("GET", f"/resellers/{_seg(ref)}", actor=actor))

    def list_children(self, reseller_id: int, *, actor: int | None = None) -> list[Reseller]:
        """Direct children of a reseller."""
        data = self._call("GET", f"/resellers/{_seg(reseller_id)}/children", actor=actor)
        return [Reseller.from_dict(item) for item in data["items"]]

    def create_reseller(
        self, *, phone: str, name: str, level: int | None, actor: int | None, idem_key: str
    ) -> NewReseller:
        """A new reseller under ``actor`` (or the admin); a replay has empty password and PIN."""
        body: dict[str, Any] = {"phone": phone, "name": name}
        if level is not None:
            body["level"] = level
        return self._move(_new_reseller, "/resellers", actor=actor, idem_key=idem_key, json=body)

    def update_reseller(self, reseller_id: int, fields: dict[str, Any], *, actor: int | None = None) -> Reseller:
        """Edit name, status, language, services (or, as admin, wa_user_id)."""
        return Reseller.from_dict(self._call("PATCH", f"/resellers/{_seg(reseller_id)}", actor=actor, json=fields))

    def change_number(self, *, old_phone: str, new_phone: str) -> Reseller | None:
        """WhatsApp reported a user's new number: the reseller now on it, or None if none was on the old one."""
        return self._reseller_or_none(
            "POST", "/resellers/number-change", json={"old_phone": old_phone, "new_phone": new_phone}
        )

    def _reseller_or_none(self, method: str, path: str, **kwargs: Any) -> Reseller | None:
        """A reseller the host found, or None where it answers ``not_found``."""
        try:
            data = self._call(method, path, **kwargs)
        except HostError as exc:
            if exc.code == "not_found":
                return None
            raise
        return Reseller.from_dict(data)

    def reset_reseller(self, reseller_id: int, *, actor: int | None = None, idem_key: str) -> NewReseller:
        """New password and PIN for a reseller."""
        return self._move(
            _new_reseller, f"/resellers/{_seg(reseller_id)}/reset", actor=actor, idem_key=idem_key, json={}
        )

    def verify_pin(self, reseller_id: int, pin: str) -> bool:
        """Whether ``pin`` is the reseller's PIN."""
        data = self._call("POST", f"/resellers/{_seg(reseller_id)}/pin/verify", json={"pin": pin})
        return bool(data["valid"])

    def change_pin(self, reseller_id: int, old_pin: str, new_pin: str) -> None:
        """Set a new PIN; HostError('bad_pin') when the old one is wrong."""
        self._call("PUT", f"/resellers/{_seg(reseller_id)}/pin", json={"old_pin": old_pin, "new_pin": new_pin})

    # -- money ----------------------------------------------------------------

    def add_balance(
        self, *, to: str, amount: str, actor: int | None, idem_key: str, note: str | None = None
    ) -> Payment:
        """Move ``amount`` from ``actor`` (or mint, for the admin) to reseller ``to``."""
        body = {"to": str(to), "amount": amount, **({"note": note} if note else {})}
        return self._move(Payment.from_dict, "/payments", actor=actor, idem_key=idem_key, json=body)

    def create_balance_request(
        self, *, amount: str, actor: int, idem_key: str, note: str | None = None
    ) -> BalanceRequest:
        """``actor`` asks its parent (or the admin) for balance."""
        body = {"amount": amount, **({"note": note} if note else {})}
        return self._move(BalanceRequest.from_dict, "/balance-requests", actor=actor, idem_key=idem_key, json=body)

    def get_balance_request(self, balance_request_id: int, *, actor: int | None = None) -> BalanceRequest:
        """One balance request."""
        return BalanceRequest.from_dict(self._call("GET", f"/balance-requests/{int(balance_request_id)}", actor=actor))

    def decide_balance_request(
        self, balance_request_id: int, *, approve: bool, idem_key: str, actor: int | None = None
    ) -> BalanceRequest:
        """Approve (moves the money) or deny a pending balance request."""
        path = f"/balance-requests/{int(balance_request_id)}/{'approve' if approve else 'deny'}"
        return self._move(BalanceRequest.from_dict, path, actor=actor, idem_key=idem_key, json={})

    # -- catalogue ------------------------------------------------------------

    def list_services(self, *, reseller_id: int | None = None) -> list[Service]:
        """All services, or those a reseller is permitted."""
        data = self._call("GET", "/services", params={"reseller_id": reseller_id})
        return [Service.from_dict(item) for item in data["items"]]

    def list_operators(self, *, service: str | None = None) -> list[Operator]:
        """Operators, optionally of one service."""
        data = self._call("GET", "/operators", params={"service": service})
        return [Operator.from_dict(item) for item in data["items"]]

    def list_packages(self, *, operator: str) -> list[Package]:
        """Packages sold for an operator."""
        data = self._call("GET", "/packages", params={"operator": operator})
        return [Package.from_dict(item) for item in data["items"]]

    # -- requests -------------------------------------------------------------

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
        fields = {
            "service": service,
            "number": number,
            "amount": amount,
            "type": type,
            "operator": operator,
            "package": package,
        }
        body = {k: v for k, v in fields.items() if v not in (None, "")}
        return self._move(Request.from_dict, "/requests", actor=actor, idem_key=idem_key, json=body)

    def get_request(self, request_id: int, *, actor: int | None = None) -> Request:
        """One request, within ``actor``'s subtree."""
        return Request.from_dict(self._call("GET", f"/requests/{int(request_id)}", actor=actor))

    def list_requests(self, *, actor: int | None, limit: int = 5, status: str | None = None) -> list[Request]:
        """The newest requests of a reseller (``actor=None``: everyone's), optionally in one status."""
        params = {"reseller_id": actor, "limit": limit, "status": status}
        data = self._call("GET", "/requests", actor=actor, params=params)
        return [Request.from_dict(item) for item in data["items"]]

    def summary(self, *, low_below: str) -> Summary | None:
        """The admin's totals and the resellers needing a look; None when the host has no ``/summary``."""
        try:
            data = self._call("GET", "/summary", params={"low_below": low_below})
        except HostError as exc:
            if exc.status == 404:
                return None
            raise
        return Summary.from_dict(data)

    def act_on_request(
        self, request_id: int, action: str, *, trx_id: str | None = None, idem_key: str, note: str | None = None
    ) -> Request:
        """Admin action on a request: process, resend, cancel, complete or fail."""
        body = {k: v for k, v in (("trx_id", trx_id), ("note", note)) if v}
        path = f"/requests/{int(request_id)}/{_seg(action)}"
        return self._move(Request.from_dict, path, idem_key=idem_key, json=body)


def _seg(value: object) -> str:
    return quote(str(value), safe="")


def _new_reseller(data: dict[str, Any]) -> NewReseller:
    return NewReseller(
        reseller=Reseller.from_dict(data["reseller"]),
        password=data.get("password") or "",
        pin=data.get("pin") or "",
        replayed=bool(data.get("replayed")),
    )


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether the request surely never reached the host (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(exc, requests.ConnectionError) and isinstance(reason, urllib3.exceptions.NewConnectionError)


def _answer(method: str, path: str, resp: requests.Response, money: bool = False) -> Any:
    status = resp.status_code
    if status >= 500 or status in (408, 429):
        raise HostUnavailable(f"{method} {path}: host answered {status}")
    if status >= 400:
        code, message = _error(resp)
        raise HostError(code, message, status)
    if status == 204 or not resp.content:
        if money:
            raise _Unclear(f"{status} with no body")
        return None
    try:
        return resp.json()
    except ValueError:
        if money:
            raise _Unclear(f"{status} with a body that is not JSON") from None
        raise HostUnavailable(f"{method} {path}: host answered {status} with a body that is not JSON") from None


def _error(resp: requests.Response) -> tuple[str, str]:
    try:
        error = resp.json()["error"]
        return str(error["code"]), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return f"http_{resp.status_code}", resp.text[:200]
