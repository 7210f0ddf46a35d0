"""Reply buttons and list messages for the Cloud API, within Meta's limits.

:attr:`Outbound.choices` is transport-neutral; this module turns it into
Meta's ``interactive`` object.  Limits (Meta's documentation): 3 reply
buttons with titles of at most 20 characters; a list of at most 10 rows
(over all sections) whose titles hold 24 characters and descriptions 72,
behind a button label of 20, in sections titled in 24; ids of at most 256
characters (200 for rows); a body of at most 1024 characters.  Button
titles and ids, and row ids, are unique within a message.  Titles too long
are shortened with "…"; an id is the command a tap sends back, so it is
never cut: a message whose ids do not fit, repeat, or whose titles repeat
once shortened, or whose text does not fit a body, goes as plain text (the
text always says what to type).  A list holds the first 10 choices; its
text lists them all.
"""

from __future__ import annotations

from typing import Any

from wa_addon.messages import Outbound

MAX_BUTTONS = 3
BUTTON_TITLE = 20
MAX_ROWS = 10
ROW_TITLE = 24
ROW_DESCRIPTION = 72
LIST_BUTTON = 20
SECTION_TITLE = 24
BUTTON_ID = 256
ROW_ID = 200
BODY = 1024


def interactive(message: Outbound) -> dict[str, Any] | None:
    """Meta's ``interactive`` object for ``message``, or None when it should go as text."""
    if not message.choices or len(message.text) > BODY:
        return None
    if message.menu:
        return _list(message)
    if len(message.choices) > MAX_BUTTONS:
        return None  # more than buttons can hold and no list label: the text says it all
    ids = [c["id"] for c in message.choices]
    titles = [fit(c["title"], BUTTON_TITLE) for c in message.choices]
    if not (_fits(ids, BUTTON_ID) and _unique(titles)):
        return None
    buttons = [{"type": "reply", "reply": {"id": i, "title": t}} for i, t in zip(ids, titles, strict=True)]
    return {"type": "button", "body": {"text": message.text}, "action": {"buttons": buttons}}


def _list(message: Outbound) -> dict[str, Any] | None:
    choices = message.choices[:MAX_ROWS]
    if not _fits([c["id"] for c in choices], ROW_ID):
        return None
    rows = []
    for choice in choices:
        row = {"id": choice["id"], "title": fit(choice["title"], ROW_TITLE)}
        if choice.get("description"):
            row["description"] = fit(choice["description"], ROW_DESCRIPTION)
        rows.append(row)
    label = fit(message.menu, LIST_BUTTON)
    return {
        "type": "list",
        "body": {"text": message.text},
        "action": {"button": label, "sections": [{"title": fit(label, SECTION_TITLE), "rows": rows}]},
    }


def _fits(ids: list[str], limit: int) -> bool:
    """Ids a tap can send back whole: none empty or longer than ``limit``, none twice."""
    return all(0 < len(i) <= limit for i in ids) and _unique(ids)


def _unique(items: list[str]) -> bool:
    return len(set(items)) == len(items)


def fit(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, shortened with "…"."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
