"""Fixed seed data for the sandbox host.  The demo, the docs and the tests rely on it.

Resellers (password of each: ``demo-<username>``)::

    id username name              phone          level parent balance   PIN  status     language
    1  admin    Admin             8801711000000  0     -      0.00      0000 active     bn
    2  dealer1  Rahim Telecom     8801711111111  1     1      10000.00  1234 active     bn
    3  retail1  Karim Store       8801822222222  2     2      2500.00   4321 active     en
    4  retail2  Salma Shop        8801933333333  2     2      500.00    5678 active     bn
    5  dealer2  Hasan Enterprise  8801544444444  1     1      3000.00   2468 active     en
    6  retail3  Nipa Mobile       8801655555555  2     5      800.00    1357 suspended  bn

The admin mints money: its balance is never checked nor moved.

Permitted services: admin, dealer1 and retail1 all; retail2 FL and BK;
dealer2 FL, BK and NG; retail3 FL.

Services (``types``: the first is the default)::

    FL   Flexiload         recharge        10-5000     prepaid, postpaid, skitto
    BK   bKash             mobile_banking  50-25000    cashin, sendmoney, personal, agent
    NG   Nagad             mobile_banking  50-25000    cashin, sendmoney, personal, agent
    RK   Rocket            mobile_banking  50-25000    cashin, sendmoney, personal, agent
    UP   Upay              mobile_banking  50-25000    cashin, sendmoney, personal, agent
    BPDB Electricity bill  custom          100-20000   prepaid, postpaid  (meter / account number)
    NPR  Nepal recharge    country NP      50-2000     prepaid            (international number)

``cashin`` sends to a personal account (the agent's cash-in); ``sendmoney`` is
a personal transfer; ``personal`` / ``agent`` name the receiving account's kind,
as many panels ask it instead.  Mobile banking and bills have no operators.

Flexiload operators (prefixes of the local number) and [min, max] per type::

    GP Grameenphone 013, 017   prepaid 10-1000, postpaid 10-5000, skitto 20-1000
    BL Banglalink   014, 019   prepaid 10-1000, postpaid 10-5000
    TT Teletalk     015        prepaid 10-1000, postpaid 10-3000
    AT Airtel       016        prepaid 10-1000, postpaid 10-5000
    RB Robi         018        prepaid 10-1000, postpaid 10-5000

Packages::

    GP1 1GB 7 days 98.00 · GP2 3GB 30 days 298.00 · GP3 120 minutes 30 days 189.00
    RB1 1.5GB 7 days 118.00 · RB2 5GB 30 days 399.00 · RB3 150 minutes 30 days 199.00
"""

from __future__ import annotations

import json

from wa_addon.sandbox import passwords
from wa_addon.sandbox.db import SandboxDB
from wa_addon.sandbox.tx import Tx

ALL = ("FL", "BK", "NG", "RK", "UP", "BPDB", "NPR")

# id, username, name, phone, level, parent, balance (taka), PIN, status, language, services
RESELLERS = [
    (1, "admin", "Admin", "8801711000000", 0, None, 0, "0000", "active", "bn", ALL),
    (2, "dealer1", "Rahim Telecom", "8801711111111", 1, 1, 10000, "1234", "active", "bn", ALL),
    (3, "retail1", "Karim Store", "8801822222222", 2, 2, 2500, "4321", "active", "en", ALL),
    (4, "retail2", "Salma Shop", "8801933333333", 2, 2, 500, "5678", "active", "bn", ("FL", "BK")),
    (5, "dealer2", "Hasan Enterprise", "8801544444444", 1, 1, 3000, "2468", "active", "en", ("FL", "BK", "NG")),
    (6, "retail3", "Nipa Mobile", "8801655555555", 2, 5, 800, "1357", "suspended", "bn", ("FL",)),
]

