"""The admin's PIN: which admin commands need it, through which doors, and checking it.

On the Cloud API Meta vouches for the sender's number.  A phone on the device
transport reports who wrote, so any phone holding a token could claim to be
the admin.  Admin commands that move money or reveal secrets therefore need
the admin's PIN at the end when they arrive through a phone that is not bound
to the admin (``WA_DEVICE_ADMIN_PHONES``), or always with ``WA_ADMIN_PIN=always``.

The PIN is kept as a salted scrypt hash in Redis (set with ``wa-addon
admin-pin``); wrong PINs count toward the same lockout as the resellers'.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import redis

from wa_addon import phones
from wa_addon.commands import grammar, pin
from wa_addon.commands.registry import Context, Refused
from wa_addon.messages import Inbound
from wa_addon.settings import Settings
from wa_addon.store import Keys, text

# Admin commands that move money or reveal secrets (DENY, RS, REQ... do neither).
GUARDED = frozenset({"ADDBAL", "ADDRS", "ACCEPT", "COMPLETE", "CANCEL", "RESEND", "SEND", "OTP"})
VOUCHED = frozenset({"cloud"})  # transports whose sender someone other than the relaying phone vouches for
ALWAYS = "always"  # WA_ADMIN_PIN value: the PIN on every transport
WHO = "admin"  # the lockout's name for the admin (resellers count under their numeric ids)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class AdminPin:
    """The admin PIN as a salted scrypt hash in Redis: ``{ns}:adminpin`` (``store.Keys.admin_pin``), no TTL."""

    def __init__(self, conn: redis.Redis, keys: Keys):
        self.conn, self.key = conn, keys.admin_pin

    def set(self, new: str) -> None:
        """Store a new PIN (4 to 8 digits, Bengali digits too); ValueError otherwise."""
        if not grammar.is_pin(new):
            raise ValueError("the admin PIN is 4 to 8 digits")
        salt = os.urandom(16)
        self.conn.set(self.key, f"scrypt${salt.hex()}${_hash(new, salt).hex()}")

    def is_set(self) -> bool:
        """Whether an admin PIN has been set."""
        return bool(self.conn.exists(self.key))

    def matches(self, given: str) -> bool:
        """Whether ``given`` is the admin PIN (False when none is set)."""
        stored = self.conn.get(self.key)
        if not stored:
            return False
        _, salt, digest = text(stored).split("$")
        return hmac.compare_digest(_hash(given, bytes.fromhex(salt)).hex(), digest)


def _hash(given: str, salt: bytes) -> bytes:
    return hashlib.scrypt(phones.ascii_digits(given).encode(), salt=salt, **_SCRYPT)


def required(settings: Settings, msg: Inbound, command: str) -> bool:
    """Whether ``command`` from the admin number in ``msg`` must carry the admin PIN."""
    if command not in GUARDED:
        return False
    if settings.admin_pin == ALWAYS:
        return True
    return msg.transport not in VOUCHED and msg.via not in settings.device_admin_phones


def check(ctx: Context, args: list[str]) -> list[str]:
    """The arguments without the trailing admin PIN, once it is checked (Refused, Usage otherwise)."""
    stored = ctx.kit.admin_pin
    if not stored.is_set():
        raise Refused("admin_pin_unset")
    if not args or not grammar.is_pin(args[-1]):
        raise Refused("admin_pin_needed")
    pin.check(ctx.kit.pins, WHO, lambda: stored.matches(args[-1]))
    return args[:-1]
