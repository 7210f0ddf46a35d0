"""Money moves: payments (a parent pays a descendant, the admin mints) and balance requests.

Every function here runs inside the caller's ``BEGIN IMMEDIATE`` transaction,
so a balance is read and written with no other writer in between.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from wa_addon.host import HostError
from wa_addon.sandbox import resellers
from wa_addon.sandbox.money import fmt, to_paisa
from wa_addon.sandbox.tx import Tx, forbidden, invalid, invalid_state, not_found, text_field


def payment_json(row: sqlite3.Row) -> dict[str, Any]:
    """The REST shape of a payment."""
    return {
        "id": row["id"],
        "from_id": row["from_id"],
        "to_id": row["to_id"],
        "amount": fmt(row["amount"]),
        "balance_after": fmt(row["balance_after"]),
        "from_balance_after": None if row["from_balance_after"] is None else fmt(row["from_balance_after"]),
        "note": row["note"],
        "balance_request_id": row["balance_request_id"],
        "created_at": row["created_at"],
    }


def balance_request_json(row: sqlite3.Row) -> dict[str, Any]:
    """The REST shape of a balance request."""
    keys = ("id", "reseller_id", "status", "note", "payment_id", "decided_by", "created_at", "decided_at")
    return {**{k: row[k] for k in keys}, "amount": fmt(row["amount"])}


def debit(tx: Tx, reseller_id: int, amount: int) -> tuple[int, int]:
    """Take ``amount`` from a reseller; (balance before, after) or ``insufficient_balance``."""
    before = resellers.by_id(tx, reseller_id)["balance"]
    if before < amount:
        raise HostError("insufficient_balance", f"balance {fmt(before)} is less than {fmt(amount)}", 422)
    tx.run("UPDATE resellers SET balance = balance - ? WHERE id = ?", (amount, reseller_id))
    return before, before - amount


def credit(tx: Tx, reseller_id: int, amount: int) -> int:
    """Give ``amount`` to a reseller; its new balance."""
    tx.run("UPDATE resellers SET balance = balance + ? WHERE id = ?", (amount, reseller_id))
    return resellers.by_id(tx, reseller_id)["balance"]


def move(
    tx: Tx,
    payer: sqlite3.Row | None,
    to: sqlite3.Row,
    amount: int,
    note: str | None,
    balance_request_id: int | None = None,
) -> dict[str, Any]:
    """Pay ``to`` from ``payer`` (None: the admin mints); records the payment and emits ``balance.added``."""
    payer_after = None if payer is None else debit(tx, payer["id"], amount)[1]
    after = credit(tx, to["id"], amount)
    cur = tx.run(
        "INSERT INTO payments (from_id, to_id, amount, balance_after, from_balance_after, note,"
        " balance_request_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            None if payer is None else payer["id"],
            to["id"],
            amount,
            after,
            payer_after,
            note,
            balance_request_id,
            tx.now,
        ),
    )
    payment = payment_json(tx.one("SELECT * FROM payments WHERE id = ?", (cur.lastrowid,)))  # type: ignore[arg-type]
    tx.emit(
        "balance.added",
        {
            "payment_id": payment["id"],
            "reseller_id": to["id"],
            "amount": payment["amount"],
            "balance": payment["balance_after"],
            "by_id": payment["from_id"],
            "note": note,
            "balance_request_id": balance_request_id,
            "reseller": resellers.summary(to),
            "by": resellers.summary(payer),
        },
    )
    return payment


def add_balance(tx: Tx, actor: int | None, *, to: object, amount: object, note: object = None) -> dict[str, Any]:
    """A payment from the actor to a reseller in its subtree (the admin mints)."""
    actor_row = resellers.resolve_actor(tx, actor)
    resellers.require_active(actor_row)
    paisa = to_paisa(amount)
    target = resellers.by_ref(tx, to)
    if actor_row is not None and actor_row["id"] == target["id"]:
        raise invalid("cannot pay yourself")
    if target["parent_id"] is None:
        raise invalid("the admin's balance is not kept")
    if not resellers.can_manage(tx, actor_row, target["id"]):
        raise forbidden()
    return move(tx, actor_row, target, paisa, text_field(note))


def get_payment(tx: Tx, actor: int | None, payment_id: int) -> dict[str, Any]:
    """One payment the actor made or that went into its subtree."""
    row = tx.one("SELECT * FROM payments WHERE id = ?", (payment_id,))
    if row is None:
        raise not_found("payment")
    actor_row = resellers.resolve_actor(tx, actor)
    mine = actor_row is None or row["from_id"] == actor_row["id"]
    if not mine and not resellers.can_see(tx, actor_row, row["to_id"]):
        raise forbidden()
    return payment_json(row)


def create_balance_request(tx: Tx, actor: int | None, *, amount: object, note: object = None) -> dict[str, Any]:
    """A reseller asks its parent (or the admin) for balance."""
    actor_row = resellers.resolve_actor(tx, actor)
    if actor_row is None:
        raise invalid("balance requests are made by a reseller (X-Acting-Reseller)")
    resellers.require_active(actor_row)
    cur = tx.run(
        "INSERT INTO balance_requests (reseller_id, amount, note, status, created_at) VALUES (?, ?, ?, 'pending', ?)",
        (actor_row["id"], to_paisa(amount), text_field(note), tx.now),
    )
    data = balance_request_json(_balance_request(tx, cur.lastrowid))  # type: ignore[arg-type]
    tx.emit(
        "balance_request.created",
        {**data, "parent_id": actor_row["parent_id"], "reseller": resellers.summary(actor_row)},
    )
    return data


def get_balance_request(tx: Tx, actor: int | None, balance_request_id: int) -> dict[str, Any]:
    """One balance request within the actor's subtree."""
    row = _balance_request(tx, balance_request_id)
    if not resellers.can_see(tx, resellers.resolve_actor(tx, actor), row["reseller_id"]):
        raise forbidden()
    return balance_request_json(row)


