"""Requests (recharge, mobile banking, bills, country top-ups) and their lifecycle.

A request debits the reseller when it is created.  Moving it to ``cancelled``
or ``failed`` refunds it once; resending a failed request charges it again.
Only the admin acts on requests.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from wa_addon.host import HostError
from wa_addon.sandbox import catalog, ledger, resellers
from wa_addon.sandbox.money import fmt, to_paisa
from wa_addon.sandbox.tx import Tx, forbidden, invalid, invalid_state, not_found, text_field

PENDING, PROCESSING, SUCCESS, FAILED, CANCELLED = "pending", "processing", "success", "failed", "cancelled"

# (status, action) -> new status; anything else is ``invalid_state``.
TRANSITIONS = {
    (PENDING, "process"): PROCESSING,
    (PENDING, "cancel"): CANCELLED,
    (PENDING, "complete"): SUCCESS,
    (PENDING, "fail"): FAILED,
    (PROCESSING, "complete"): SUCCESS,
    (PROCESSING, "fail"): FAILED,
    (PROCESSING, "cancel"): CANCELLED,
    (PROCESSING, "resend"): PENDING,
    (FAILED, "resend"): PENDING,
    (FAILED, "cancel"): CANCELLED,
}
ACTIONS = frozenset(action for _, action in TRANSITIONS)


def request_json(row: sqlite3.Row) -> dict[str, Any]:
    """The REST shape of a request."""
    keys = (
        "id",
        "reseller_id",
        "service",
        "operator",
        "package",
        "number",
        "type",
        "status",
        "trx_id",
        "note",
        "created_at",
        "updated_at",
    )
    money = {k: fmt(row[k]) for k in ("amount", "balance_before", "balance_after")}
    return {**{k: row[k] for k in keys}, **money}


def create(tx: Tx, actor: int | None, body: dict[str, Any]) -> dict[str, Any]:
    """Place a request for the acting reseller, debiting its balance."""
    actor_row = resellers.resolve_actor(tx, actor)
    if actor_row is None:
        raise invalid("requests are placed by a reseller (X-Acting-Reseller)")
    resellers.require_active(actor_row)
    package = catalog.find_package(tx, body["package"]) if body.get("package") else None
    service = _service(tx, body.get("service"), package)
    _check_permitted(tx, actor_row["id"], service["code"])
    kind = catalog.choose_type(service, body.get("type"))
    number = catalog.normalise_number(service["kind"], body.get("number"))
    operator = catalog.resolve_operator(tx, service, number, package["operator"] if package else body.get("operator"))
    amount = _amount(body.get("amount"), package)
    low, high = catalog.amount_range(service, operator, kind)
    if not low <= amount <= high:
        raise HostError("amount_out_of_range", f"amount must be between {fmt(low)} and {fmt(high)}", 422)
    before, after = ledger.debit(tx, actor_row["id"], amount)
    cur = tx.run(
        "INSERT INTO requests (reseller_id, service, operator, package, number, amount, type, status, charged,"
        " note, balance_before, balance_after, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,1,?,?,?,?,?)",
        (
            actor_row["id"],
            service["code"],
            operator["code"] if operator else None,
            package["code"] if package else None,
            number,
            amount,
            kind,
            PENDING,
            text_field(body.get("note")),
            before,
            after,
            tx.now,
            tx.now,
        ),
    )
    data = request_json(_row(tx, cur.lastrowid))  # type: ignore[arg-type]
    tx.emit("request.created", {**data, "reseller": resellers.summary(actor_row)})
    return data


def get(tx: Tx, actor: int | None, request_id: int) -> dict[str, Any]:
    """One request of the actor's subtree."""
    row = _row(tx, request_id)
    if not resellers.can_see(tx, resellers.resolve_actor(tx, actor), row["reseller_id"]):
        raise forbidden()
    return request_json(row)


