"""Reseller operations: lookup, the subtree rule, creation, edits, reset, PINs.

The subtree rule: the admin (``actor`` None) sees everyone; a reseller sees
itself and its descendants, and acts on its strict descendants.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from wa_addon.host import HostError
from wa_addon.sandbox import passwords
from wa_addon.sandbox.money import fmt
from wa_addon.sandbox.tx import Tx, forbidden, invalid, not_found, suspended

MAX_LEVEL = 9
_PIN = re.compile(r"^\d{4,6}$")


def reseller_json(tx: Tx, row: sqlite3.Row) -> dict[str, Any]:
    """The REST shape of a reseller (never its hashes)."""
    rows = tx.all("SELECT service FROM permissions WHERE reseller_id = ? ORDER BY service", (row["id"],))
    services = [r[0] for r in rows]
    return {
        "id": row["id"],
        "username": row["username"],
        "name": row["name"],
        "phone": row["phone"],
        "parent_id": row["parent_id"],
        "level": row["level"],
        "balance": fmt(row["balance"]),
        "status": row["status"],
        "language": row["language"],
        "services": services,
        "wa_user_id": row["wa_user_id"],
        "created_at": row["created_at"],
    }


def summary(row: sqlite3.Row | None) -> dict[str, Any] | None:
    """The few fields a hook carries to name a reseller (None: the admin)."""
    if row is None or row["parent_id"] is None:
        return None
    keys = ("id", "username", "name", "phone", "language")
    return {k: row[k] for k in keys}


def normalise_phone(value: object) -> str:
    """E.164 digits without '+'; a local ``01XXXXXXXXX`` becomes ``8801XXXXXXXXX``."""
    digits = re.sub(r"[\s\-+]", "", str(value or ""))
    if re.fullmatch(r"01\d{9}", digits):
        digits = "88" + digits
    if not re.fullmatch(r"\d{8,15}", digits):
        raise invalid("phone must be 8 to 15 digits (E.164 without '+')")
    return digits


def by_id(tx: Tx, reseller_id: int) -> sqlite3.Row:
    """A reseller row by id; ``not_found`` otherwise."""
    row = tx.one("SELECT * FROM resellers WHERE id = ?", (reseller_id,))
    if row is None:
        raise not_found("reseller")
    return row


def by_ref(tx: Tx, ref: object) -> sqlite3.Row:
    """A reseller by id, phone (8+ digits) or username."""
    text = str(ref).strip()
    if text.isdigit() and len(text) < 8:
        return by_id(tx, int(text))
    if re.fullmatch(r"\+?[\d\s\-]{8,}", text):
        row = tx.one("SELECT * FROM resellers WHERE phone = ?", (normalise_phone(text),))
    else:
        row = tx.one("SELECT * FROM resellers WHERE username = ?", (text.lower(),))
    if row is None:
        raise not_found("reseller")
    return row


def resolve_actor(tx: Tx, actor: int | None) -> sqlite3.Row | None:
    """The acting reseller's row; None for the admin (no actor, or the root reseller)."""
    if actor is None:
        return None
    row = tx.one("SELECT * FROM resellers WHERE id = ?", (actor,))
    if row is None:
        raise forbidden("unknown acting reseller")
    return None if row["parent_id"] is None else row


def is_ancestor(tx: Tx, ancestor_id: int, reseller_id: int) -> bool:
    """Whether ``ancestor_id`` is a strict ancestor of ``reseller_id``."""
    row = tx.one(
        "WITH RECURSIVE up(id, parent_id) AS ("
        " SELECT id, parent_id FROM resellers WHERE id = ?"
        " UNION ALL SELECT r.id, r.parent_id FROM resellers r JOIN up ON r.id = up.parent_id)"
        " SELECT 1 FROM up WHERE parent_id = ?",
        (reseller_id, ancestor_id),
    )
    return row is not None


def can_see(tx: Tx, actor: sqlite3.Row | None, reseller_id: int) -> bool:
    """Admin sees all; a reseller sees itself and its descendants."""
    return actor is None or actor["id"] == reseller_id or is_ancestor(tx, actor["id"], reseller_id)


def can_manage(tx: Tx, actor: sqlite3.Row | None, reseller_id: int) -> bool:
    """Admin manages all; a reseller manages its strict descendants."""
    return actor is None or is_ancestor(tx, actor["id"], reseller_id)


def visible(tx: Tx, actor: int | None, ref: object) -> tuple[sqlite3.Row | None, sqlite3.Row]:
    """(actor row, target row) when the actor may see the target; ``forbidden`` otherwise."""
    actor_row = resolve_actor(tx, actor)
    target = by_ref(tx, ref)
    if not can_see(tx, actor_row, target["id"]):
        raise forbidden()
    return actor_row, target


def require_active(actor: sqlite3.Row | None) -> None:
    """Refuse a suspended actor (the admin is never suspended)."""
    if actor is not None and actor["status"] != "active":
        raise suspended()


