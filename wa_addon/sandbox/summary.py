"""The admin's day at a glance: totals, and the resellers that need a look (``GET /summary``).

An optional part of the host contract: a host without it answers 404 and the
add-on says so plainly.
"""

from __future__ import annotations

from typing import Any

from wa_addon.sandbox import resellers
from wa_addon.sandbox.money import fmt, to_paisa
from wa_addon.sandbox.tx import Tx, forbidden

ATTENTION_MAX = 50  # resellers listed at most: the chat shows fewer


def summary(tx: Tx, actor: int | None, low_below: object) -> dict[str, Any]:
    """Totals over every reseller (the admin's own account aside) and who is low or suspended."""
    if resellers.resolve_actor(tx, actor) is not None:
        raise forbidden("only the admin sees the totals")
    low = to_paisa(low_below) if low_below not in (None, "") else 0
    rows = tx.all("SELECT * FROM resellers WHERE parent_id IS NOT NULL ORDER BY balance, id")
    counts = {
        s: tx.one("SELECT COUNT(*) AS n FROM requests WHERE status = ?", (s,))["n"]  # type: ignore[index]
        for s in ("pending", "processing")
    }
    attention = [r for r in rows if r["status"] != "active" or r["balance"] < low][:ATTENTION_MAX]
    return {
        "resellers": len(rows),
        "suspended": sum(r["status"] != "active" for r in rows),
        "balance": fmt(sum(r["balance"] for r in rows)),
        "requests": counts,
        "attention": [resellers.reseller_json(tx, r) for r in attention],
    }
