"""One-time codes: issued, sent over WhatsApp, checked once.

A code is 6 digits, good for ``settings.otp_ttl`` seconds (5 minutes) and one
use; ``otp_max_tries`` wrong tries burn it; a phone gets at most
``otp_max_per_window`` codes per ``otp_window``.  Redis keeps only an HMAC of
phone and code (keyed with the deployment's secret, else with a random key
kept in Redis), and no code is ever logged.

The doors: the host's ``otp.requested`` event (:mod:`wa_addon.hooks.notify`),
the admin's ``OTP`` chat command (its :class:`Codes` store, handed to it in
the command kit, then :func:`add_message`), and, for a host's login page,
``POST {prefix}/otp`` and ``POST {prefix}/otp/verify`` (their Falcon resources
are :mod:`wa_addon.otp_resource`).  The hooks and those resources hold the
runtime: :func:`issue`, :func:`verify` and :func:`message` build the store on it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from typing import TYPE_CHECKING, cast

import redis

from wa_addon.messages import Outbound, short_hash
from wa_addon.notifications import Notes, Recipient
from wa_addon.phones import ascii_digits
from wa_addon.render import mask
from wa_addon.settings import Settings
from wa_addon.store import OTP_ISSUE_LUA, OTP_VERIFY_LUA, SEEN_TTL, Keys

if TYPE_CHECKING:
    from wa_addon.runtime import Runtime

log = logging.getLogger(__name__)

DIGITS = 6
STORED, AGAIN, LIMITED = 1, 2, 0
VALID = 1
_KEYS = ("hook_secret", "host_key", "cloud_app_secret", "admin_token")  # the first one set keys the HMACs


class RateLimited(Exception):
    """Too many codes for this phone; ``retry_after`` seconds until the next one."""

    def __init__(self, retry_after: int):
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class Codes:
    """The one-time codes in Redis: issued, checked, rate-limited.

    Keys (``store.Keys``) and TTLs:

    ==============================  ===========================================================
    ``{ns}:otp:{phone}``            hash: the code's HMAC and wrong tries; ``otp_ttl`` (300 s)
    ``{ns}:otprate:{phone}``        codes issued in the window; ``otp_window`` (900 s)
    ``{ns}:otpcause:{hash}``        a cause issued its code; ``SEEN_TTL`` (7 days), at least ``otp_ttl``
    ``{ns}:otpkey``                 the HMAC key when no secret is configured; no TTL
    ==============================  ===========================================================

    Args:
        conn: Redis.
        keys: the namespace's key builder.
        settings: ``otp_ttl``, ``otp_window``, ``otp_max_per_window``, ``otp_max_tries`` and the secrets.
    """

    def __init__(self, conn: redis.Redis, keys: Keys, settings: Settings):
        self.conn, self.keys, self.settings = conn, keys, settings
        self._issue = conn.register_script(OTP_ISSUE_LUA)
        self._verify = conn.register_script(OTP_VERIFY_LUA)

    def issue(self, phone: str, *, cause: str | None = None) -> str:
        """A new code for ``phone`` (E.164 digits), replacing any earlier one.

        Args:
            phone: who the code is for.
            cause: what asked for it (an event id, a chat message): the same cause
                always gives the same code and stores it once.  A re-run gets that
                code back (its message, built under the same id, is sent once) but
                never stores it again, even after it was used.  Default: a random code.

        Raises:
            RateLimited: ``phone`` had its codes for this window.
        """
        key = self._key()
        code = _derived(key, cause) if cause else f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"
        s = self.settings
        keys = [self.keys.otp(phone), self.keys.otp_rate(phone)]
        keys.append(self.keys.otp_cause(short_hash(cause)) if cause else keys[0])  # no cause: no mark
        result = self._issue(
            keys=keys,
            args=[_digest(key, phone, code), s.otp_ttl, s.otp_window, s.otp_max_per_window, max(SEEN_TTL, s.otp_ttl)],
        )
        if result == LIMITED:
            raise RateLimited(max(1, int(self.conn.ttl(keys[1]))))
        log.info("one-time code for %s: %s", mask(phone), "issued" if result == STORED else "issued before (a re-run)")
        return code

    def verify(self, phone: str, code: str) -> bool:
        """Whether ``code`` is ``phone``'s live code; a right one is used up, wrong ones count."""
        code = ascii_digits(str(code)).strip()
        result = self._verify(
            keys=[self.keys.otp(phone)], args=[_digest(self._key(), phone, code), self.settings.otp_max_tries]
        )
        log.info("one-time code for %s: %s", mask(phone), "valid" if result == VALID else "refused")
        return result == VALID

    def _key(self) -> bytes:
        """The HMAC key: the first secret set, else a random one kept in Redis (still, set WA_HOOK_SECRET)."""
        configured = next((getattr(self.settings, k) for k in _KEYS if getattr(self.settings, k)), "")
        if configured:
            return cast(str, configured).encode()
        self.conn.set(self.keys.otp_key, secrets.token_hex(32), nx=True)
        return cast(bytes, self.conn.get(self.keys.otp_key))


def add_message(notes: Notes, phone: str, code: str, language: str | None, minutes: int) -> None:
    """Add the WhatsApp message carrying ``code`` to ``notes`` (nothing if the ``otp`` switch is off); secret.

    ``language``: not one we speak (None) gives the default one.  ``minutes``: how long the
    code is good for (0 leaves it unsaid).
    """
    notes.send(Recipient(phone, language or ""), "otp", "otp", secret=True, code=code, minutes=minutes)


# -- for the hooks and the host's login page, which hold the runtime ----------


def issue(rt: Runtime, phone: str, *, cause: str | None = None) -> str:
    """:meth:`Codes.issue` on ``rt``'s Redis."""
    return Codes(rt.conn, rt.keys, rt.settings).issue(phone, cause=cause)


def verify(rt: Runtime, phone: str, code: str) -> bool:
    """:meth:`Codes.verify` on ``rt``'s Redis."""
    return Codes(rt.conn, rt.keys, rt.settings).verify(phone, code)


def message(
    rt: Runtime,
    phone: str,
    code: str,
    language: str | None = None,
    cause: str | None = None,
    minutes: int | None = None,
) -> list[Outbound]:
    """The WhatsApp message carrying ``code`` (empty if the ``otp`` switch is off); secret.

    ``minutes``: how long the code is good for (default ``otp_ttl``; 0 leaves it unsaid).
    """
    notes = Notes(rt, cause or f"otp:{uuid.uuid4().hex}")
    add_message(notes, phone, code, language, rt.settings.otp_ttl // 60 if minutes is None else minutes)
    return notes.out


def _digest(key: bytes, phone: str, code: str) -> str:
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _derived(key: bytes, cause: str) -> str:
    number = int.from_bytes(hmac.new(key, f"code:{cause}".encode(), hashlib.sha256).digest()[:8], "big")
    return f"{number % 10**DIGITS:0{DIGITS}d}"
