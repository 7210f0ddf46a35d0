"""The sandbox host's REST API (``/api/v1``, see ``wa_addon/host/openapi.yaml``).

Resources only translate HTTP: they read the acting reseller, the
idempotency key, the query and the body, call :class:`SandboxDB`, and write
JSON.  Errors always come out as ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import falcon

from wa_addon.host import HostError
from wa_addon.sandbox.db import SandboxDB

log = logging.getLogger(__name__)

API = "/api/v1"
_HTTP_CODES = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "invalid_state",  # a fallback: the 409s raised today are HostErrors with their own code
    413: "invalid",
    415: "invalid",
}


class Auth:
    """Middleware: the bearer key, then the acting reseller and idempotency key into ``req.context``."""

    def __init__(self, api_key: str):
        self._key = api_key.encode()

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        scheme, _, token = (req.get_header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._key):
            raise HostError("unauthorized", "missing or wrong bearer key", 401)
        req.context.actor = _actor(req.get_header("X-Acting-Reseller"))
        req.context.idem_key = req.get_header("Idempotency-Key")


def _actor(header: str | None) -> int | None:
    if header is None or header.strip() == "":
        return None
    if not header.strip().isdigit():
        raise HostError("invalid", "X-Acting-Reseller must be a reseller id", 400)
    return int(header)


def _idem(req: falcon.Request) -> str:
    key = req.context.idem_key
    if not key or len(key) > 255:
        raise HostError("invalid", "this call needs an Idempotency-Key header (1 to 255 characters)", 400)
    return key


def _body(req: falcon.Request) -> dict[str, Any]:
    media = req.get_media(default_when_empty={})
    if not isinstance(media, dict):
        raise HostError("invalid", "the body must be a JSON object", 400)
    return media


def _limit(req: falcon.Request) -> int:
    return req.get_param_as_int("limit", min_value=1, max_value=100, default=20)


class _Resource:
    def __init__(self, db: SandboxDB):
        self.db = db


class Resellers(_Resource):
    """``GET /resellers?phone=|wa_user_id=`` (lookup) and ``POST /resellers`` (create)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.db.find_reseller(
            phone=req.get_param("phone"), wa_user_id=req.get_param("wa_user_id"), actor=req.context.actor
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = _body(req)
        resp.media = self.db.create_reseller(
            phone=body.get("phone", ""),
            name=body.get("name", ""),
            level=body.get("level"),
            actor=req.context.actor,
            idem_key=_idem(req),
        )
        resp.status = falcon.HTTP_201


class Reseller(_Resource):
    """``GET`` / ``PATCH /resellers/{ref}`` (ref: id, username or phone)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, ref: str) -> None:
        resp.media = self.db.get_reseller(ref, actor=req.context.actor)

    def on_patch(self, req: falcon.Request, resp: falcon.Response, ref: str) -> None:
        resp.media = self.db.update_reseller(ref, _body(req), actor=req.context.actor)


class Children(_Resource):
    """``GET /resellers/{ref}/children``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, ref: str) -> None:
        resp.media = {"items": self.db.list_children(ref, actor=req.context.actor)}


class NumberChange(_Resource):
    """``POST /resellers/number-change``: WhatsApp reported a user's new number."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = _body(req)
        resp.media = self.db.change_number(body.get("old_phone"), body.get("new_phone"), actor=req.context.actor)


class Reset(_Resource):
    """``POST /resellers/{ref}/reset``: a new password and PIN."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, ref: str) -> None:
        resp.media = self.db.reset_reseller(ref, actor=req.context.actor, idem_key=_idem(req))


class PinVerify(_Resource):
    """``POST /resellers/{ref}/pin/verify``."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, ref: str) -> None:
        valid = self.db.verify_pin(ref, str(_body(req).get("pin", "")), actor=req.context.actor)
        resp.media = {"valid": valid}


class Pin(_Resource):
    """``PUT /resellers/{ref}/pin``."""

    def on_put(self, req: falcon.Request, resp: falcon.Response, ref: str) -> None:
        body = _body(req)
        self.db.change_pin(ref, body.get("old_pin", ""), body.get("new_pin", ""), actor=req.context.actor)
        resp.status = falcon.HTTP_204


class Payments(_Resource):
    """``POST /payments``."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = _body(req)
        resp.media = self.db.add_balance(
            to=body.get("to", ""),
            amount=body.get("amount"),
            note=body.get("note"),
            actor=req.context.actor,
            idem_key=_idem(req),
        )
        resp.status = falcon.HTTP_201


class Payment(_Resource):
    """``GET /payments/{id}``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, id: int) -> None:
        resp.media = self.db.get_payment(id, actor=req.context.actor)


class Catalogue(_Resource):
    """``GET /services``, ``/operators`` and ``/packages``."""

    def on_get_services(self, req: falcon.Request, resp: falcon.Response) -> None:
        reseller_id = req.get_param_as_int("reseller_id")
        resp.media = {"items": self.db.list_services(reseller_id=reseller_id, actor=req.context.actor)}

    def on_get_operators(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"items": self.db.list_operators(service=req.get_param("service"))}

    def on_get_packages(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"items": self.db.list_packages(operator=req.get_param("operator"))}


class Requests(_Resource):
    """``POST /requests`` and ``GET /requests?reseller_id=&status=&limit=``."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.db.create_request(_body(req), actor=req.context.actor, idem_key=_idem(req))
        resp.status = falcon.HTTP_201

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {
            "items": self.db.list_requests(
                actor=req.context.actor,
                reseller_id=req.get_param_as_int("reseller_id"),
                status=req.get_param("status"),
                limit=_limit(req),
            )
        }


