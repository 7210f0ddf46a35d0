"""``POST {prefix}/hooks``: the host's signed events.

Only HTTP translation lives here (no Falcon hooks: in this package "hooks"
are the host's events); checking and queueing are the intake's job.
Answers: 200 taken (also for an event id already taken), 400 not an event,
401 bad or stale signature, 413 too large, 503 Redis down (retry).
"""

from __future__ import annotations

import logging

import falcon

from wa_addon.hooks.events import EventError
from wa_addon.hooks.intake import EventIntake
from wa_addon.hooks.signing import HEADER, SignatureError
from wa_addon.http_errors import ApiError, read_body

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024  # events are small; a bigger body is a mistake or an attack


class HookResource:
    """The hook endpoint.

    Args:
        intake: checks, dedupes and queues each event.
    """

    def __init__(self, intake: EventIntake):
        self._intake = intake

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Verify the signature over the raw body, queue the event, answer fast.

        Redis down: the app's handler answers 503 and the host delivers the same event again later.
        """
        raw = read_body(req, MAX_BODY, message=f"an event body is at most {MAX_BODY} bytes")
        try:
            event = self._intake.receive(raw, req.get_header(HEADER))
        except SignatureError as exc:
            log.warning("hook refused: %s", exc.reason)
            raise ApiError(falcon.HTTP_401, "bad_signature", exc.reason) from exc
        except EventError as exc:
            log.warning("hook refused: %s", exc.code)
            raise ApiError(falcon.HTTP_400, exc.code, exc.message) from exc
        resp.media = {"ok": True, "id": event.id}
