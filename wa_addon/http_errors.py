"""The add-on's one error answer: ``{"error": {"code", "message"}}`` with a 4xx/5xx status."""

from __future__ import annotations

import falcon


def json_error(resp: falcon.Response, status: str, code: str, message: str) -> None:
    """Answer ``status`` with a JSON error a client can branch on (``code``) and a person read."""
    resp.status = status
    resp.media = {"error": {"code": code, "message": message}}
