"""The fake Graph API's ``POST /{version}/{waba_id}/message_templates``.

It checks a template the way Meta's endpoint does before review (name,
language, category, a body whose parameters run 1..n with one example each,
never at the start or end nor side by side; an AUTHENTICATION template
without body text but with an OTP button) and keeps what it took, so tests
see what an operator's ``wa-addon templates --submit`` would have filed.
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any

ALREADY_EXISTS = 2388024  # Meta's error_subcode for a name and language taken already
CATEGORIES = ("UTILITY", "MARKETING", "AUTHENTICATION")
_NAME = re.compile(r"[a-z0-9_]{1,512}")
_PARAM = re.compile(r"\{\{(\d+)\}\}")


class TemplateStore:
    """The templates filed, per WhatsApp Business Account: (waba, name, language) -> template."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.filed: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def create(self, waba_id: str, body: Any) -> tuple[int, dict[str, Any]]:
        """Meta's answer to filing ``body``: (HTTP status, JSON)."""
        problem = invalid(body)
        if problem:
            return 400, _error(problem)
        key = (waba_id, body["name"], body["language"])
        with self._lock:
            if key in self.filed:
                return 400, _error("Content in this language already exists", ALREADY_EXISTS)
            self.filed[key] = body
            ident = f"{next(self._ids):015d}"
        return 200, {"id": ident, "status": "PENDING", "category": body["category"]}


def invalid(template: Any) -> str:
    """Why Meta would refuse ``template`` ("" if it would take it for review)."""
    if not isinstance(template, dict) or not _NAME.fullmatch(str(template.get("name", ""))):
        return "name must be lowercase letters, digits and underscores"
    if not template.get("language") or template.get("category") not in CATEGORIES:
        return "language and category (UTILITY, MARKETING, AUTHENTICATION) are required"
    parts = {c.get("type"): c for c in template.get("components") or [] if isinstance(c, dict)}
    if "BODY" not in parts:
        return "a BODY component is required"
    if template["category"] == "AUTHENTICATION":
        buttons = (parts.get("BUTTONS") or {}).get("buttons") or []
        ok = "text" not in parts["BODY"] and any(b.get("type") == "OTP" for b in buttons)
        return "" if ok else "an AUTHENTICATION template has Meta's own body text and an OTP button"
    return _body_problem(parts["BODY"])


def _body_problem(body: dict[str, Any]) -> str:
    text = str(body.get("text", ""))
    numbers = [int(n) for n in _PARAM.findall(text)]
    examples = ((body.get("example") or {}).get("body_text") or [[]])[0]
    if numbers != list(range(1, len(numbers) + 1)) or len(examples) != len(numbers):
        return "parameters must run {{1}}..{{n}} in order, with one example each"
    if numbers and (_PARAM.match(text) or re.search(r"\{\{\d+\}\}\s*$", text) or re.search(r"\}\}\s*\{\{", text)):
        return "a parameter may not start or end the body, nor follow another"
    return ""


def _error(message: str, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": f"(#100) {message}", "type": "OAuthException", "code": 100}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}
