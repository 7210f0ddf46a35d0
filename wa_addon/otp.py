"""One-time codes: issued, sent over WhatsApp, checked once.

A code is 6 digits, good for ``settings.otp_ttl`` seconds (5 minutes) and one
use; ``otp_max_tries`` wrong tries burn it; a phone gets at most
``otp_max_per_window`` codes per ``otp_window``.  Redis keeps only an HMAC of
phone and code (keyed with the deployment's secret, else with a random key
kept in Redis), and no code is ever logged.

The doors: the host's ``otp.requested`` event (:mod:`wa_addon.hooks.notify`),
the admin's ``OTP`` chat command (:func:`issue` then :func:`message`), and,
for a host's login page, ``POST {prefix}/otp`` and ``POST {prefix}/otp/verify``
(their Falcon resources are :mod:`wa_addon.otp_resource`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from typing import cast

from wa_addon.messages import Outbound, short_hash
from wa_addon.notifications import Notes, Recipient
from wa_addon.phones import ascii_digits
from wa_addon.render import LANGUAGES, mask
from wa_addon.runtime import Runtime
from wa_addon.store import SEEN_TTL

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


def issue(rt: Runtime, phone: str, *, cause: str | None = None) -> str:
    """A new code for ``phone`` (E.164 digits), replacing any earlier one.

    Args:
        rt: the runtime.
        phone: who the code is for.
        cause: what asked for it (an event id, a chat message): the same cause
            always gives the same code and stores it once.  A re-run gets that
            code back (its message, built under the same id, is sent once) but
            never stores it again, even after it was used.  Default: a random code.

    Raises:
        RateLimited: ``phone`` had its codes for this window.
    """
    key = _key(rt)
    code = _derived(key, cause) if cause else f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"
    s = rt.settings
    keys = [rt.keys.otp(phone), rt.keys.otp_rate(phone)]
    keys.append(rt.keys.otp_cause(short_hash(cause)) if cause else keys[0])  # no cause: no mark
    result = rt.scripts.otp_issue(keys=keys, args=[_digest(key, phone, code), s.otp_ttl, s.otp_window,
                                                   s.otp_max_per_window, max(SEEN_TTL, s.otp_ttl)])
    if result == LIMITED:
        raise RateLimited(max(1, int(rt.conn.ttl(keys[1]))))
    log.info("one-time code for %s: %s", mask(phone), "issued" if result == STORED else "issued before (a re-run)")
    return code


def verify(rt: Runtime, phone: str, code: str) -> bool:
    """Whether ``code`` is ``phone``'s live code; a right one is used up, wrong ones count."""
    code = ascii_digits(str(code)).strip()
    result = rt.scripts.otp_verify(keys=[rt.keys.otp(phone)], args=[_digest(_key(rt), phone, code),
                                                                    rt.settings.otp_max_tries])
    log.info("one-time code for %s: %s", mask(phone), "valid" if result == VALID else "refused")
    return result == VALID


def message(rt: Runtime, phone: str, code: str, language: str | None = None,
            cause: str | None = None, minutes: int | None = None) -> list[Outbound]:
    """The WhatsApp message carrying ``code`` (empty if the ``otp`` switch is off); secret.

    ``minutes``: how long the code is good for (default ``otp_ttl``; 0 leaves it unsaid).
    """
    notes = Notes(rt, cause or f"otp:{uuid.uuid4().hex}")
    lang = language if language in LANGUAGES else rt.switches.default_language()
    minutes = rt.settings.otp_ttl // 60 if minutes is None else minutes
    notes.send(Recipient(phone, lang), "otp", "otp", secret=True, code=code, minutes=minutes)
    return notes.out


def _key(rt: Runtime) -> bytes:
    """The HMAC key: the first secret set, else a random one kept in Redis (still, set WA_HOOK_SECRET)."""
    configured = next((getattr(rt.settings, k) for k in _KEYS if getattr(rt.settings, k)), "")
    if configured:
        return cast(str, configured).encode()
    rt.conn.set(rt.keys.otp_key, secrets.token_hex(32), nx=True)
    return cast(bytes, rt.conn.get(rt.keys.otp_key))


def _digest(key: bytes, phone: str, code: str) -> str:
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _derived(key: bytes, cause: str) -> str:
    number = int.from_bytes(hmac.new(key, f"code:{cause}".encode(), hashlib.sha256).digest()[:8], "big")
    return f"{number % 10**DIGITS:0{DIGITS}d}"