MB_TYPES = ["cashin", "sendmoney", "personal", "agent"]
# code, name, kind, min, max (taka), types, country
SERVICES = [
    ("FL", "Flexiload", "recharge", 10, 5000, ["prepaid", "postpaid", "skitto"], None),
    ("BK", "bKash", "mobile_banking", 50, 25000, MB_TYPES, None),
    ("NG", "Nagad", "mobile_banking", 50, 25000, MB_TYPES, None),
    ("RK", "Rocket", "mobile_banking", 50, 25000, MB_TYPES, None),
    ("UP", "Upay", "mobile_banking", 50, 25000, MB_TYPES, None),
    ("BPDB", "Electricity bill", "custom", 100, 20000, ["prepaid", "postpaid"], None),
    ("NPR", "Nepal recharge", "country", 50, 2000, ["prepaid"], "NP"),
]

_STD = {"prepaid": [10, 1000], "postpaid": [10, 5000]}
# code, name, prefixes, limits (taka) per type
OPERATORS = [
    ("GP", "Grameenphone", ["013", "017"], {**_STD, "skitto": [20, 1000]}),
    ("BL", "Banglalink", ["014", "019"], _STD),
    ("TT", "Teletalk", ["015"], {"prepaid": [10, 1000], "postpaid": [10, 3000]}),
    ("AT", "Airtel", ["016"], _STD),
    ("RB", "Robi", ["018"], _STD),
]

# code, operator, name, price (taka), validity
PACKAGES = [
    ("GP1", "GP", "1GB 7 days", 98, "7 days"),
    ("GP2", "GP", "3GB 30 days", 298, "30 days"),
    ("GP3", "GP", "120 minutes 30 days", 189, "30 days"),
    ("RB1", "RB", "1.5GB 7 days", 118, "7 days"),
    ("RB2", "RB", "5GB 30 days", 399, "30 days"),
    ("RB3", "RB", "150 minutes 30 days", 199, "30 days"),
]

PINS = {r[1]: r[7] for r in RESELLERS}
PHONES = {r[1]: r[3] for r in RESELLERS}


def seed(db: SandboxDB) -> None:
    """Insert the seed data; rows already present are left as they are (idempotent)."""
    with db.transaction() as tx:
        _catalogue(tx)
        for row in RESELLERS:
            _reseller(tx, row)


def _catalogue(tx: Tx) -> None:
    for pos, (code, name, kind, low, high, types, country) in enumerate(SERVICES):
        tx.run(
            "INSERT OR IGNORE INTO services VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (code, name, kind, low * 100, high * 100, json.dumps(types), country, pos),
        )
    for code, name, prefixes, limits in OPERATORS:
        paisa = {t: [lo * 100, hi * 100] for t, (lo, hi) in limits.items()}
        tx.run(
            "INSERT OR IGNORE INTO operators VALUES (?, ?, 'FL', ?, ?)",
            (code, name, json.dumps(prefixes), json.dumps(paisa)),
        )
    for code, operator, name, price, validity in PACKAGES:
        tx.run("INSERT OR IGNORE INTO packages VALUES (?, ?, ?, ?, ?)", (code, operator, name, price * 100, validity))


def _reseller(tx: Tx, row: tuple) -> None:
    rid, username, name, phone, level, parent, balance, pin, status, language, services = row
    if tx.one("SELECT 1 FROM resellers WHERE id = ?", (rid,)):
        return
    tx.run(
        "INSERT INTO resellers (id, username, name, phone, parent_id, level, balance, status, language,"
        " password_hash, pin_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            rid,
            username,
            name,
            phone,
            parent,
            level,
            balance * 100,
            status,
            language,
            passwords.hash_secret(f"demo-{username}", cost=tx.kdf_cost),
            passwords.hash_secret(pin, cost=tx.kdf_cost),
            tx.now,
        ),
    )
    for code in services:
        tx.run("INSERT OR IGNORE INTO permissions VALUES (?, ?)", (rid, code))