def list_balance_requests(tx: Tx, actor: int | None, *, status: str | None, limit: int) -> list[dict[str, Any]]:
    """Newest balance requests the actor may decide on or made itself."""
    actor_row = resellers.resolve_actor(tx, actor)
    root = None if actor_row is None else actor_row["id"]  # None: the admin sees every one
    rows = tx.all(
        "WITH RECURSIVE subtree(id) AS ("
        " SELECT ? UNION ALL SELECT r.id FROM resellers r JOIN subtree ON r.parent_id = subtree.id)"
        " SELECT * FROM balance_requests WHERE (? IS NULL OR reseller_id IN (SELECT id FROM subtree))"
        " AND (? IS NULL OR status = ?) ORDER BY id DESC LIMIT ?",
        (root, root, status, status, limit),
    )
    return [balance_request_json(r) for r in rows]


def decide(tx: Tx, actor: int | None, balance_request_id: int, *, approve: bool) -> dict[str, Any]:
    """Approve (the decider pays, the admin mints) or deny a pending balance request."""
    actor_row = resellers.resolve_actor(tx, actor)
    row = _balance_request(tx, balance_request_id)
    if not resellers.can_manage(tx, actor_row, row["reseller_id"]):
        raise forbidden("only the admin or an ancestor may decide")
    if row["status"] != "pending":
        raise invalid_state(f"balance request is already {row['status']}")
    resellers.require_active(actor_row)
    payment_id = None
    if approve:
        target = resellers.by_id(tx, row["reseller_id"])
        payment_id = move(tx, actor_row, target, row["amount"], row["note"], row["id"])["id"]
    tx.run(
        "UPDATE balance_requests SET status = ?, payment_id = ?, decided_by = ?, decided_at = ? WHERE id = ?",
        (
            "approved" if approve else "denied",
            payment_id,
            None if actor_row is None else actor_row["id"],
            tx.now,
            row["id"],
        ),
    )
    data = balance_request_json(_balance_request(tx, row["id"]))
    owner = resellers.by_id(tx, row["reseller_id"])
    tx.emit("balance_request.updated", {**data, "previous_status": "pending", "reseller": resellers.summary(owner)})
    return data


def _balance_request(tx: Tx, balance_request_id: int) -> sqlite3.Row:
    row = tx.one("SELECT * FROM balance_requests WHERE id = ?", (balance_request_id,))
    if row is None:
        raise not_found("balance request")
    return row
