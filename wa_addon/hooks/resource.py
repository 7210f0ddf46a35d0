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
from wa_addon.http_errors import json_error
from wa_addon.store import StoreUnavailable

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
        """Verify the signature over the raw body, queue the event, answer fast."""
        too_big = (req.content_length or 0) > MAX_BODY
        raw = b"" if too_big else req.bounded_stream.read(MAX_BODY + 1)
        if too_big or len(raw) > MAX_BODY:
            json_error(resp, falcon.HTTP_413, "too_large", f"an event body is at most {MAX_BODY} bytes")
            return
        try:
            event = self._intake.receive(raw, req.get_header(HEADER))
        except SignatureError as exc:
            log.warning("hook refused: %s", exc.reason)
            json_error(resp, falcon.HTTP_401, "bad_signature", exc.reason)
            return
        except EventError as exc:
            log.warning("hook refused: %s", exc.code)
            json_error(resp, falcon.HTTP_400, exc.code, exc.message)
            return
        except StoreUnavailable:
            # 503 makes the host deliver the same event again later.
            log.warning("hook deferred: store unavailable")
            json_error(resp, falcon.HTTP_503, "unavailable", "storage is unavailable, retry later")
            return
        resp.media = {"ok": True, "id": event.id}
