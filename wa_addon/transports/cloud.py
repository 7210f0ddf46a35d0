"""Meta WhatsApp Cloud API: webhook signature, webhook parsing and sending.

No web framework in here (pywa style): :func:`verify_signature` and
:func:`parse_webhook` take the raw request bytes, :class:`CloudTransport` posts
to the Graph API.  :mod:`wa_addon.transports.cloud_resource` is the thin Falcon
resource in front of the first two.

Send errors are classified by Meta's ``error.code`` in the JSON body, not by
the HTTP status, through the table in :mod:`wa_addon.transports.cloud_errors`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import requests

from wa_addon.httpclient import Client, keepalive_session
from wa_addon.messages import NUMBER_CHANGED, Inbound, Outbound, StatusUpdate
from wa_addon.sealing import sealer
from wa_addon.settings import Settings
from wa_addon.transports.base import FAILED, RETRY, SENT, SendResult
from wa_addon.transports.cloud_errors import (
    AUTH_BACKOFF,
    DEFAULT_TRANSIENT_BACKOFF,
    SUPPORTED_ERROR_CODES,
    ErrorClass,
    classify_error,
    retry_after_seconds,
)
from wa_addon.transports.cloud_interactive import interactive

__all__ = [
    "AUTH_BACKOFF",
    "SIGNATURE_HEADER",
    "SUPPORTED_ERROR_CODES",
    "CloudTransport",
    "WebhookError",
    "build_body",
    "classify_error",
    "parse_webhook",
    "retry_after_seconds",
    "signature_header",
    "verify_signature",
]

log = logging.getLogger(__name__)

NAME = "cloud"
# Errors that hold back one recipient only (the pair rate limit), not the number.
RECIPIENT_CODES = frozenset({131056})
WEBHOOK_OBJECT = "whatsapp_business_account"
SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")

# Message types that are not something the user typed: no usage line for them.  An edit or a
# deletion ("revoke") of a message already answered is not a new command either.
IGNORED_TYPES = frozenset({"system", "reaction", "edit", "revoke"})
# Interactive answers to something we never ask: a flow's completion, a call permission.
IGNORED_INTERACTIVE = frozenset({"nfm_reply", "call_permission_reply"})

# Our language codes -> Meta's template language codes.  Meta accepts both
# plain "bn" and "en"; a template must be approved in the code sent.
TEMPLATE_LANGUAGES = {"bn": "bn", "en": "en"}
# A one-time code goes as an AUTHENTICATION template: its copy-code button takes the code too.
OTP_KIND = "notify.otp"


class WebhookError(ValueError):
    """The body is not a WhatsApp webhook we can read (answer 400).

    Attributes:
        reason: a short reason, safe to return to the caller.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify_signature(app_secret: str, raw: bytes, header: str | None) -> bool:
    """Check ``X-Hub-Signature-256`` against the raw body.

    The HMAC is over the bytes exactly as received: Meta escapes ``/`` and
    non-ASCII characters, so a re-serialised body would not match.

    Args:
        app_secret: the Meta app secret; empty means nothing can be verified.
        raw: the request body bytes.
        header: the header value, ``sha256=<64 hex digits>``.

    Returns:
        True only for a well-formed header whose digest matches.
    """
    if not app_secret or not isinstance(header, str):
        return False
    match = _SIGNATURE.fullmatch(header.strip())
    if match is None:
        return False
    expected = hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, match.group(1).lower())