def find(tx: Tx, actor: int | None, *, phone: str | None, wa_user_id: str | None) -> dict[str, Any]:
    """The reseller owning a phone or else a WhatsApp business-scoped user id."""
    if not phone and not wa_user_id:
        raise invalid("give phone or wa_user_id")
    row = tx.one("SELECT * FROM resellers WHERE phone = ?", (normalise_phone(phone),)) if phone else None
    if row is None and wa_user_id:
        row = tx.one("SELECT * FROM resellers WHERE wa_user_id = ?", (str(wa_user_id),))
    if row is None:
        raise not_found("reseller")
    return get(tx, actor, row["id"])


def get(tx: Tx, actor: int | None, ref: object) -> dict[str, Any]:
    """One reseller within the actor's subtree."""
    return reseller_json(tx, visible(tx, actor, ref)[1])


def children(tx: Tx, actor: int | None, ref: object) -> list[dict[str, Any]]:
    """Direct children of a reseller within the actor's subtree."""
    target = visible(tx, actor, ref)[1]
    rows = tx.all("SELECT * FROM resellers WHERE parent_id = ? ORDER BY id", (target["id"],))
    return [reseller_json(tx, r) for r in rows]


def create(
    tx: Tx, actor: int | None, *, phone: str, name: str, level: int | None, issued: passwords.Issued
) -> dict[str, Any]:
    """A new reseller under the actor (or the admin), with its first password and PIN (hashed beforehand)."""
    actor_row = resolve_actor(tx, actor)
    require_active(actor_row)
    parent = actor_row if actor_row is not None else _root(tx)
    phone, name, level = normalise_phone(phone), _name(name), _level(parent, level)
    if tx.one("SELECT 1 FROM resellers WHERE phone = ?", (phone,)):
        raise HostError("already_exists", "a reseller with this phone exists", 409)
    cur = tx.run(
        "INSERT INTO resellers (username, name, phone, parent_id, level, language, password_hash, pin_hash,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            f"new-{phone}",
            name,
            phone,
            parent["id"],
            level,
            parent["language"],
            issued.password_hash,
            issued.pin_hash,
            tx.now,
        ),
    )
    new_id = int(cur.lastrowid or 0)
    tx.run("UPDATE resellers SET username = ? WHERE id = ?", (_username(tx, name, new_id), new_id))
    tx.run(
        "INSERT INTO permissions (reseller_id, service) SELECT ?, service FROM permissions WHERE reseller_id = ?",
        (new_id, parent["id"]),
    )
    reseller = reseller_json(tx, by_id(tx, new_id))
    tx.emit("reseller.created", {**reseller, "created_by": summary(actor_row)})
    return {"reseller": reseller, "password": issued.password, "pin": issued.pin}


def reset(tx: Tx, actor: int | None, ref: object, issued: passwords.Issued) -> dict[str, Any]:
    """A new password and PIN (hashed beforehand) for a reseller the actor manages."""
    actor_row, target = visible(tx, actor, ref)
    if not can_manage(tx, actor_row, target["id"]):
        raise forbidden("only the admin or an ancestor may reset")
    require_active(actor_row)
    tx.run(
        "UPDATE resellers SET password_hash = ?, pin_hash = ? WHERE id = ?",
        (issued.password_hash, issued.pin_hash, target["id"]),
    )
    reseller = reseller_json(tx, target)
    fresh = {"password": issued.password, "pin": issued.pin}
    tx.emit("reseller.reset", {**reseller, **fresh, "reset_by": summary(actor_row)})
    return {"reseller": reseller, **fresh}


def update(tx: Tx, actor: int | None, ref: object, fields: dict[str, Any]) -> dict[str, Any]:
    """Edit a reseller; emits ``reseller.updated`` with ``changes`` when something changed."""
    actor_row, target = visible(tx, actor, ref)
    _check_edit(tx, actor_row, target, fields)
    if actor_row is not None and actor_row["id"] != target["id"]:
        require_active(actor_row)  # a suspended dealer keeps its own language, not its children
    before = reseller_json(tx, target)
    for key, sql in _UPDATES.items():
        if key in fields:
            tx.run(sql, (_clean(key, fields[key]), target["id"]))
    if "services" in fields:
        _set_services(tx, actor_row, target["id"], fields["services"])
    after = reseller_json(tx, by_id(tx, target["id"]))
    changes = {k: {"from": before[k], "to": after[k]} for k in _EDITABLE if before[k] != after[k]}
    if changes:
        tx.emit("reseller.updated", {**after, "changes": changes, "updated_by": summary(actor_row)})
    return after


def change_number(tx: Tx, actor: int | None, old_phone: object, new_phone: object) -> dict[str, Any]:
    """WhatsApp says a user moved to a new number: the reseller on the old one moves with it (admin only).

    Told again after the move, it answers the reseller already on the new number.
    """
    if actor is not None:
        raise forbidden("only the admin reports number changes")
    old, new = normalise_phone(old_phone), normalise_phone(new_phone)
    row = tx.one("SELECT * FROM resellers WHERE phone = ?", (old,))
    taken = tx.one("SELECT * FROM resellers WHERE phone = ?", (new,))
    if row is None:
        if taken is None:
            raise not_found("reseller")
        return reseller_json(tx, taken)
    if taken is not None:
        raise HostError("already_exists", "another reseller has the new number", 409)
    tx.run("UPDATE resellers SET phone = ? WHERE id = ?", (new, row["id"]))
    return reseller_json(tx, by_id(tx, row["id"]))


