"""``{prefix}/webhooks/cloud``: Meta's webhook handshake and deliveries.

Only HTTP translation lives here; the checks and parsing are in
:mod:`wa_addon.transports.cloud`, the storing is the ``intake``'s job.
"""

from __future__ import annotations

import hmac
import logging
from typing import Protocol

import falcon

from wa_addon.http_errors import ApiError, read_body
from wa_addon.messages import Inbound, StatusUpdate
from wa_addon.settings import Settings
from wa_addon.store import DOWN, StoreUnavailable
from wa_addon.transports.cloud_webhook import SIGNATURE_HEADER, WebhookError, parse_webhook, verify_signature
from wa_addon.transports.window import ServiceWindow

log = logging.getLogger(__name__)

MAX_BODY = 3 * 1024 * 1024  # Meta's webhook payloads stay under 3 MB; more is not Meta


class Intake(Protocol):
    """Where parsed webhook items go (queued for the workers)."""

    def submit(self, inbound: list[Inbound], statuses: list[StatusUpdate]) -> int:
        """Queue the items; may raise :class:`StoreUnavailable`."""
        ...


class CloudWebhook:
    """The Cloud API webhook resource.

    Args:
        settings: uses ``cloud_verify_token``, ``cloud_app_secret``, ``cloud_phone_number_id``.
        intake: receives every inbound message and status of a delivery.
        window: records when each sender last wrote (the 24-hour window).
    """

    def __init__(self, settings: Settings, intake: Intake, window: ServiceWindow | None = None) -> None:
        self._settings = settings
        self._intake = intake
        self._window = window

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Answer Meta's subscription handshake with ``hub.challenge``."""
        token = self._settings.cloud_verify_token
        given = req.get_param("hub.verify_token") or ""
        if req.get_param("hub.mode") != "subscribe" or not token or not _same(given, token):
            raise ApiError(falcon.HTTP_403, "bad_verify_token", "hub.mode or hub.verify_token is wrong")
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = req.get_param("hub.challenge") or ""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Check the signature, parse, hand everything to the intake, answer fast.

        Redis down: the app's handler answers 503 and Meta delivers the same webhook again later.
        """
        raw = read_body(req, MAX_BODY, message=f"a webhook body is at most {MAX_BODY} bytes")
        secret = self._settings.cloud_app_secret
        if not verify_signature(secret, raw, req.get_header(SIGNATURE_HEADER)):
            log.warning("cloud webhook: bad signature (%d bytes, app secret %s)", len(raw), _set(secret))
            raise ApiError(falcon.HTTP_401, "bad_signature", f"{SIGNATURE_HEADER} does not match the body")
        try:
            inbound, statuses = parse_webhook(raw, self._settings.cloud_phone_number_id)
        except WebhookError as exc:
            log.warning("cloud webhook: unreadable body: %s", exc.reason)
            raise ApiError(falcon.HTTP_400, "bad_payload", exc.reason) from exc
        self._intake.submit(inbound, statuses)
        self._open_windows(inbound)
        # Counts only: message text is chat content and stays out of the logs.
        log.info("cloud webhook: %d messages, %d statuses", len(inbound), len(statuses))
        resp.media = {"ok": True}

    def _open_windows(self, inbound: list[Inbound]) -> None:
        if self._window is None or not inbound:
            return
        try:
            self._window.record(inbound)
        except (StoreUnavailable, *DOWN):  # the messages are queued; a 131047 still finds the template
            log.warning("cloud webhook: could not record the 24-hour windows")


def _set(secret: str) -> str:
    return "set" if secret else "NOT SET (WA_CLOUD_APP_SECRET)"


def _same(given: str, expected: str) -> bool:
    # Constant time, on bytes: compare_digest refuses non-ASCII str.
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())
