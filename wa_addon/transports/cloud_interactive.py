"""Reply buttons and list messages for the Cloud API, within Meta's limits.

:attr:`Outbound.choices` is transport-neutral; this module turns it into
Meta's ``interactive`` object.  Limits (Meta's documentation): 3 reply
buttons with titles of at most 20 characters; a list of at most 10 rows
(over all sections) whose titles hold 24 characters and descriptions 72,
behind a button label of 20; ids of at most 256 characters (200 for rows);
a body of at most 1024 characters.  Titles too long are shortened with
"…"; a message whose text does not fit a body goes as plain text.
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
    buttons = [
        {"type": "reply", "reply": {"id": c["id"][:BUTTON_ID], "title": fit(c["title"], BUTTON_TITLE)}}
        for c in message.choices
    ]
    return {"type": "button", "body": {"text": message.text}, "action": {"buttons": buttons}}


def _list(message: Outbound) -> dict[str, Any]:
    rows = []
    for choice in message.choices[:MAX_ROWS]:
        row = {"id": choice["id"][:ROW_ID], "title": fit(choice["title"], ROW_TITLE)}
        if choice.get("description"):
            row["description"] = fit(choice["description"], ROW_DESCRIPTION)
        rows.append(row)
    label = fit(message.menu, LIST_BUTTON)
    return {
        "type": "list",
        "body": {"text": message.text},
        "action": {"button": label, "sections": [{"title": fit(label, SECTION_TITLE), "rows": rows}]},
    }


def fit(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, shortened with "…"."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
