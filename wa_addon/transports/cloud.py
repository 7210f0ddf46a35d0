"""Meta WhatsApp Cloud API, what goes out: :class:`CloudTransport` posts to the Graph API.

What comes in (the webhook's signature, its messages and statuses) is
:mod:`wa_addon.transports.cloud_webhook`.

Send errors are classified by Meta's ``error.code`` in the JSON body, not by
the HTTP status, through the table in :mod:`wa_addon.transports.cloud_errors`.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from wa_addon.httpclient import Client, keepalive_session
from wa_addon.messages import Outbound
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
from wa_addon.transports.cloud_webhook import NAME, as_code, as_str, dicts, get

__all__ = [
    "AUTH_BACKOFF",
    "SUPPORTED_ERROR_CODES",
    "CloudTransport",
    "build_body",
    "classify_error",
    "retry_after_seconds",
]

log = logging.getLogger(__name__)

# Errors that hold back one recipient only (the pair rate limit), not the number.
RECIPIENT_CODES = frozenset({131056})

# Our language codes -> Meta's template language codes.  Meta accepts both
# plain "bn" and "en"; a template must be approved in the code sent.
TEMPLATE_LANGUAGES = {"bn": "bn", "en": "en"}
# A one-time code goes as an AUTHENTICATION template: its copy-code button takes the code too.
OTP_KIND = "notify.otp"


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
            wa_msg_id = as_str(get(next(iter(dicts(body.get("messages"))), {}), "id"))
            if wa_msg_id:
                return SendResult(SENT, wa_msg_id=wa_msg_id)
        error = body.get("error") if body is not None else None
        error = error if isinstance(error, dict) else {}
        return self._failure(response, error)

    def _failure(self, response: requests.Response, error: dict[str, Any]) -> SendResult:
        code = as_code(error.get("code"))
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
        detail = as_str(get(error, "error_data", "details")) or as_str(error.get("message"))
        prefix = f"{code}: " if code is not None else ""
        return f"{prefix}{error_class.reason}" + (f" ({detail[:200]})" if detail else "")

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "[token]") if self._token else text


def _transient(code: str, text: str) -> SendResult:
    return SendResult(RETRY, retry_after=DEFAULT_TRANSIENT_BACKOFF, error_code=code, error=text)


def _json_or_none(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
