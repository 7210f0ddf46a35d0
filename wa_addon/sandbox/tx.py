"""The unit of work every sandbox operation runs in, and the errors they raise.

A :class:`Tx` wraps one SQLite connection for one call.  Writing calls run
inside ``BEGIN IMMEDIATE`` (see :meth:`SandboxDB.transaction`); the events an
operation records with :meth:`Tx.emit` are only handed out after the commit.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from wa_addon.host import HostError


@dataclass
class Tx:
    """One connection, the call's timestamp and the events it produced."""

    conn: sqlite3.Connection
    now: str
    kdf_cost: int = 14
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def emit(self, type: str, data: dict[str, Any]) -> None:
        """Record a hook event, delivered once the transaction has committed."""
        self.events.append((type, data))

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        return self.conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Every row of a query."""
        return self.conn.execute(sql, params).fetchall()

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        """Execute a statement that changes rows."""
        return self.conn.execute(sql, params)


def text_field(value: object, name: str = "note", limit: int = 500) -> str | None:
    """A caller's free text (a note, a trx id): stripped, None when empty.

    Raises:
        HostError: ``invalid`` when longer than ``limit`` (openapi.yaml's ``maxLength``).
    """
    if value is None or value == "":
        return None
    text = str(value).strip()
    if len(text) > limit:
        raise invalid(f"{name} must be at most {limit} characters")
    return text


def invalid(message: str) -> HostError:
    """A malformed or inconsistent call (400)."""
    return HostError("invalid", message, 400)


def not_found(what: str) -> HostError:
    """Nothing with that id / code (404)."""
    return HostError("not_found", f"{what} not found", 404)


def forbidden(message: str = "outside your subtree") -> HostError:
    """The actor may not see or act on that (403)."""
    return HostError("forbidden", message, 403)


def invalid_state(message: str) -> HostError:
    """The object is not in a state that allows the move (409)."""
    return HostError("invalid_state", message, 409)


def suspended() -> HostError:
    """The acting reseller is suspended (403)."""
    return HostError("suspended", "the account is suspended", 403)