def signature_header(app_secret: str, raw: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta would send for ``raw``."""
    return "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


def parse_webhook(raw: bytes | str, phone_number_id: str = "") -> tuple[list[Inbound], list[StatusUpdate]]:
    """Every message and status in a (possibly batched) webhook body.

    Walks every entry, every ``messages`` change, every message and status.
    Optional fields may be missing or of the wrong type: such items are read
    as far as they go, or skipped when they have no id or no sender.

    Args:
        raw: the request body.
        phone_number_id: ours; changes addressed to another number of the same
            business account (they share the webhook) are skipped.  Empty: take all.

    Returns:
        The inbound messages and the delivery statuses, in payload order.

    Raises:
        WebhookError: the body is not JSON or not a WhatsApp webhook.
    """
    payload = _load(raw)
    inbound: list[Inbound] = []
    statuses: list[StatusUpdate] = []
    for value in _message_values(payload):
        addressed = _str(_get(value, "metadata", "phone_number_id"))
        if phone_number_id and addressed and addressed != phone_number_id:
            continue  # another number's chat: not ours to answer
        contacts = _dicts(value.get("contacts"))
        inbound += [m for m in (_inbound(msg, contacts) for msg in _dicts(value.get("messages"))) if m]
        statuses += [s for s in map(_status, _dicts(value.get("statuses"))) if s]
        _log_value_errors(value)
    return inbound, statuses


def _load(raw: bytes | str) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except (ValueError, TypeError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise WebhookError("body is not JSON") from exc
    if not isinstance(payload, dict) or payload.get("object") != WEBHOOK_OBJECT:
        raise WebhookError("not a WhatsApp Business Account webhook")
    if not isinstance(payload.get("entry"), list):
        raise WebhookError("webhook has no entry list")
    return payload


def _message_values(payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The ``value`` of every ``messages`` change of every entry."""
    for entry in _dicts(payload["entry"]):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if change.get("field", "messages") == "messages" and isinstance(value, dict):
                yield value


def _inbound(msg: dict[str, Any], contacts: list[dict[str, Any]]) -> Inbound | None:
    kind = _str(msg.get("type")) or "unknown"
    msg_id = _str(msg.get("id"))
    if kind == "system" and _str(_get(msg, "system", "type")) == NUMBER_CHANGED:
        return _number_changed(msg, msg_id)
    if not msg_id or kind in IGNORED_TYPES or _str(_get(msg, "interactive", "type")) in IGNORED_INTERACTIVE:
        return None
    phone = _phone(msg.get("from"))
    user_id = _str(msg.get("from_user_id"))
    contact = _match_contact(contacts, phone, user_id)
    phone = phone or _phone(contact.get("wa_id"))
    user_id = user_id or _str(contact.get("user_id"))
    if not phone and not user_id:
        return None  # nobody to answer or to identify
    profile = contact.get("profile")
    name = _str(profile.get("name")) if isinstance(profile, dict) else ""
    reader = _TEXT_READERS.get(kind)
    return Inbound(
        transport=NAME,
        msg_id=msg_id,
        sender=phone,
        text=reader(msg) if reader else "",
        user_id=user_id or None,
        name=name or None,
        timestamp=_int(msg.get("timestamp")),
        kind=kind,
    )


def _number_changed(msg: dict[str, Any], msg_id: str) -> Inbound | None:
    """``user_changed_number``: ``from`` is the old number, ``system.wa_id`` the new one (the Inbound's text)."""
    old, new = _phone(msg.get("from")), _phone(_get(msg, "system", "wa_id"))
    if not msg_id or not old or not new:
        return None
    return Inbound(
        transport=NAME, msg_id=msg_id, sender=old, text=new, timestamp=_int(msg.get("timestamp")), kind=NUMBER_CHANGED
    )


def _match_contact(contacts: list[dict[str, Any]], phone: str, user_id: str) -> dict[str, Any]:
    """The contact describing this sender: by phone, by BSUID, or the only one."""
    for contact in contacts:
        if phone and _phone(contact.get("wa_id")) == phone:
            return contact
        if user_id and _str(contact.get("user_id")) == user_id:
            return contact
    if len(contacts) != 1:
        return {}
    # Meta sends one contact per sender.  A lone contact that did not match
    # is still ours unless it names a different phone or BSUID.
    only = contacts[0]
    clash = (phone and _str(only.get("wa_id"))) or (user_id and _str(only.get("user_id")))
    return {} if clash else only


def _text_body(msg: dict[str, Any]) -> str:
    return _str(_get(msg, "text", "body"))


def _interactive_text(msg: dict[str, Any]) -> str:
    """The chosen reply's id, or its title when the id is empty.

    The id wins because we set it when sending the buttons or list (a command
    such as ``BAL``); the title is a display label, possibly in Bengali.
    """
    interactive = msg.get("interactive")
    if not isinstance(interactive, dict):
        return ""
    kinds = (_str(interactive.get("type")), "button_reply", "list_reply")
    reply = next((r for r in map(interactive.get, kinds) if isinstance(r, dict)), {})
    return _str(reply.get("id")) or _str(reply.get("title"))


def _button_text(msg: dict[str, Any]) -> str:
    """A template quick-reply: its payload (ours, like an id), else its label."""
    return _str(_get(msg, "button", "payload")) or _str(_get(msg, "button", "text"))


_TEXT_READERS = {"text": _text_body, "interactive": _interactive_text, "button": _button_text}


def _status(item: dict[str, Any]) -> StatusUpdate | None:
    wa_msg_id = _str(item.get("id"))
    status = _str(item.get("status"))
    if not wa_msg_id or not status:
        return None
    recipient = _phone(item.get("recipient_id")) or _str(item.get("recipient_user_id"))
    return StatusUpdate(
        transport=NAME,
        wa_msg_id=wa_msg_id,
        status=status,
        recipient=recipient,
        timestamp=_int(item.get("timestamp")),
        error=_status_error(item.get("errors")),
    )


def _status_error(errors: Any) -> str | None:
    """``"<code> <title>"`` of the first error of a status, if any."""
    first = next(iter(_dicts(errors)), None)
    if first is None:
        return None
    code = _str(first.get("code"))
    title = _str(first.get("title")) or _str(first.get("message"))
    return f"{code} {title}".strip() or "unknown error"


def _log_value_errors(value: dict[str, Any]) -> None:
    # Account-level errors (not tied to one message): codes only, no content.
    codes = [_str(err.get("code")) or "?" for err in _dicts(value.get("errors"))]
    if codes:
        log.warning("cloud webhook carried errors: codes=%s", ",".join(codes))


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a list; anything else reads as empty."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _phone(value: Any) -> str:
    """E.164 digits without ``+``, or "" for anything that is not a phone (a BSUID)."""
    text = _str(value).strip().removeprefix("+")
    # isascii(): str.isdigit() alone would also pass Bengali and other digits.
    return text if text.isascii() and text.isdigit() else ""


def _int(value: Any) -> int:
    return _code(value) or 0


def build_body(message: Outbound) -> dict[str, Any]:
    """The Graph API JSON for ``message``: a template in template mode, buttons or a list, else a text."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    # A business-scoped user id (CC.digits) goes in "recipient"; phones in "to".
    body["recipient" if "." in message.to else "to"] = message.to
    if message.mode == "template":
        body.update(type="template", template=_template(message))
    elif (choices := interactive(message)) is not None:
        body.update(type="interactive", interactive=choices)
    else:
        body.update(type="text", text={"preview_url": False, "body": message.text})
    return body


def _template(message: Outbound) -> dict[str, Any]:
    language = TEMPLATE_LANGUAGES.get(message.language, message.language)
    template: dict[str, Any] = {"name": message.template, "language": {"code": language}}
    if message.params:
        parameters = [{"type": "text", "text": str(p)} for p in message.params]
        template["components"] = [{"type": "body", "parameters": parameters}]
    if message.kind == OTP_KIND and message.params:
        button = {"type": "button", "sub_type": "url", "index": "0", "parameters": parameters[:1]}
        template["components"].append(button)
    return template


# A send that never connected never reached Meta (its retry cannot be a
# duplicate), so connecting may take only this long; WA_CLOUD_TIMEOUT is the
# read timeout, far above the Graph's answer times: a send answered after it
# may have gone out, and its retry reaches the user twice (docs/reliability.md).
CONNECT_TIMEOUT = 3.0


class CloudTransport:
    """Sends :class:`Outbound` messages through the WhatsApp Cloud API.

    One keep-alive client (:mod:`wa_addon.httpclient`) is kept so sends reuse connections.
    Never raises for a delivery error; the outcome is in the :class:`SendResult`.

    Args:
        settings: uses ``cloud_token``, ``cloud_phone_number_id``,
            ``graph_base`` and ``cloud_timeout``.
        session: a session to use (tests); a new one by default.
    """

    name = NAME

    def __init__(self, settings: Settings, session: Client | None = None) -> None:
        self._token = settings.cloud_token
        self._timeout = settings.cloud_timeout
        self._url = f"{settings.graph_base}/{settings.cloud_phone_number_id}/messages"
        self._session: Client = session or keepalive_session(settings.send_slots)
        self._headers = {"Authorization": f"Bearer {self._token}"}
        self.mps = settings.cloud_mps
        self.rate_name = f"cloud:{settings.cloud_phone_number_id}"
        self._sealer = sealer(settings)

    def send(self, message: Outbound) -> SendResult:
        """Try once to send ``message``.

        Args:
            message: the message; ``mode == "template"`` sends ``template``.

        Returns:
            SENT with Meta's message id, or RETRY / REENGAGE / FAILED.
        """
        if message.mode == "template" and not message.template:
            return SendResult(FAILED, error_code="no_template", error="template mode without a template name")
        message = self._sealer.open_message(message)  # a password or PIN is plain only on its way out
        try:
            response = self._session.post(
                self._url,
                json=build_body(message),
                headers=self._headers,
                timeout=(min(CONNECT_TIMEOUT, self._timeout), self._timeout),
            )
        except requests.ConnectTimeout:  # before Timeout: it is one too
            return _transient("connect_timeout", "cannot reach the Graph API in time (nothing was sent)")
        except requests.Timeout:
            return _transient("timeout", "Graph API did not answer in time (the message may have gone out)")
        except requests.RequestException as exc:
            # The exception text may carry the URL; only its class name is safe to keep.
            return _transient("connection", f"cannot reach the Graph API ({type(exc).__name__})")
        return self._result(response)

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    def _result(self, response: requests.Response) -> SendResult:
        body = _json_or_none(response)
        if response.ok and body is not None:
            wa_msg_id = _str(_get(next(iter(_dicts(body.get("messages"))), {}), "id"))
            if wa_msg_id:
                return SendResult(SENT, wa_msg_id=wa_msg_id)
        error = body.get("error") if body is not None else None
        error = error if isinstance(error, dict) else {}
        return self._failure(response, error)

    def _failure(self, response: requests.Response, error: dict[str, Any]) -> SendResult:
        code = _code(error.get("code"))
        if response.ok and code is None:
            # 2xx without a message id: it may have gone out, so no blind
            # retry (a duplicate); the admin decides from the failed list.
            return SendResult(FAILED, error_code="no_message_id", error="Graph API answered without a message id")
        error_class = classify_error(code, response.status_code, error.get("is_transient") is True)
        retry_after = None
        if error_class.outcome == RETRY:
            header = retry_after_seconds(response.headers.get("Retry-After"))
            retry_after = header if header is not None else error_class.backoff
        return SendResult(
            error_class.outcome,
            retry_after=retry_after,
            error_code=str(code) if code is not None else f"http_{response.status_code}",
            error=self._redact(self._error_text(code, error, error_class)),
            scope="recipient" if code in RECIPIENT_CODES else "transport",
        )

    def _error_text(self, code: int | None, error: dict[str, Any], error_class: ErrorClass) -> str:
        if error_class.credentials:
            return f"{code}: {error_class.reason}"  # Meta's text may quote token details
        detail = _str(_get(error, "error_data", "details")) or _str(error.get("message"))
        prefix = f"{code}: " if code is not None else ""
        return f"{prefix}{error_class.reason}" + (f" ({detail[:200]})" if detail else "")

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "[token]") if self._token else text


def _transient(code: str, text: str) -> SendResult:
    return SendResult(RETRY, retry_after=DEFAULT_TRANSIENT_BACKOFF, error_code=code, error=text)


def _code(value: Any) -> int | None:
    text = _str(value).strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else None


def _json_or_none(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
