"""The phones' bearer tokens and last contact, and the contact-name book.

A token is shown once, when the phone is added; Redis keeps only its SHA-256
(a token is 256 random bits, so a plain hash is enough: no salt or slow hash
is needed against guessing).  Every authenticated request records the phone's
last contact, which is how an operator sees which phones are online.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import redis

from wa_addon.store import Keys, text

TOKEN_PREFIX = "wad_"  # noqa: S105 - not a secret: recognisable in a config file or a leaked paste
NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,40}$")  # no commas: names go into Lua lists


# KEYS: the phone's record, the last-contact set; ARGV: now, name.
TOUCH_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return 1
"""


class DeviceError(ValueError):
    """A phone name is invalid, taken, or unknown."""


@dataclass(frozen=True)
class Phone:
    """One registered phone as an operator sees it.

    Attributes:
        name: the phone's name.
        created: unix time it was added.
        last_contact: unix time of its last authenticated request, or None.
        online: heard from within the online window.
    """

    name: str
    created: float
    last_contact: float | None
    online: bool


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class TokenRegistry:
    """Phones, their token hashes and their last contact.

    Args:
        conn: Redis connection.
        keys: the namespace's key builder.
        online: seconds since last contact within which a phone is online.
        clock: the time source.
    """

    def __init__(self, conn: redis.Redis, keys: Keys, *, online: float = 60, clock: Callable[[], float] = time.time):
        self.conn, self.keys, self.online, self.clock = conn, keys, online, clock
        self._touch = conn.register_script(TOUCH_LUA)

    def add(self, name: str) -> str:
        """Register phone ``name``; returns its token (shown once, never stored).

        Raises:
            DeviceError: the name is invalid or already registered.
        """
        if not NAME.match(name):
            raise DeviceError("a phone name is 1-40 letters, digits, '.', '_' or '-'")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = token_hash(token)
        if not self.conn.hsetnx(self.keys.device_phone(name), "created", f"{self.clock():.3f}"):
            raise DeviceError(f"phone {name!r} exists; revoke it first to issue a new token")
        pipe = self.conn.pipeline()
        pipe.hset(self.keys.device_phone(name), "token", digest)
        pipe.hset(self.keys.device("tokens"), digest, name)
        pipe.execute()
        return token

    def revoke(self, name: str) -> bool:
        """Forget phone ``name`` and its token; False if there was no such phone."""
        digest = self.conn.hget(self.keys.device_phone(name), "token")
        pipe = self.conn.pipeline()
        pipe.delete(self.keys.device_phone(name))
        if digest:
            pipe.hdel(self.keys.device("tokens"), digest)
        pipe.zrem(self.keys.device("seen"), name)
        return bool(pipe.execute()[0])

    def verify(self, token: str | None) -> str | None:
        """The phone a token belongs to, or None."""
        if not token or not token.startswith(TOKEN_PREFIX):
            return None
        name = self.conn.hget(self.keys.device("tokens"), token_hash(token))
        return text(name) if name else None

    def touch(self, name: str) -> None:
        """Record that ``name`` was heard from now, if it is still registered.

        Checked in the same script: a request authenticated just before its
        phone was revoked must not mark the revoked phone online again (the
        replies that prefer it would wait for it for ``online`` seconds).
        """
        self._touch(keys=[self.keys.device_phone(name), self.keys.device("seen")], args=[self.clock(), name])

    def phones(self) -> list[Phone]:
        """Every registered phone, by name."""
        # Every phone has a token, so the token index names them all (no keyspace scan).
        names = sorted({text(v) for v in self.conn.hvals(self.keys.device("tokens"))})
        pipe = self.conn.pipeline(transaction=False)
        for name in names:
            pipe.hget(self.keys.device_phone(name), "created")
            pipe.zscore(self.keys.device("seen"), name)
        got = pipe.execute()
        now = self.clock()
        return [
            self._phone(name, created, seen, now)
            for name, created, seen in zip(names, got[::2], got[1::2], strict=True)
        ]

    def _phone(self, name: str, created: bytes | None, seen: float | None, now: float) -> Phone:
        online = seen is not None and now - seen <= self.online
        return Phone(name, float(created or 0), seen, online)


class ContactNames:
    """Contact names as a phone shows them -> phone numbers.

    Redis entries (``wa-addon device map``) win over the settings' ``device_names``.

    Args:
        conn: Redis connection.
        keys: the namespace's key builder.
        configured: name -> number from the settings.
    """

    def __init__(self, conn: redis.Redis, keys: Keys, configured: Mapping[str, str]):
        self.conn, self.key = conn, keys.device("names")
        self.configured = {_fold(k): v for k, v in configured.items()}

    def map(self, name: str, number: str) -> None:
        self.conn.hset(self.key, _fold(name), number)

    def unmap(self, name: str) -> bool:
        return bool(self.conn.hdel(self.key, _fold(name)))

    def lookup(self, name: str) -> str | None:
        found = self.conn.hget(self.key, _fold(name))
        return text(found) if found else self.configured.get(_fold(name))

    def all(self) -> dict[str, str]:
        stored = {text(k): text(v) for k, v in self.conn.hgetall(self.key).items()}
        return {**self.configured, **stored}


def parse_names(items: Iterable[str]) -> dict[str, str]:
    """``"Karim Store=8801822222222"`` items -> {name: number} (numbers as given)."""
    out = {}
    for item in items:
        name, sep, number = item.rpartition("=")
        if sep and name.strip() and number.strip():
            out[name.strip()] = number.strip()
    return out


def _fold(name: str) -> str:
    # Phones differ in case and spacing of the same contact name.
    return " ".join(name.split()).casefold()