_EDITABLE = ("name", "status", "language", "services", "wa_user_id")
# One fixed statement per column: no SQL is ever built from the caller's field names.
_UPDATES = {key: f"UPDATE resellers SET {key} = ? WHERE id = ?" for key in ("name", "status", "language", "wa_user_id")}  # noqa: S608


def _check_edit(tx: Tx, actor: sqlite3.Row | None, target: sqlite3.Row, fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(_EDITABLE)
    if unknown:
        raise invalid(f"cannot edit {', '.join(sorted(unknown))}")
    wa_user_id = fields.get("wa_user_id")
    if wa_user_id and tx.one("SELECT 1 FROM resellers WHERE wa_user_id = ? AND id != ?", (wa_user_id, target["id"])):
        raise HostError("already_exists", "this wa_user_id belongs to another reseller", 409)
    if actor is None:
        return
    # Binding a WhatsApp identity to an account is the admin's call alone.
    allowed = {"language"} if actor["id"] == target["id"] else {"name", "status", "language", "services"}
    if set(fields) - allowed:
        raise forbidden(f"you may edit only {', '.join(sorted(allowed))} here")


def _clean(key: str, value: object) -> object:
    if key == "name":
        return _name(value)
    if key == "status" and value in ("active", "suspended"):
        return value
    if key == "language" and value in ("bn", "en"):
        return value
    if key == "wa_user_id" and (value is None or (isinstance(value, str) and 0 < len(value) <= 128)):
        return value
    raise invalid(f"bad value for {key}")


def _set_services(tx: Tx, actor: sqlite3.Row | None, reseller_id: int, codes: object) -> None:
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise invalid("services must be a list of service codes")
    wanted = {c.upper() for c in codes}
    known = {r[0] for r in tx.all("SELECT code FROM services")}
    if wanted - known:
        raise invalid(f"unknown services: {', '.join(sorted(wanted - known))}")
    if actor is not None:
        own = {r[0] for r in tx.all("SELECT service FROM permissions WHERE reseller_id = ?", (actor["id"],))}
        if wanted - own:
            raise forbidden("you can grant only services you are permitted")
    tx.run("DELETE FROM permissions WHERE reseller_id = ?", (reseller_id,))
    for code in sorted(wanted):
        tx.run("INSERT INTO permissions (reseller_id, service) VALUES (?, ?)", (reseller_id, code))


def verify_pin(tx: Tx, actor: int | None, ref: object, pin: object) -> bool:
    """Whether ``pin`` is the reseller's PIN (the admin or the reseller itself may ask)."""
    target = _self_or_admin(tx, actor, ref)
    return passwords.check_secret(str(pin or ""), target["pin_hash"])


def change_pin(tx: Tx, actor: int | None, ref: object, old_pin: object, new_pin: object) -> None:
    """Replace the PIN after checking the old one."""
    target = _self_or_admin(tx, actor, ref)
    if not passwords.check_secret(str(old_pin or ""), target["pin_hash"]):
        raise HostError("bad_pin", "the old PIN is wrong", 403)
    if not _PIN.match(str(new_pin or "")):
        raise invalid("new_pin must be 4 to 6 digits")
    tx.run(
        "UPDATE resellers SET pin_hash = ? WHERE id = ?",
        (passwords.hash_secret(str(new_pin), cost=tx.kdf_cost), target["id"]),
    )


def _self_or_admin(tx: Tx, actor: int | None, ref: object) -> sqlite3.Row:
    actor_row, target = visible(tx, actor, ref)
    # Ancestors see a child but must not test its PIN: that would let them guess it.
    if actor_row is not None and actor_row["id"] != target["id"]:
        raise forbidden("only the reseller itself or the admin")
    return target


def _root(tx: Tx) -> sqlite3.Row:
    row = tx.one("SELECT * FROM resellers WHERE parent_id IS NULL ORDER BY id LIMIT 1")
    if row is None:
        raise invalid("the host has no admin account; seed it first")
    return row


def _name(name: object) -> str:
    text = " ".join(str(name or "").split())
    if not 1 <= len(text) <= 100:
        raise invalid("name must be 1 to 100 characters")
    return text


def _level(parent: sqlite3.Row, level: object) -> int:
    if level is None or level == "":
        return parent["level"] + 1
    try:
        value = int(str(level))
    except ValueError:
        raise invalid("level must be an integer") from None
    if not parent["level"] < value <= MAX_LEVEL:
        raise invalid(f"level must be between {parent['level'] + 1} and {MAX_LEVEL}")
    return value


def _username(tx: Tx, name: str, reseller_id: int) -> str:
    # Letters then the id: never mistaken for an id or a phone, and unique because the id is.
    slug = re.sub(r"[^a-z]", "", name.lower())[:12] or "rs"
    username = f"{slug}{reseller_id}"
    if tx.one("SELECT 1 FROM resellers WHERE username = ?", (username,)):
        username = f"rs{reseller_id}"
    return username
