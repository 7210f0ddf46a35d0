"""``{prefix}/device/...``: the HTTP side of the device transport (the phones).

Only HTTP translation lives here: tokens, queueing and leasing are in
:mod:`wa_addon.transports.device`, the storing of inbound chats is the
intake's job (the same intake as the Cloud API's).  Every endpoint takes the
phone's token as ``Authorization: Bearer ...``; the AutoResponder webhook also
takes it as ``X-Device-Token`` (AutoResponder's custom headers) or, where the
app cannot set headers, as ``?token=`` (which proxies may log: the header is better).
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any, Protocol

import falcon

from wa_addon.http_errors import ApiError, read_body
from wa_addon.messages import Inbound, StatusUpdate, short_hash
from wa_addon.sealing import Sealer, sealer
from wa_addon.settings import Settings
from wa_addon.transports.device import DeviceTransport
from wa_addon.transports.device_queue import ACK_STATUSES, Leased

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
MAX_ITEMS = 100  # messages or acks in one request
MAX_LEASE = 50  # messages one poll may lease


class Intake(Protocol):
    def submit(self, inbound: list[Inbound], statuses: list[StatusUpdate]) -> int: ...


class BadRequest(ApiError):
    """The body is not what the protocol says: 400 with ``code``."""

    def __init__(self, code: str, message: str):
        super().__init__(falcon.HTTP_400, code, message)


class Unauthorized(ApiError):
    """401: no token, an unknown one, or a revoked one; ``ask``: tell the client to send a token."""

    def __init__(self, message: str, *, ask: bool = True):
        challenge = {"WWW-Authenticate": 'Bearer realm="wa-addon device"'} if ask else None
        super().__init__(falcon.HTTP_401, "unauthorized", message, challenge)


def authenticate(
    req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any], query_token: bool = False
) -> None:
    """``@falcon.before``: the phone a token names, as ``req.context.phone``; else 401.

    Args:
        query_token: the token may also come as ``X-Device-Token`` or ``?token=`` (AutoResponder only).
    """
    req.context.device_token = _token(req, query_token)
    req.context.phone = resource.device.authenticate(req.context.device_token)
    if req.context.phone is None:
        raise Unauthorized("missing, unknown or revoked device token")


def _token(req: falcon.Request, query_token: bool) -> str | None:
    auth = req.get_header("Authorization") or ""
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    if not query_token:
        return None
    return req.get_header("X-Device-Token") or req.get_param("token")


def read_json(req: falcon.Request) -> Any:
    """The request body as JSON, or BadRequest."""
    raw = read_body(req, MAX_BODY, status=falcon.HTTP_400, message=f"the body is over {MAX_BODY} bytes")
    try:
        return json.loads(raw or b"null")
    except ValueError as exc:
        raise BadRequest("bad_json", "the body is not JSON") from exc


def _items(body: Any, plural: str) -> list[dict[str, Any]]:
    """One object, a list of them, or ``{plural: [...]}`` -> a list of dicts."""
    items = body.get(plural) if isinstance(body, dict) and plural in body else body
    items = [items] if isinstance(items, dict) else items
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise BadRequest("bad_payload", f"expected an object, a list of objects or {{{plural!r}: [...]}}")
    if len(items) > MAX_ITEMS:
        raise BadRequest("too_many", f"at most {MAX_ITEMS} items per request")
    return items


def _text(item: dict[str, Any], field: str) -> str:
    value = item.get(field)
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise BadRequest("bad_payload", f"each item needs a non-empty string {field!r}")
    return str(value)


class Phones:
    """``{prefix}/device/...``: one responder per endpoint, each behind the token check (:func:`authenticate`).

    Wired by ``create_app``: ``app.add_route("/device/inbound", phones, suffix="inbound")`` and so on.
    Redis down: the app's error handler answers 503 (the phone sends again).
    """

    def __init__(self, device: DeviceTransport, settings: Settings, intake: Intake):
        self.device, self.settings, self.intake = device, settings, intake

    @falcon.before(authenticate)
    def on_post_inbound(self, req: falcon.Request, resp: falcon.Response) -> None:
        """``POST /device/inbound``: the chats a phone saw (one, a list, or ``{"messages": [...]}``)."""
        phone = req.context.phone
        items = _items(read_json(req), "messages")
        parsed = [(_text(i, "id"), _text(i, "from"), _text(i, "text"), i) for i in items]
        accepted: list[Inbound] = []
        rejected = []
        for index, (msg_id, sender, text, item) in enumerate(parsed):
            number = self.device.sender_number(sender)
            if item.get("group"):
                rejected.append({"index": index, "code": "group", "message": "group chats are ignored"})
            elif number is None:
                rejected.append(
                    {
                        "index": index,
                        "code": "unknown_sender",
                        "message": "not a phone number nor a mapped contact name",
                    }
                )
            else:
                accepted.append(
                    Inbound(
                        transport="device",
                        msg_id=f"{number}:{msg_id}",
                        sender=number,
                        text=text,
                        timestamp=_seconds(item.get("time")),
                        via=phone,
                    )
                )
        self.device.remember(phone, [m.sender for m in accepted])
        self.intake.submit(accepted, [])
        log.info("device %s: %d messages in, %d rejected", phone, len(accepted), len(rejected))
        resp.media = {"ok": True, "accepted": len(accepted), "rejected": rejected}

    @falcon.before(authenticate)
    def on_get_outbox(self, req: falcon.Request, resp: falcon.Response) -> None:
        """``GET /device/outbox?wait=N&max=M``: lease what to send (a long poll)."""
        phone = req.context.phone
        wait = min(max(_number(req, "wait", 0), 0), self.settings.device_poll_max)
        count = min(max(int(_number(req, "max", 10)), 1), MAX_LEASE)
        # No pause check here: the outbox holds messages before they reach the
        # phones' queue, so what is in it is the "service paused" answer (sent
        # while off) or was handed over before the switch went off.
        leased = self.device.poll(phone, req.context.device_token, wait, count)
        if leased is None:  # revoked while it waited: nothing more goes to it
            raise Unauthorized("the device token was revoked", ask=False)
        self.device.tokens.touch(phone)  # the poll's end is a contact too
        opened = sealer(self.settings)  # a password or PIN is plain only on its way to the phone
        resp.media = {"messages": [_leased(m, opened) for m in leased], "lease_seconds": self.settings.device_lease}

    @falcon.before(authenticate)
    def on_post_ack(self, req: falcon.Request, resp: falcon.Response) -> None:
        """``POST /device/ack``: sent, failed (with its error) or retry, per lease."""
        phone = req.context.phone
        acks = [_ack(item) for item in _items(read_json(req), "acks")]
        results = []
        for lease, status, error in acks:
            result = self.device.ack(phone, req.context.device_token, lease, status, error)
            if status == "failed":
                log.warning("device %s: send failed for lease %s: %s", phone, lease, error[:80])
            results.append({"lease": lease, "result": result})
        resp.media = {"results": results}

    @falcon.before(authenticate, query_token=True)
    def on_post_autoresponder(self, req: falcon.Request, resp: falcon.Response) -> None:
        """``POST /device/autoresponder``: AutoResponder for WA's "web server" rule.

        The reply goes back in the same exchange: we wait up to
        ``device_reply_wait`` seconds for it, holding the contact's messages from
        the polling phones meanwhile, and answer with what was taken in that time;
        a late reply goes to a polling phone or this contact's next exchange.
        """
        resp.media = self._exchange(req.context.phone, req.context.device_token, _query(read_json(req)))

    def _exchange(self, phone: str, token: str, query: dict[str, Any]) -> dict[str, Any]:
        if query.get("isTestMessage"):
            return {"replies": [{"message": f"wa-addon: connected as {phone}"}]}
        sender, text = str(query.get("sender") or ""), str(query.get("message") or "").strip()
        if query.get("isGroup") or not text:
            return {"replies": []}
        number = self.device.sender_number(sender)
        if number is None:
            log.warning("autoresponder %s: unmapped contact name (hash %s)", phone, short_hash(sender, 8))
            return {"replies": []}
        # Not remember()ed as the contact's phone: AutoResponder cannot send
        # unasked, so that preference would only hold notifications back.
        inbound, wait = self.device.chat(number, text, via=phone), self.settings.device_reply_wait
        with self.device.queue.hold(number, wait):  # from before the reply can exist
            self.intake.submit([inbound], [])
            out = self.device.exchange(phone, number, inbound.reply_id, wait, token)
        opened = sealer(self.settings)
        return {"replies": [{"message": opened.open_message(m).text} for m in out]}


def _query(body: Any) -> dict[str, Any]:
    query = body.get("query") if isinstance(body, dict) else None
    if not isinstance(query, dict):
        raise BadRequest("bad_payload", "expected {'query': {'sender', 'message', ...}}")
    return query


def _ack(item: dict[str, Any]) -> tuple[str, str, str]:
    lease, status = _text(item, "lease"), _text(item, "status")
    if status not in ACK_STATUSES:
        raise BadRequest("bad_status", f"status is one of {', '.join(ACK_STATUSES)}")
    error = item.get("error")
    return lease, status, error if isinstance(error, str) else ""


def _leased(m: Leased, opened: Sealer) -> dict[str, Any]:
    return {
        "id": m.id,
        "lease": m.lease,
        "to": m.message.to,
        "text": opened.open_message(m.message).text,
        "deadline": round(m.deadline, 3),
    }


def _number(req: falcon.Request, name: str, default: float) -> float:
    raw = req.get_param(name)
    try:
        value = float(raw) if raw is not None else default
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise BadRequest("bad_param", f"{name} must be a number")
    return value


def _seconds(value: Any) -> int:
    # Android clocks give milliseconds; the protocol says seconds; take either.
    if not isinstance(value, int | float) or isinstance(value, bool):
        return 0
    return int(value / 1000 if value > 10**11 else value)
