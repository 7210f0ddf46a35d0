"""Password and PIN hashing (scrypt with a per-secret salt) and generation.

Only hashes are stored; the plain values exist in memory just long enough to
be returned once to the caller (and, for a reset, sent in the hook).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import NamedTuple

_R, _P, _DKLEN = 8, 1, 32


class Issued(NamedTuple):
    """A fresh password and PIN with their hashes (see :func:`issue`)."""

    password: str
    pin: str
    password_hash: str
    pin_hash: str


def hash_secret(plain: str, *, cost: int = 14) -> str:
    """Hash ``plain`` as ``scrypt$<log2 n>$<salt hex>$<hash hex>``."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(plain, salt, cost)
    return f"scrypt${cost}${salt.hex()}${digest.hex()}"


def check_secret(plain: str, stored: str) -> bool:
    """Whether ``plain`` matches a hash made by :func:`hash_secret` (constant time)."""
    try:
        scheme, cost, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = _scrypt(plain, bytes.fromhex(salt), int(cost))
    except ValueError:
        return False
    return hmac.compare_digest(actual, bytes.fromhex(digest))


def new_password() -> str:
    """A fresh random password (about 60 bits, URL-safe characters)."""
    return secrets.token_urlsafe(8)


def new_pin() -> str:
    """A fresh random 4-digit PIN."""
    return f"{secrets.randbelow(10_000):04d}"


def issue(*, cost: int = 14) -> Issued:
    """A new password and PIN, hashed now.

    scrypt takes about 50 ms per secret: callers hash before ``BEGIN
    IMMEDIATE``, so the write lock is never held while it runs.
    """
    password, pin = new_password(), new_pin()
    return Issued(password, pin, hash_secret(password, cost=cost), hash_secret(pin, cost=cost))


def _scrypt(plain: str, salt: bytes, cost: int) -> bytes:
    return hashlib.scrypt(plain.encode(), salt=salt, n=2**cost, r=_R, p=_P, dklen=_DKLEN)
