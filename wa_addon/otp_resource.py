"""``POST {prefix}/otp`` and ``POST {prefix}/otp/verify``: one-time codes for a host's login page.

The host key is the bearer.  What a code is, and how it is issued, sent and
checked, is :mod:`wa_addon.otp`; these resources only translate HTTP.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

import falcon

from wa_addon.http_errors import ApiError, read_body
from wa_addon.otp import RateLimited, issue, message, verify
from wa_addon.phones import parse_phone
from wa_addon.queue import outbox
from wa_addon.runtime import Runtime
from wa_addon.sealing import sealer

MAX_BODY = 64 * 1024  # a phone and a code
NOT_AN_OBJECT = ("bad_json", "the body must be a JSON object")


def host_key(req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]) -> None:
    """``@falcon.before``: the host key as bearer, or 401."""
    key = resource.rt.settings.host_key
    scheme, _, token = (req.get_header("Authorization") or "").partition(" ")
    if not key or scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
        raise ApiError(falcon.HTTP_401, "unauthorized", "missing or wrong bearer key (the host key)")


class _CodeResource:
    """Shared steps: a JSON body with a phone number.  Redis down: 503 (the app's handler)."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    def phone_and_body(self, req: falcon.Request) -> tuple[str, dict[str, Any]]:
        """The body (a JSON object) and its phone number, or 400."""
        code, message = NOT_AN_OBJECT  # a body over the limit is not one either
        try:
            body = json.loads(read_body(req, MAX_BODY, status=falcon.HTTP_400, code=code, message=message) or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ApiError(falcon.HTTP_400, code, message)
        phone = parse_phone(str(body.get("phone") or ""), self.rt.settings.country)
        if phone is None:
            raise ApiError(falcon.HTTP_400, "bad_phone", "phone is not a phone number")
        return phone, body


@falcon.before(host_key)
class OtpIssue(_CodeResource):
    """``POST {prefix}/otp`` ``{"phone", "language"?}``: send a code over WhatsApp."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        phone, body = self.phone_and_body(req)
        if not self.rt.switches.notify("otp"):
            raise ApiError(falcon.HTTP_503, "disabled", "one-time codes are switched off")
        try:
            code = issue(self.rt, phone)
        except RateLimited as exc:
            wait = f"too many codes for this phone; retry in {exc.retry_after} s"
            raise ApiError(falcon.HTTP_429, "rate_limited", wait, {"Retry-After": str(exc.retry_after)}) from exc
        msgs = message(self.rt, phone, code, body.get("language"))
        outbox.push(self.rt, sealer(self.rt.settings).seal_messages(msgs))
        resp.media = {"sent": True, "expires_in": self.rt.settings.otp_ttl}


@falcon.before(host_key)
class OtpVerify(_CodeResource):
    """``POST {prefix}/otp/verify`` ``{"phone", "code"}``: ``{"valid": bool}``; a valid code is used up."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        phone, body = self.phone_and_body(req)
        resp.media = {"valid": verify(self.rt, phone, str(body.get("code") or ""))}
