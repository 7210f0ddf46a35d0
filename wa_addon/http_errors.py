"""The add-on's one error answer, ``{"error": {"code", "message"}}`` with a 4xx/5xx status, and its wiring.

Resources raise :class:`ApiError` (Falcon's ``HTTPError`` with our body) instead of
writing error answers by hand; :func:`install` registers, once per app, the
serializer that gives every Falcon error that body and the handler that turns
:class:`StoreUnavailable`, or Redis unreachable met directly, into a 503 (the sender retries).  Bodies are read with
:func:`read_body`, which never reads more than its limit.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import falcon

from wa_addon.store import DOWN, StoreUnavailable

log = logging.getLogger(__name__)


class ApiError(falcon.HTTPError):
    """An error answer a client can branch on (``code``) and a person read (``message``)."""

    def __init__(self, status: str, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(status, title=code, description=message, headers=headers)
        self.error_code = code

    def to_dict(self, obj_type: type = dict) -> Any:
        """Our body, whichever serializer renders it (an app without :func:`install` included)."""
        return obj_type(error={"code": self.error_code, "message": self.description})


class Unavailable(ApiError):
    """503: Redis is down; Meta, the host or the phone sends the same request again later."""

    def __init__(self) -> None:
        super().__init__(falcon.HTTP_503, "unavailable", "storage is unavailable, retry later")


def read_body(
    req: falcon.Request, limit: int, *, status: str = falcon.HTTP_413, code: str = "too_large", message: str = ""
) -> bytes:
    """The raw body, never more than ``limit`` bytes of it read (a declared bigger one not at all).

    Raises:
        ApiError: ``status`` / ``code`` / ``message`` (413 ``too_large`` by default) when the body is longer.
    """
    declared_too_big = (req.content_length or 0) > limit
    raw = b"" if declared_too_big else req.bounded_stream.read(limit + 1)
    if declared_too_big or len(raw) > limit:
        raise ApiError(status, code, message or f"the body is at most {limit} bytes")
    return raw


def install(app: falcon.App) -> falcon.App:
    """Give ``app`` our error body for every Falcon error, and a 503 when Redis cannot be reached.

    That is :class:`StoreUnavailable`, or ``store.DOWN`` (a connection or timeout error) met directly:
    no resource catches them itself.
    """
    app.set_error_serializer(_serialize)
    for unreachable in (StoreUnavailable, *DOWN):
        app.add_error_handler(unreachable, _unavailable)
    return app


def _serialize(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    resp.content_type = falcon.MEDIA_JSON
    if isinstance(exc, ApiError):
        resp.text = json.dumps(exc.to_dict())
        return
    title = re.sub(r"^\d{3} ", "", exc.title or "error")  # Falcon's own titles lead with the status code
    resp.text = json.dumps({"error": {"code": title.lower().replace(" ", "_"), "message": exc.description or title}})


def _unavailable(req: falcon.Request, resp: falcon.Response, exc: Exception, params: Any) -> None:
    log.warning("%s %s: store unavailable (%s)", req.method, req.path, type(exc).__name__)
    raise Unavailable() from exc