def newest(tx: Tx, actor: int | None, *, reseller_id: int | None, status: str | None, limit: int) -> list[dict]:
    """The newest requests of a reseller (default: the actor; the admin without one: everyone's)."""
    actor_row = resellers.resolve_actor(tx, actor)
    if reseller_id is None and actor_row is not None:
        reseller_id = actor_row["id"]
    if reseller_id is not None and not resellers.can_see(tx, actor_row, resellers.by_id(tx, reseller_id)["id"]):
        raise forbidden()
    rows = tx.all(
        "SELECT * FROM requests WHERE (? IS NULL OR reseller_id = ?) AND (? IS NULL OR status = ?)"
        " ORDER BY id DESC LIMIT ?",
        (reseller_id, reseller_id, status, status, limit),
    )
    return [request_json(r) for r in rows]


def act(
    tx: Tx, actor: int | None, request_id: int, action: str, *, trx_id: object = None, note: object = None
) -> dict[str, Any]:
    """Apply an admin action (process, resend, cancel, complete, fail) to a request."""
    if action not in ACTIONS:
        raise not_found(f"action {action!r}")
    if resellers.resolve_actor(tx, actor) is not None:
        raise forbidden("only the admin acts on requests")
    row = _row(tx, request_id)
    new = TRANSITIONS.get((row["status"], action))
    if new is None:
        raise invalid_state(f"cannot {action} a {row['status']} request")
    _settle(tx, row, new)
    # A resend starts the request afresh: the old failure note would read as today's.
    tx.run(
        "UPDATE requests SET status = ?, trx_id = COALESCE(?, trx_id),"
        " note = COALESCE(?, CASE WHEN ? THEN NULL ELSE note END), updated_at = ? WHERE id = ?",
        (
            new,
            text_field(trx_id, "trx_id", 100) if new == SUCCESS else None,
            text_field(note),
            new == PENDING,
            tx.now,
            row["id"],
        ),
    )
    data = request_json(_row(tx, row["id"]))
    owner = resellers.by_id(tx, row["reseller_id"])
    tx.emit("request.updated", {**data, "previous_status": row["status"], "reseller": resellers.summary(owner)})
    return data


def _settle(tx: Tx, row: sqlite3.Row, new: str) -> None:
    # The ``charged`` flag makes refunds happen once however the request moves.
    if new in (CANCELLED, FAILED) and row["charged"]:
        ledger.credit(tx, row["reseller_id"], row["amount"])
        tx.run("UPDATE requests SET charged = 0 WHERE id = ?", (row["id"],))
    elif new == PENDING and not row["charged"]:
        before, after = ledger.debit(tx, row["reseller_id"], row["amount"])
        tx.run(
            "UPDATE requests SET charged = 1, balance_before = ?, balance_after = ? WHERE id = ?",
            (before, after, row["id"]),
        )


def _service(tx: Tx, code: object, package: sqlite3.Row | None) -> sqlite3.Row:
    if package is None:
        if not code:
            raise invalid("service is required")
        return catalog.find_service(tx, str(code))
    op = tx.one("SELECT service FROM operators WHERE code = ?", (package["operator"],))
    service = catalog.find_service(tx, op["service"])  # type: ignore[index]
    if code and str(code).upper() != service["code"]:
        raise invalid(f"package {package['code']} belongs to service {service['code']}")
    return service


def _check_permitted(tx: Tx, reseller_id: int, service: str) -> None:
    if not tx.one("SELECT 1 FROM permissions WHERE reseller_id = ? AND service = ?", (reseller_id, service)):
        raise HostError("service_not_permitted", f"service {service} is not permitted", 403)


def _amount(amount: object, package: sqlite3.Row | None) -> int:
    if package is None:
        if amount is None or amount == "":
            raise invalid("amount is required")
        return to_paisa(amount)
    if amount not in (None, "") and to_paisa(amount) != package["price"]:
        raise invalid(f"package {package['code']} costs {fmt(package['price'])}")
    return package["price"]


def _row(tx: Tx, request_id: int) -> sqlite3.Row:
    row = tx.one("SELECT * FROM requests WHERE id = ?", (request_id,))
    if row is None:
        raise not_found("request")
    return row
