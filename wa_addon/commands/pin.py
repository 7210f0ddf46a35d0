"""PIN checks with lockout: after N wrong PINs in a window, a pause, twice as long each time.

Without the doubling a guesser got ~480 tries a day (5 every 15 minutes); with
it, lockouts of 15 min, 30 min, 1 h, ... (at most a day) leave a few dozen.
The strikes are forgotten a day after the last lockout, not on a right PIN:
a guesser's pauses must not shrink because the owner signed in between.

The PIN itself is handed to the host to verify and then forgotten: it is never
stored, logged, audited or echoed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from wa_addon import phones
from wa_addon.commands.registry import Context, Refused
from wa_addon.render import local_time
from wa_addon.settings import Settings
from wa_addon.store import COUNT_IN_WINDOW_LUA, Keys

MAX_LOCKOUT = 24 * 3600  # the longest pause, however many lockouts came before
STRIKES_TTL = 24 * 3600  # lockouts are remembered this long after the last one


class PinGuard:
    """Counts wrong PINs per sender in Redis and locks the sender out.

    Keys (``store.Keys``; ``who``: a reseller's id, or ``admin``) and TTLs:

    =============================  ==============================================================
    ``{ns}:pinfail:{who}``         wrong PINs so far; ``pin_window`` from the first (900 s)
    ``{ns}:pinlock:{who}``         the lockout's end (Unix time); the lockout's length:
                                   ``pin_lockout`` (900 s), doubled per strike, ``MAX_LOCKOUT``
    ``{ns}:pinstrike:{who}``       lockouts so far; ``STRIKES_TTL`` from the last
    =============================  ==============================================================

    Args:
        conn: Redis.
        keys: the namespace's key builder.
        settings: ``pin_max_failures``, ``pin_window``, ``pin_lockout``, and ``timezone`` for the lockout's end.
    """

    def __init__(self, conn: redis.Redis, keys: Keys, settings: Settings):
        self.conn, self.keys, self.settings = conn, keys, settings
        self._count = conn.register_script(COUNT_IN_WINDOW_LUA)

    def locked_until(self, who: str) -> float | None:
        """Unix time the lockout ends, or None if not locked."""
        value = self.conn.get(self.keys.pin_lock(who))
        return float(value) if value else None

    def failed(self, who: str, now: float | None = None) -> float | None:
        """Record a wrong PIN; returns the lockout end if this one locks."""
        now = time.time() if now is None else now
        key = self.keys.pin_failures(who)
        # The window starts at the first wrong PIN: later ones must not extend it.
        count = int(self._count(keys=[key], args=[self.settings.pin_window]))
        if count < self.settings.pin_max_failures:
            return None
        strikes = self.keys.pin_strikes(who)
        pipe = self.conn.pipeline()
        pipe.incr(strikes)
        pipe.expire(strikes, STRIKES_TTL)
        pause = min(self.settings.pin_lockout * 2 ** (int(pipe.execute()[0]) - 1), MAX_LOCKOUT)
        until = now + pause
        pipe.set(self.keys.pin_lock(who), f"{until:.0f}", ex=int(pause))
        pipe.delete(key)
        pipe.execute()
        return until

    def succeeded(self, who: str) -> None:
        self.conn.delete(self.keys.pin_failures(who))

    def remaining(self, who: str) -> int:
        """Tries left before the lockout."""
        used = int(self.conn.get(self.keys.pin_failures(who)) or 0)
        return max(self.settings.pin_max_failures - used, 0)


def check(guard: PinGuard, who: str, right: Callable[[], bool]) -> None:
    """Ask ``right()`` under ``who``'s lockout; raises Refused (``pin_locked``, ``pin_wrong``)."""
    until = guard.locked_until(who)
    if until:
        raise Refused("pin_locked", until=_clock(guard, until))
    if not right():
        until = guard.failed(who)
        if until:
            raise Refused("pin_locked", until=_clock(guard, until))
        raise Refused("pin_wrong", left=guard.remaining(who))
    guard.succeeded(who)


def verify_pin(ctx: Context, pin: str) -> None:
    """Check the sender's PIN under the lockout; raises Refused (wrong or locked).

    Also used by ``PIN <old> <new>``, so guessing through a PIN change counts too.
    """
    actor = ctx.actor
    assert actor is not None, "PIN commands are reseller commands"
    check(ctx.kit.pins, str(actor.id), lambda: ctx.host.verify_pin(actor.id, phones.ascii_digits(pin)))


def _clock(guard: PinGuard, until: float) -> str:
    """The lockout's end as the shop reads it (``WA_TIMEZONE``)."""
    return local_time(until, guard.settings.timezone, "%H:%M")
