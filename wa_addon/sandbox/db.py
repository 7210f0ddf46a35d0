"""SandboxDB: the sandbox host's storage and operations over one SQLite file.

Each writing call is one ``BEGIN IMMEDIATE`` transaction: SQLite lets one
writer in at a time, so a balance check and its debit can never interleave
with another payment.  Idempotency records are written in that same
transaction, so an effect and its record commit together or not at all.
Hook events are handed to ``on_event`` only after the commit.

Methods return JSON-ready dicts in the REST API's shapes (see
``wa_addon/host/openapi.yaml``) and raise :class:`wa_addon.host.HostError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from wa_addon.host import HostError
from wa_addon.sandbox import catalog, ledger, passwords, resellers, service_requests
from wa_addon.sandbox.money import fmt
from wa_addon.sandbox.schema import SCHEMA
from wa_addon.sandbox.summary import summary as day_summary
from wa_addon.sandbox.tx import Tx

log = logging.getLogger(__name__)

EventSink = Callable[[str, dict[str, Any]], None]

# Fields never kept in an idempotency record: a replay answers them with null.
_SECRET_FIELDS = ("password", "pin")


def _utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class SandboxDB:
    """The sandbox recharge server's data and rules.

    Args:
        path: the SQLite file (created if missing).
        on_event: called as ``on_event(type, data)`` for each hook event, after commit.
        clock: returns the current time as an ISO 8601 string.
        kdf_cost: log2 of the scrypt cost for password and PIN hashes.
    """

    def __init__(
        self, path: str, on_event: EventSink | None = None, *, clock: Callable[[], str] = _utcnow, kdf_cost: int = 14
    ):
        self.path = str(path)
        self.on_event = on_event
        self._clock = clock
        self._kdf_cost = kdf_cost
        self._pool: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        with self._connection() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)

    # -- plumbing ---------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        # A pool rather than thread-locals: threaded servers start a thread per
        # request, and a connection per dead thread would leak file handles.
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys=ON")
        try:
            yield conn
        finally:
            self._pool.put(conn)

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        """A :class:`Tx` for reads (no transaction held, no events)."""
        with self._connection() as conn:
            yield Tx(conn, self._clock(), self._kdf_cost)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A write transaction; its events go to ``on_event`` once it has committed."""
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            tx = Tx(conn, self._clock(), self._kdf_cost)
            try:
                yield tx
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        self._publish(tx.events)

    def _publish(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        for event_type, data in events:
            if self.on_event is None:
                return
            try:
                self.on_event(event_type, data)
            except Exception:  # the money already moved; a sink failure must not undo the answer
                log.exception("hook sink failed for %s", event_type)

    def _once(
        self, actor: int | None, scope: str, key: str | None, params: dict[str, Any], effect: Callable[[Tx], Any]
    ) -> Any:
        """Run ``effect`` once per (actor, scope, key); a replay returns the first result."""
        with self.transaction() as tx:
            if key is None:
                return effect(tx)
            actor_row = resellers.resolve_actor(tx, actor)
            who = 0 if actor_row is None else actor_row["id"]
            fingerprint = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()
            row = tx.one(
                "SELECT fingerprint, response FROM idempotency WHERE actor = ? AND scope = ? AND key = ?",
                (who, scope, key),
            )
            if row is not None:
                if row["fingerprint"] != fingerprint:
                    raise HostError("idempotency_conflict", "this Idempotency-Key was used with another body", 409)
                return json.loads(row["response"])
            result = effect(tx)
            tx.run(
                "INSERT INTO idempotency (actor, scope, key, fingerprint, response, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (who, scope, key, fingerprint, json.dumps(_redacted(result)), tx.now),
            )
            return result

    # -- resellers ----------------------------------------------------------

    def find_reseller(
        self, *, phone: str | None = None, wa_user_id: str | None = None, actor: int | None = None
    ) -> dict[str, Any]:
        """The reseller owning a phone (E.164 digits) or a WhatsApp user id."""
        with self.reading() as tx:
            return resellers.find(tx, actor, phone=phone, wa_user_id=wa_user_id)

    def get_reseller(self, ref: object, *, actor: int | None = None) -> dict[str, Any]:
        """A reseller by id, username or phone, within the actor's subtree."""
        with self.reading() as tx:
            return resellers.get(tx, actor, ref)

    def list_children(self, ref: object, *, actor: int | None = None) -> list[dict[str, Any]]:
        """Direct children of a reseller."""
        with self.reading() as tx:
            return resellers.children(tx, actor, ref)

    def create_reseller(
        self, *, phone: str, name: str, level: int | None = None, actor: int | None = None, idem_key: str | None = None
    ) -> dict[str, Any]:
        """A new reseller under the actor: ``{"reseller", "password", "pin"}``."""
        params = {"phone": phone, "name": name, "level": level}
        issued = passwords.issue(cost=self._kdf_cost)  # before BEGIN IMMEDIATE: scrypt is slow
        return self._once(
            actor,
            "resellers.create",
            idem_key,
            params,
            lambda tx: resellers.create(tx, actor, phone=phone, name=name, level=level, issued=issued),
        )

    def update_reseller(self, ref: object, fields: dict[str, Any], *, actor: int | None = None) -> dict[str, Any]:
        """Edit name, status, language, services or wa_user_id."""
        with self.transaction() as tx:
            return resellers.update(tx, actor, ref, fields)

    def change_number(self, old_phone: object, new_phone: object, *, actor: int | None = None) -> dict[str, Any]:
        """A reseller's WhatsApp number changed (``user_changed_number``): the reseller, now on the new one."""
        with self.transaction() as tx:
            return resellers.change_number(tx, actor, old_phone, new_phone)

    def reset_reseller(self, ref: object, *, actor: int | None = None, idem_key: str | None = None) -> dict[str, Any]:
        """New password and PIN: ``{"reseller", "password", "pin"}``."""
        with self.reading() as tx:
            # Scope by id, so the same key through a username or a phone is still the same reset.
            reseller_id = resellers.by_ref(tx, ref)["id"]
        scope = f"resellers.reset:{reseller_id}"
        issued = passwords.issue(cost=self._kdf_cost)  # before BEGIN IMMEDIATE: scrypt is slow
        return self._once(actor, scope, idem_key, {}, lambda tx: resellers.reset(tx, actor, reseller_id, issued))

    def verify_pin(self, ref: object, pin: str, *, actor: int | None = None) -> bool:
        """Whether ``pin`` is the reseller's PIN."""
        with self.reading() as tx:
            return resellers.verify_pin(tx, actor, ref, pin)

    def change_pin(self, ref: object, old_pin: str, new_pin: str, *, actor: int | None = None) -> None:
        """Set a new PIN; ``bad_pin`` when the old one is wrong."""
        with self.transaction() as tx:
            resellers.change_pin(tx, actor, ref, old_pin, new_pin)

    # -- money --------------------------------------------------------------

    def add_balance(
        self,
        *,
        to: object,
        amount: object,
        note: str | None = None,
        actor: int | None = None,
        idem_key: str | None = None,
    ) -> dict[str, Any]:
        """A payment from the actor (the admin mints) to a reseller in its subtree."""
        params = {"to": to, "amount": amount, "note": note}
        return self._once(
            actor,
            "payments.create",
            idem_key,
            params,
            lambda tx: ledger.add_balance(tx, actor, to=to, amount=amount, note=note),
        )

    def get_payment(self, payment_id: int, *, actor: int | None = None) -> dict[str, Any]:
        """One payment."""
        with self.reading() as tx:
            return ledger.get_payment(tx, actor, payment_id)

    def create_balance_request(
        self, *, amount: object, note: str | None = None, actor: int | None, idem_key: str | None = None
    ) -> dict[str, Any]:
        """The actor asks its parent (or the admin) for balance."""
        params = {"amount": amount, "note": note}
        return self._once(
            actor,
            "balance_requests.create",
            idem_key,
            params,
            lambda tx: ledger.create_balance_request(tx, actor, amount=amount, note=note),
        )

    def get_balance_request(self, balance_request_id: int, *, actor: int | None = None) -> dict[str, Any]:
        """One balance request."""
        with self.reading() as tx:
            return ledger.get_balance_request(tx, actor, balance_request_id)

    def list_balance_requests(
        self, *, actor: int | None = None, status: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Newest balance requests in the actor's subtree."""
        with self.reading() as tx:
            return ledger.list_balance_requests(tx, actor, status=status, limit=limit)

    def decide_balance_request(
        self, balance_request_id: int, *, approve: bool, actor: int | None = None, idem_key: str | None = None
    ) -> dict[str, Any]:
        """Approve (moves the money) or deny a pending balance request."""
        scope = f"balance_requests.{'approve' if approve else 'deny'}:{balance_request_id}"
        return self._once(
            actor, scope, idem_key, {}, lambda tx: ledger.decide(tx, actor, balance_request_id, approve=approve)
        )

    # -- catalogue ----------------------------------------------------------

    def list_services(self, *, reseller_id: int | None = None, actor: int | None = None) -> list[dict[str, Any]]:
        """All services, or those a reseller (in the actor's subtree) is permitted."""
        with self.reading() as tx:
            if reseller_id is not None:
                reseller_id = resellers.visible(tx, actor, reseller_id)[1]["id"]
            return catalog.services(tx, reseller_id=reseller_id)

    def list_operators(self, *, service: str | None = None) -> list[dict[str, Any]]:
        """Operators, optionally of one service."""
        with self.reading() as tx:
            return catalog.operators(tx, service=service)

    def list_packages(self, *, operator: str | None = None) -> list[dict[str, Any]]:
        """Packages, optionally of one operator."""
        with self.reading() as tx:
            return catalog.packages(tx, operator=operator)

    # -- requests -----------------------------------------------------------

    def create_request(self, body: dict[str, Any], *, actor: int | None, idem_key: str | None = None) -> dict[str, Any]:
        """Place a request (service, number, amount, type?, operator?, package?, note?)."""
        keys = ("service", "number", "amount", "type", "operator", "package", "note")
        params = {k: body.get(k) for k in keys}
        return self._once(
            actor, "requests.create", idem_key, params, lambda tx: service_requests.create(tx, actor, params)
        )

    def get_request(self, request_id: int, *, actor: int | None = None) -> dict[str, Any]:
        """One request."""
        with self.reading() as tx:
            return service_requests.get(tx, actor, request_id)

    def list_requests(
        self, *, actor: int | None = None, reseller_id: int | None = None, status: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        """The newest requests."""
        with self.reading() as tx:
            return service_requests.newest(tx, actor, reseller_id=reseller_id, status=status, limit=limit)

    def summary(self, *, actor: int | None = None, low_below: object = None) -> dict[str, Any]:
        """Totals for the admin, and the resellers below ``low_below`` or suspended."""
        with self.reading() as tx:
            return day_summary(tx, actor, low_below)

    def act_on_request(
        self,
        request_id: int,
        action: str,
        *,
        trx_id: str | None = None,
        note: str | None = None,
        actor: int | None = None,
        idem_key: str | None = None,
    ) -> dict[str, Any]:
        """process | resend | cancel | complete | fail."""
        params = {"trx_id": trx_id, "note": note}
        return self._once(
            actor,
            f"requests.{action}:{request_id}",
            idem_key,
            params,
            lambda tx: service_requests.act(tx, actor, request_id, action, trx_id=trx_id, note=note),
        )

    # -- checks -------------------------------------------------------------

    def totals(self) -> dict[str, str]:
        """Money check: balances == seeded + minted - charged requests, at all times."""
        with self.reading() as tx:
            row = tx.one(
                "SELECT (SELECT COALESCE(SUM(balance), 0) FROM resellers) AS balances,"
                " (SELECT COALESCE(SUM(amount), 0) FROM payments WHERE from_id IS NULL) AS minted,"
                " (SELECT COALESCE(SUM(amount), 0) FROM requests WHERE charged = 1) AS charged"
            )
        return {k: fmt(row[k]) for k in ("balances", "minted", "charged")}  # type: ignore[index]

    def close(self) -> None:
        """Close the pooled connections."""
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return


def _redacted(result: Any) -> Any:
    if isinstance(result, dict) and any(k in result for k in _SECRET_FIELDS):
        return {**result, **{k: None for k in _SECRET_FIELDS if k in result}, "replayed": True}
    return result
