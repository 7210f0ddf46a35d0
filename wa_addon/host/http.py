"""HttpHost: the :class:`~wa_addon.host.Host` port over the host's REST API (openapi.yaml).

Unreachable host, timeouts, 408, 429 and 5xx raise :class:`HostUnavailable`
(retry later); any other 4xx raises :class:`HostError` with the host's error
code.  Exception texts name the method and path, never the key.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from wa_addon.host import (
    BalanceRequest,
    HostError,
    HostUnavailable,
    NewReseller,
    Operator,
    Package,
    Payment,
    Request,
    Reseller,
    Service,
)
from wa_addon.httpclient import keepalive_session

API = "/api/v1"


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
        session: a ``requests.Session`` to reuse (one is made otherwise).
        timeout: seconds per call.
        connections: keep-alive connections kept (commands run concurrently).
    """

    def __init__(self, base_url: str, key: str, *, session: requests.Session | None = None, timeout: float = 10,
                 connections: int = 32):
        self.base_url = root_url(base_url)
        self._key = key
        self._session = session or keepalive_session(connections)
        self._timeout = timeout

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
    ) -> Any:
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json"}
        if actor is not None:
            headers["X-Acting-Reseller"] = str(actor)
        if idem_key is not None:
            headers["Idempotency-Key"] = idem_key
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            resp = self._session.request(
                method, self.base_url + API + path, headers=headers, json=json, params=query, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise HostUnavailable(f"{method} {path}: {type(exc).__name__}") from None
        return _answer(method, path, resp)

    # -- resellers ------------------------------------------------------------

    def find_reseller(self, *, phone: str | None = None, wa_user_id: str | None = None) -> Reseller | None:
        """The reseller owning a WhatsApp number or business-scoped user id, or None."""
        if not phone and not wa_user_id:
            return None  # nobody to look up: the transport withheld both
        try:
            data = self._call("GET", "/resellers", params={"phone": phone, "wa_user_id": wa_user_id})
        except HostError as exc:
            if exc.code == "not_found":
                return None
            raise
        return Reseller.from_dict(data)

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
        return _new_reseller(self._call("POST", "/resellers", actor=actor, idem_key=idem_key, json=body))

    def update_reseller(self, reseller_id: int, fields: dict[str, Any], *, actor: int | None = None) -> Reseller:
        """Edit name, status, language, services (or, as admin, wa_user_id)."""
        return Reseller.from_dict(self._call("PATCH", f"/resellers/{_seg(reseller_id)}", actor=actor, json=fields))

    def reset_reseller(self, reseller_id: int, *, actor: int | None = None, idem_key: str) -> NewReseller:
        """New password and PIN for a reseller."""
        return _new_reseller(
            self._call("POST", f"/resellers/{_seg(reseller_id)}/reset", actor=actor, idem_key=idem_key, json={})
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
        return Payment.from_dict(self._call("POST", "/payments", actor=actor, idem_key=idem_key, json=body))

    def create_balance_request(
        self, *, amount: str, actor: int, idem_key: str, note: str | None = None
    ) -> BalanceRequest:
        """``actor`` asks its parent (or the admin) for balance."""
        body = {"amount": amount, **({"note": note} if note else {})}
        data = self._call("POST", "/balance-requests", actor=actor, idem_key=idem_key, json=body)
        return BalanceRequest.from_dict(data)

    def get_balance_request(self, balance_request_id: int, *, actor: int | None = None) -> BalanceRequest:
        """One balance request."""
        return BalanceRequest.from_dict(self._call("GET", f"/balance-requests/{int(balance_request_id)}", actor=actor))

    def decide_balance_request(
        self, balance_request_id: int, *, approve: bool, idem_key: str, actor: int | None = None
    ) -> BalanceRequest:
        """Approve (moves the money) or deny a pending balance request."""
        path = f"/balance-requests/{int(balance_request_id)}/{'approve' if approve else 'deny'}"
        return BalanceRequest.from_dict(self._call("POST", path, actor=actor, idem_key=idem_key, json={}))

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
        return Request.from_dict(self._call("POST", "/requests", actor=actor, idem_key=idem_key, json=body))

    def get_request(self, request_id: int, *, actor: int | None = None) -> Request:
        """One request, within ``actor``'s subtree."""
        return Request.from_dict(self._call("GET", f"/requests/{int(request_id)}", actor=actor))

    def list_requests(self, *, actor: int, limit: int = 5) -> list[Request]:
        """The newest requests of a reseller."""
        data = self._call("GET", "/requests", actor=actor, params={"reseller_id": actor, "limit": limit})
        return [Request.from_dict(item) for item in data["items"]]

    def act_on_request(
        self, request_id: int, action: str, *, trx_id: str | None = None, idem_key: str, note: str | None = None
    ) -> Request:
        """Admin action on a request: process, resend, cancel, complete or fail."""
        body = {k: v for k, v in (("trx_id", trx_id), ("note", note)) if v}
        path = f"/requests/{int(request_id)}/{_seg(action)}"
        return Request.from_dict(self._call("POST", path, idem_key=idem_key, json=body))


def _seg(value: object) -> str:
    return quote(str(value), safe="")


def _new_reseller(data: dict[str, Any]) -> NewReseller:
    return NewReseller(
        reseller=Reseller.from_dict(data["reseller"]),
        password=data.get("password") or "",
        pin=data.get("pin") or "",
        replayed=bool(data.get("replayed")),
    )


def _answer(method: str, path: str, resp: requests.Response) -> Any:
    status = resp.status_code
    if status >= 500 or status in (408, 429):
        raise HostUnavailable(f"{method} {path}: host answered {status}")
    if status >= 400:
        code, message = _error(resp)
        raise HostError(code, message, status)
    if status == 204 or not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        raise HostUnavailable(f"{method} {path}: host answered {status} with a body that is not JSON") from None


def _error(resp: requests.Response) -> tuple[str, str]:
    try:
        error = resp.json()["error"]
        return str(error["code"]), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return f"http_{resp.status_code}", resp.text[:200]