class Summary(_Resource):
    """``GET /summary?low_below=``: the admin's totals (optional in the contract)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.db.summary(actor=req.context.actor, low_below=req.get_param("low_below"))


class Request(_Resource):
    """``GET /requests/{id}`` and ``POST /requests/{id}/{action}``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, id: int) -> None:
        resp.media = self.db.get_request(id, actor=req.context.actor)

    def on_post_action(self, req: falcon.Request, resp: falcon.Response, id: int, action: str) -> None:
        body = _body(req)
        resp.media = self.db.act_on_request(
            id, action, trx_id=body.get("trx_id"), note=body.get("note"), actor=req.context.actor, idem_key=_idem(req)
        )


class BalanceRequests(_Resource):
    """``POST /balance-requests`` and ``GET /balance-requests?status=&limit=``."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = _body(req)
        resp.media = self.db.create_balance_request(
            amount=body.get("amount"), note=body.get("note"), actor=req.context.actor, idem_key=_idem(req)
        )
        resp.status = falcon.HTTP_201

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {
            "items": self.db.list_balance_requests(
                actor=req.context.actor, status=req.get_param("status"), limit=_limit(req)
            )
        }


class BalanceRequest(_Resource):
    """``GET /balance-requests/{id}`` and ``POST /balance-requests/{id}/approve|deny``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, id: int) -> None:
        resp.media = self.db.get_balance_request(id, actor=req.context.actor)

    def on_post_decision(self, req: falcon.Request, resp: falcon.Response, id: int, decision: str) -> None:
        if decision not in ("approve", "deny"):
            raise HostError("not_found", "no such decision", 404)
        resp.media = self.db.decide_balance_request(
            id, approve=decision == "approve", actor=req.context.actor, idem_key=_idem(req)
        )


def _host_error(req: falcon.Request, resp: falcon.Response, ex: HostError, params: dict) -> None:
    resp.status = ex.status
    resp.media = {"error": {"code": ex.code, "message": ex.message}}
    if ex.status == 401:
        resp.set_header("WWW-Authenticate", "Bearer")


def _http_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, params: dict) -> None:
    code = _HTTP_CODES.get(ex.status_code, "invalid" if ex.status_code < 500 else "internal")
    resp.status = ex.status_code
    resp.media = {"error": {"code": code, "message": ex.description or ex.title}}
    resp.set_headers(ex.headers or {})


def _crash(req: falcon.Request, resp: falcon.Response, ex: Exception, params: dict) -> None:
    log.exception("sandbox error on %s %s", req.method, req.path)
    resp.status = 500
    resp.media = {"error": {"code": "internal", "message": "internal error"}}


def create_sandbox_app(db: SandboxDB, api_key: str) -> falcon.App:
    """The sandbox host's WSGI app: every route of the REST API under ``/api/v1``."""
    if not api_key:
        raise ValueError("the sandbox needs an API key")
    app = falcon.App(middleware=[Auth(api_key)])
    app.add_error_handler(Exception, _crash)
    app.add_error_handler(falcon.HTTPError, _http_error)
    app.add_error_handler(HostError, _host_error)
    catalogue, request, balance_request = Catalogue(db), Request(db), BalanceRequest(db)
    app.add_route(f"{API}/resellers", Resellers(db))
    app.add_route(f"{API}/resellers/number-change", NumberChange(db))
    app.add_route(f"{API}/resellers/{{ref}}", Reseller(db))
    app.add_route(f"{API}/resellers/{{ref}}/children", Children(db))
    app.add_route(f"{API}/resellers/{{ref}}/reset", Reset(db))
    app.add_route(f"{API}/resellers/{{ref}}/pin", Pin(db))
    app.add_route(f"{API}/resellers/{{ref}}/pin/verify", PinVerify(db))
    app.add_route(f"{API}/payments", Payments(db))
    app.add_route(f"{API}/payments/{{id:int}}", Payment(db))
    app.add_route(f"{API}/services", catalogue, suffix="services")
    app.add_route(f"{API}/operators", catalogue, suffix="operators")
    app.add_route(f"{API}/packages", catalogue, suffix="packages")
    app.add_route(f"{API}/requests", Requests(db))
    app.add_route(f"{API}/requests/{{id:int}}", request)
    app.add_route(f"{API}/requests/{{id:int}}/{{action}}", request, suffix="action")
    app.add_route(f"{API}/summary", Summary(db))
    app.add_route(f"{API}/balance-requests", BalanceRequests(db))
    app.add_route(f"{API}/balance-requests/{{id:int}}", balance_request)
    app.add_route(f"{API}/balance-requests/{{id:int}}/{{decision}}", balance_request, suffix="decision")
    return app
