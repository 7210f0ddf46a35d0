"""The sandbox's SQLite schema.  Money columns hold integer paisa.

The admin is the reseller whose ``parent_id`` is NULL (id 1 in the seed):
it mints money, so its balance is never checked nor moved.
"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS resellers (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    phone         TEXT NOT NULL UNIQUE,
    parent_id     INTEGER REFERENCES resellers(id),
    level         INTEGER NOT NULL,
    balance       INTEGER NOT NULL DEFAULT 0,
    status        TEXT NOT NULL DEFAULT 'active',
    language      TEXT NOT NULL DEFAULT 'bn',
    wa_user_id    TEXT UNIQUE,
    password_hash TEXT NOT NULL,
    pin_hash      TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resellers_parent ON resellers(parent_id);

CREATE TABLE IF NOT EXISTS permissions (
    reseller_id INTEGER NOT NULL REFERENCES resellers(id),
    service     TEXT NOT NULL REFERENCES services(code),
    PRIMARY KEY (reseller_id, service)
);

CREATE TABLE IF NOT EXISTS services (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    min_amount INTEGER NOT NULL,
    max_amount INTEGER NOT NULL,
    types      TEXT NOT NULL DEFAULT '[]',
    country    TEXT,
    position   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS operators (
    code     TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    service  TEXT NOT NULL REFERENCES services(code),
    prefixes TEXT NOT NULL DEFAULT '[]',
    limits   TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE IF NOT EXISTS packages (
    code     TEXT PRIMARY KEY,
    operator TEXT NOT NULL REFERENCES operators(code),
    name     TEXT NOT NULL,
    price    INTEGER NOT NULL,
    validity TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS requests (
    id             INTEGER PRIMARY KEY,
    reseller_id    INTEGER NOT NULL REFERENCES resellers(id),
    service        TEXT NOT NULL,
    operator       TEXT,
    package        TEXT,
    number         TEXT NOT NULL,
    amount         INTEGER NOT NULL,
    type           TEXT NOT NULL,
    status         TEXT NOT NULL,
    charged        INTEGER NOT NULL,
    trx_id         TEXT,
    note           TEXT,
    balance_before INTEGER NOT NULL,
    balance_after  INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_reseller ON requests(reseller_id, id);

CREATE TABLE IF NOT EXISTS payments (
    id                 INTEGER PRIMARY KEY,
    from_id            INTEGER REFERENCES resellers(id),
    to_id              INTEGER NOT NULL REFERENCES resellers(id),
    amount             INTEGER NOT NULL,
    balance_after      INTEGER NOT NULL,
    from_balance_after INTEGER,
    note               TEXT,
    balance_request_id INTEGER,
    created_at         TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS balance_requests (
    id          INTEGER PRIMARY KEY,
    reseller_id INTEGER NOT NULL REFERENCES resellers(id),
    amount      INTEGER NOT NULL,
    note        TEXT,
    status      TEXT NOT NULL,
    payment_id  INTEGER,
    decided_by  INTEGER,
    created_at  TEXT NOT NULL,
    decided_at  TEXT
);

CREATE TABLE IF NOT EXISTS idempotency (
    actor       INTEGER NOT NULL,
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (actor, scope, key)
);
"""
