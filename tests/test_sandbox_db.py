"""The sandbox host's storage and rules, called directly (no HTTP): seed, money, idempotency, events."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wa_addon.host import HostError
from wa_addon.sandbox import SandboxDB, seed
from wa_addon.sandbox.money import fmt, to_paisa
from wa_addon.sandbox.service_requests import TRANSITIONS

SEEDED_TOTAL = Decimal("16800.00")  # 0 + 10000 + 2500 + 500 + 3000 + 800


@pytest.fixture
def events():
    return []


@pytest.fixture
def db(tmp_path, events):
    database = SandboxDB(str(tmp_path / "host.sqlite3"), on_event=lambda t, d: events.append((t, d)), kdf_cost=4)
    seed(database)
    yield database
    database.close()


def invariant(db: SandboxDB) -> Decimal:
    """Seeded money: balances + charged requests - minted; constant whatever happens."""
    t = {k: Decimal(v) for k, v in db.totals().items()}
    return t["balances"] + t["charged"] - t["minted"]


def request(db, actor=3, amount="50", number="01712345678", key=None, **kw):
    body = {"service": "FL", "number": number, "amount": amount, **kw}
    return db.create_request(body, actor=actor, idem_key=key)


# --- seed ----------------------------------------------------------------------

SEED = [
    (1, "admin", "Admin", "8801711000000", 0, None, "0.00", "0000", "active"),
    (2, "dealer1", "Rahim Telecom", "8801711111111", 1, 1, "10000.00", "1234", "active"),
    (3, "retail1", "Karim Store", "8801822222222", 2, 2, "2500.00", "4321", "active"),
    (4, "retail2", "Salma Shop", "8801933333333", 2, 2, "500.00", "5678", "active"),
    (5, "dealer2", "Hasan Enterprise", "8801544444444", 1, 1, "3000.00", "2468", "active"),
    (6, "retail3", "Nipa Mobile", "8801655555555", 2, 5, "800.00", "1357", "suspended"),
]


@pytest.mark.parametrize(("rid", "username", "name", "phone", "level", "parent", "balance", "pin", "status"), SEED)
def test_seed_accounts_are_exact(db, rid, username, name, phone, level, parent, balance, pin, status):
    r = db.get_reseller(username)
    assert (r["id"], r["name"], r["phone"], r["level"], r["parent_id"]) == (rid, name, phone, level, parent)
    assert (r["balance"], r["status"]) == (balance, status)
    assert db.verify_pin(rid, pin) and not db.verify_pin(rid, "9999")


def test_seed_languages_and_permissions(db):
    langs = {u: db.get_reseller(u)["language"] for u in ("dealer1", "retail1", "retail2", "dealer2", "retail3")}
    assert langs == {"dealer1": "bn", "retail1": "en", "retail2": "bn", "dealer2": "en", "retail3": "bn"}
    assert db.get_reseller("retail2")["services"] == ["BK", "FL"]
    assert db.get_reseller("dealer2")["services"] == ["BK", "FL", "NG"]
    assert len(db.get_reseller("retail1")["services"]) == 7


def test_seed_catalogue(db):
    codes = [s["code"] for s in db.list_services()]
    assert codes == ["FL", "BK", "NG", "RK", "UP", "BPDB", "NPR"]
    gp = next(o for o in db.list_operators(service="FL") if o["code"] == "GP")
    assert gp["prefixes"] == ["013", "017"] and gp["limits"]["skitto"] == ["20.00", "1000.00"]
    assert all("skitto" not in o["limits"] for o in db.list_operators(service="FL") if o["code"] != "GP")
    assert db.list_packages(operator="GP")[0] == {
        "code": "GP1",
        "operator": "GP",
        "name": "1GB 7 days",
        "price": "98.00",
        "validity": "7 days",
    }


def test_seed_is_idempotent(db, tmp_path):
    def counts():
        conn = sqlite3.connect(db.path)
        tables = ("resellers", "permissions", "services", "operators", "packages")
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}

    before = counts()
    seed(db)
    assert counts() == before


def test_secrets_are_stored_hashed(db):
    files = [Path(db.path), Path(db.path + "-wal")]
    raw = b"".join(f.read_bytes() for f in files if f.exists())
    assert b"demo-dealer1" not in raw
    conn = sqlite3.connect(db.path)
    hashes = [r[0] for r in conn.execute("SELECT pin_hash FROM resellers")]
    assert all(h.startswith("scrypt$") for h in hashes) and len(set(hashes)) == 6


# --- money -----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "paisa"), [("100", 10000), ("99.5", 9950), ("0.01", 1), (250, 25000)])
def test_amounts_parse(text, paisa):
    assert to_paisa(text) == paisa and fmt(paisa) == f"{Decimal(paisa) / 100:.2f}"


@pytest.mark.parametrize("bad", ["0", "-5", "1.234", "abc", "NaN", "Infinity", "", None, True, "1e20"])
def test_bad_amounts_are_invalid(bad):
    with pytest.raises(HostError) as info:
        to_paisa(bad)
    assert info.value.code == "invalid"


def test_payment_moves_money_in_one_step(db, events):
    paid = db.add_balance(to="retail1", amount="100", actor=2)
    assert (paid["from_balance_after"], paid["balance_after"]) == ("9900.00", "2600.00")
    assert db.get_reseller(2)["balance"] == "9900.00"
    ((kind, data),) = events
    assert kind == "balance.added" and data["by"]["username"] == "dealer1" and data["balance"] == "2600.00"


def test_admin_mints(db):
    paid = db.add_balance(to="dealer2", amount="1000")
    assert paid["from_id"] is None and db.get_reseller("admin")["balance"] == "0.00"
    assert db.totals()["minted"] == "1000.00" and invariant(db) == SEEDED_TOTAL


@pytest.mark.parametrize(
    ("actor", "to", "code"),
    [
        (3, "dealer1", "forbidden"),
        (3, "retail2", "forbidden"),
        (2, "retail3", "forbidden"),
        (2, "dealer1", "invalid"),
        (None, "admin", "invalid"),
        (6, "dealer2", "suspended"),
    ],
)
def test_payment_refusals(db, actor, to, code):
    with pytest.raises(HostError) as info:
        db.add_balance(to=to, amount="1", actor=actor)
    assert info.value.code == code and invariant(db) == SEEDED_TOTAL


def test_payment_over_balance(db):
    with pytest.raises(HostError) as info:
        db.add_balance(to="retail2", amount="10000.01", actor=2)
    assert info.value.code == "insufficient_balance" and info.value.status == 422


def test_concurrent_transfers_keep_the_invariant(db):
    # 40 of each: retail2 asks 40 x 20 = 800 with at most 500 + 40 x 3 = 620; dealer2 pays 40 x 100 = 4000
    # with at most 3000 + 40 x 5 = 3200.  Both run out on the way: some calls pass, some are refused.
    def work(i):
        ops = [
            lambda: db.add_balance(to="retail1", amount="7", actor=2, idem_key=f"a{i}"),
            lambda: db.add_balance(to="retail2", amount="3", actor=2, idem_key=f"a{i}"),
            lambda: db.add_balance(to="dealer2", amount="5", idem_key=f"m{i}"),
            lambda: request(db, actor=4, amount="20", key=f"r{i}"),
            lambda: db.add_balance(to="retail3", amount="100", actor=5, idem_key=f"d{i}"),
        ]
        try:
            ops[i % len(ops)]()
        except HostError as exc:
            assert exc.code == "insufficient_balance"
            return i % len(ops), "refused"
        return i % len(ops), "ok"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(work, range(200)))
    for drained in (3, 4):  # retail2's requests, dealer2's payments
        assert {o for op, o in outcomes if op == drained} == {"ok", "refused"}
    assert {o for op, o in outcomes if op < 3} == {"ok"}
    assert invariant(db) == SEEDED_TOTAL
    conn = sqlite3.connect(db.path)
    assert conn.execute("SELECT MIN(balance) FROM resellers").fetchone()[0] >= 0
    assert db.totals()["minted"] == "200.00"  # 40 mints of 5


def test_concurrent_payments_never_overdraw(db):
    def pay(i):
        try:
            return db.add_balance(to="retail3", amount="200", actor=5, idem_key=f"p{i}")["id"]
        except HostError as exc:
            return exc.code

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(pay, range(40)))
    assert sum(isinstance(r, int) for r in results) == 15  # 3000 / 200
    assert results.count("insufficient_balance") == 25
    assert db.get_reseller("dealer2")["balance"] == "0.00"
    assert db.get_reseller("retail3")["balance"] == "3800.00"


# --- idempotency -----------------------------------------------------------------


def test_same_key_same_body_is_one_effect(db, events):
    first = db.add_balance(to="retail1", amount="10", actor=2, idem_key="k")
    again = db.add_balance(to="retail1", amount="10", actor=2, idem_key="k")
    assert first == again and db.get_reseller("retail1")["balance"] == "2510.00" and len(events) == 1


def test_same_key_other_body_is_a_conflict(db):
    db.add_balance(to="retail1", amount="10", actor=2, idem_key="k")
    with pytest.raises(HostError) as info:
        db.add_balance(to="retail1", amount="11", actor=2, idem_key="k")
    assert (info.value.code, info.value.status) == ("idempotency_conflict", 409)


def test_keys_are_scoped_per_actor_and_endpoint(db):
    a = db.add_balance(to="retail1", amount="10", actor=2, idem_key="k")
    b = db.add_balance(to="retail1", amount="10", idem_key="k")
    c = request(db, key="k")
    assert a["id"] != b["id"] and c["status"] == "pending"
    assert db.get_reseller("retail1")["balance"] == "2470.00"


def test_refused_call_records_nothing(db):
    with pytest.raises(HostError):
        db.add_balance(to="retail2", amount="20000", actor=2, idem_key="k")
    db.add_balance(to="dealer1", amount="20000", idem_key="mint")
    assert db.add_balance(to="retail2", amount="20000", actor=2, idem_key="k")["balance_after"] == "20500.00"


def test_replayed_creation_carries_no_secrets(db, events):
    first = db.create_reseller(phone="01799999999", name="New Shop", actor=2, idem_key="c")
    again = db.create_reseller(phone="01799999999", name="New Shop", actor=2, idem_key="c")
    assert first["pin"].isdigit() and first["password"]
    assert again["reseller"] == first["reseller"] and again["password"] is None and again["replayed"]
    assert [t for t, _ in events] == ["reseller.created"]
    conn = sqlite3.connect(db.path)
    assert first["password"] not in str(conn.execute("SELECT * FROM idempotency").fetchall())


# --- resellers -------------------------------------------------------------------


def test_create_reseller_defaults(db):
    new = db.create_reseller(phone="+880 1799-999999", name="Karim  Store Two", actor=3)["reseller"]
    assert new["phone"] == "8801799999999" and new["parent_id"] == 3 and new["level"] == 3
    assert new["username"] == f"karimstoretw{new['id']}" and new["language"] == "en"  # slug capped at 12
    assert new["services"] == db.get_reseller(3)["services"]


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"phone": "8801711111111", "name": "Dup"}, "already_exists"),
        ({"phone": "12", "name": "Short"}, "invalid"),
        ({"phone": "8801700000001", "name": ""}, "invalid"),
        ({"phone": "8801700000001", "name": "X", "level": 1}, "invalid"),
    ],
)
def test_create_reseller_refusals(db, kw, code):
    with pytest.raises(HostError) as info:
        db.create_reseller(actor=2, **kw)
    assert info.value.code == code


def test_update_emits_changes(db, events):
    db.update_reseller("retail2", {"status": "suspended", "name": "Salma Shop"}, actor=2)
    ((kind, data),) = events
    assert kind == "reseller.updated" and data["changes"] == {"status": {"from": "active", "to": "suspended"}}


@pytest.mark.parametrize(
    ("ref", "fields", "actor"),
    [
        ("retail1", {"status": "suspended"}, 3),
        ("retail1", {"wa_user_id": "x"}, 2),
        ("retail3", {"name": "x"}, 2),
        ("retail2", {"services": ["NPR"]}, 4),
    ],
)
def test_update_refusals(db, ref, fields, actor):
    with pytest.raises(HostError) as info:
        db.update_reseller(ref, fields, actor=actor)
    assert info.value.code == "forbidden"


def test_a_suspended_reseller_cannot_manage_its_children(db, events):
    db.update_reseller("dealer1", {"status": "suspended"})
    for call in (
        lambda: db.update_reseller("retail1", {"name": "Renamed"}, actor=2),
        lambda: db.reset_reseller("retail1", actor=2, idem_key="r"),
    ):
        with pytest.raises(HostError) as info:
            call()
        assert (info.value.code, info.value.status) == ("suspended", 403)
    assert db.get_reseller("retail1")["name"] == "Karim Store" and db.verify_pin(3, "4321")
    assert db.update_reseller("dealer1", {"language": "en"}, actor=2)["language"] == "en"  # its own account
    assert [t for t, _ in events] == ["reseller.updated", "reseller.updated"]


def test_scrypt_runs_outside_the_write_lock(db, monkeypatch):
    from wa_addon.sandbox import passwords

    locked = []
    real = passwords.hash_secret

    def hash_and_probe(plain, *, cost=14):
        probe = sqlite3.connect(db.path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")  # fails at once while another writer holds the lock
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError:
            locked.append(plain)
        finally:
            probe.close()
        return real(plain, cost=cost)

    monkeypatch.setattr(passwords, "hash_secret", hash_and_probe)
    created = db.create_reseller(phone="01799999999", name="New Shop", actor=2)
    db.reset_reseller(created["reseller"]["id"], actor=2)
    assert locked == []


def test_reset_issues_new_secrets(db, events):
    out = db.reset_reseller("retail1", actor=2)
    assert db.verify_pin(3, out["pin"]) and events[-1][1]["password"] == out["password"]
    with pytest.raises(HostError):
        db.reset_reseller("dealer1", actor=3)


def test_pin_change_and_ancestor_cannot_test_pins(db):
    db.change_pin(3, "4321", "2468", actor=3)
    assert db.verify_pin(3, "2468")
    with pytest.raises(HostError) as info:
        db.change_pin(3, "4321", "1111")
    assert info.value.code == "bad_pin"
    with pytest.raises(HostError) as info:
        db.verify_pin(3, "2468", actor=2)
    assert info.value.code == "forbidden"


def test_lookup_by_wa_user_id_and_phone(db):
    db.update_reseller(3, {"wa_user_id": "BD.123"})
    assert db.find_reseller(wa_user_id="BD.123")["id"] == 3
    assert db.find_reseller(phone="8801999999999", wa_user_id="BD.123")["id"] == 3
    assert db.find_reseller(phone="01711111111")["id"] == 2


# --- requests --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"service": "FL", "number": "01712345678", "amount": "1001"}, "amount_out_of_range"),
        ({"service": "FL", "number": "01712345678", "amount": "5"}, "amount_out_of_range"),
        ({"service": "FL", "number": "01912345678", "amount": "50", "type": "skitto"}, "invalid"),
        ({"service": "FL", "number": "01212345678", "amount": "50"}, "invalid"),
        ({"service": "XX", "number": "01712345678", "amount": "50"}, "invalid"),
        ({"service": "FL", "number": "01712345678"}, "invalid"),
        ({"package": "GP1", "number": "01712345678", "amount": "99"}, "invalid"),
        ({"service": "BK", "number": "01712345678", "amount": "2600"}, "insufficient_balance"),
    ],
)
def test_request_refusals(db, body, code):
    with pytest.raises(HostError) as info:
        db.create_request(body, actor=3)
    assert info.value.code == code and db.get_reseller(3)["balance"] == "2500.00"


def test_request_permission_and_suspension(db):
    with pytest.raises(HostError) as info:
        db.create_request({"service": "NG", "number": "01712345678", "amount": "100"}, actor=4)
    assert info.value.code == "service_not_permitted"
    with pytest.raises(HostError) as info:
        db.create_request({"service": "FL", "number": "01712345678", "amount": "100"}, actor=6)
    assert info.value.code == "suspended"


def test_request_kinds(db):
    assert request(db, type="skitto")["operator"] == "GP"
    assert request(db, number="01812345678", operator="GP")["operator"] == "GP"  # ported number
    assert db.create_request({"package": "RB2", "number": "01812345678"}, actor=3)["amount"] == "399.00"
    bk = db.create_request({"service": "BK", "number": "01912345678", "amount": "500"}, actor=3)
    assert (bk["operator"], bk["type"]) == (None, "cashin")
    bill = db.create_request({"service": "BPDB", "number": "123456789012", "amount": "150"}, actor=3)
    assert bill["number"] == "123456789012"


def test_request_created_event_after_commit(db, events):
    seen = []
    db.on_event = lambda t, d: seen.append(
        sqlite3.connect(db.path).execute("SELECT status FROM requests WHERE id = ?", (d["id"],)).fetchone()
    )
    request(db)
    assert seen == [("pending",)]


def test_failing_sink_does_not_undo(db):
    def boom(t, d):
        raise RuntimeError("sink down")

    db.on_event = boom
    assert request(db)["status"] == "pending"
    assert db.get_reseller(3)["balance"] == "2450.00"


def test_only_the_admin_acts_on_requests(db):
    rid = request(db)["id"]
    with pytest.raises(HostError) as info:
        db.act_on_request(rid, "cancel", actor=2)
    assert info.value.code == "forbidden"


def test_list_and_subtree_of_requests(db):
    mine = request(db)["id"]
    request(db, actor=4)
    assert [r["id"] for r in db.list_requests(actor=3)] == [mine]
    assert len(db.list_requests(actor=2, reseller_id=4)) == 1
    with pytest.raises(HostError):
        db.get_request(mine, actor=4)
    with pytest.raises(HostError):
        db.list_requests(actor=3, reseller_id=4)


ACTIONS = ["process", "resend", "cancel", "complete", "fail"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(ACTIONS), max_size=8))
def test_lifecycle_follows_the_table_and_refunds_once(db, actions):
    if Decimal(db.get_reseller(3)["balance"]) < 100:
        db.add_balance(to="retail1", amount="1000")
    start = Decimal(db.get_reseller(3)["balance"])
    req = request(db, amount="25")
    status, charged = "pending", True
    for action in actions:
        nxt = TRANSITIONS.get((status, action))
        try:
            status = db.act_on_request(req["id"], action, trx_id="T1")["status"]
        except HostError as exc:
            assert nxt is None and exc.code == "invalid_state"
            continue
        assert status == nxt
        charged = status not in ("failed", "cancelled")
    assert Decimal(db.get_reseller(3)["balance"]) == start - (25 if charged else 0)
    assert invariant(db) == SEEDED_TOTAL


# --- balance requests ----------------------------------------------------------------


def test_balance_request_by_parent_pays_from_parent(db, events):
    br = db.create_balance_request(amount="300", actor=4)
    done = db.decide_balance_request(br["id"], approve=True, actor=2, idem_key="x")
    assert done["status"] == "approved" and done["decided_by"] == 2
    assert db.get_reseller(2)["balance"] == "9700.00" and db.get_reseller(4)["balance"] == "800.00"
    assert db.decide_balance_request(br["id"], approve=True, actor=2, idem_key="x") == done
    with pytest.raises(HostError) as info:
        db.decide_balance_request(br["id"], approve=False, actor=2, idem_key="y")
    assert info.value.code == "invalid_state"
    kinds = [t for t, _ in events]
    assert kinds == ["balance_request.created", "balance.added", "balance_request.updated"]


def test_balance_request_rules(db):
    br = db.create_balance_request(amount="300", actor=4)
    with pytest.raises(HostError) as info:
        db.decide_balance_request(br["id"], approve=True, actor=5)
    assert info.value.code == "forbidden"
    with pytest.raises(HostError) as info:
        db.decide_balance_request(br["id"], approve=True, actor=4)
    assert info.value.code == "forbidden"
    assert db.decide_balance_request(br["id"], approve=False)["status"] == "denied"
    assert db.get_reseller(4)["balance"] == "500.00"
    assert [b["id"] for b in db.list_balance_requests(actor=2)] == [br["id"]]
    assert db.list_balance_requests(actor=5) == []


def test_balance_requests_list_is_the_subtree_newest_first_in_one_query(db):
    ids = {who: db.create_balance_request(amount="1", actor=who)["id"] for who in (3, 4, 5, 3)}
    grandchild = db.create_reseller(phone="01799999999", name="Under Retail1", actor=3)["reseller"]["id"]
    deep = db.create_balance_request(amount="1", actor=grandchild)["id"]
    with db._connection() as conn:  # the pool is LIFO: the next call gets this connection
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
    try:
        listed = [b["id"] for b in db.list_balance_requests(actor=2, limit=2)]
    finally:
        conn.set_trace_callback(None)
    assert listed == [deep, ids[3]]
    assert [s for s in statements if "balance_requests" in s] == [statements[-1]] and len(statements) == 2
    assert [b["reseller_id"] for b in db.list_balance_requests(actor=5)] == [5]
    assert len(db.list_balance_requests(limit=100)) == 5


@pytest.mark.parametrize(
    "call",
    [
        lambda db: db.add_balance(to="retail1", amount="1", note="x" * 501),
        lambda db: db.create_balance_request(amount="1", note="x" * 501, actor=3),
        lambda db: request(db, note="x" * 501),
        lambda db: db.act_on_request(request(db)["id"], "cancel", note="x" * 501),
        lambda db: db.act_on_request(request(db)["id"], "complete", trx_id="T" * 101),
    ],
)
def test_overlong_notes_and_trx_ids_are_invalid_everywhere(db, call):
    with pytest.raises(HostError) as info:
        call(db)
    assert info.value.code == "invalid" and "at most" in info.value.message
