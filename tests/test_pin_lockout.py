"""The PIN lockout lengthens on repeat: a guesser gets dozens of tries a day, not hundreds."""

from __future__ import annotations

import itertools

from wa_addon.commands.pin import MAX_LOCKOUT, PinGuard
from wa_addon.settings import Settings
from wa_addon.store import Keys

NOW = 1_000_000.0


def lock_out(guard: PinGuard, who: str) -> float:
    """Five wrong PINs; returns how long the lockout they cause lasts."""
    until = None
    for _ in range(5):
        until = guard.failed(who, now=NOW)
    assert until is not None
    return until - NOW


def test_each_lockout_is_twice_the_last_up_to_a_day(conn, namespace):
    keys = Keys(namespace)
    guard = PinGuard(conn, keys, Settings())
    pauses = []
    for _ in range(9):
        pauses.append(lock_out(guard, "3"))
        assert 0 < conn.ttl(keys.pin_lock("3")) <= pauses[-1]
        conn.delete(keys.pin_lock("3"))  # the lockout ran out
    assert pauses == [900, 1800, 3600, 7200, 14400, 28800, 57600, MAX_LOCKOUT, MAX_LOCKOUT]
    starts = list(itertools.accumulate([0.0, *pauses]))  # a guesser's rounds, back to back
    assert 5 * sum(1 for start in starts if start < 24 * 3600) == 35  # guesses a day (before: 480)


def test_a_right_pin_does_not_shrink_a_guessers_next_pause(conn, namespace):
    keys = Keys(namespace)
    guard = PinGuard(conn, keys, Settings())
    assert lock_out(guard, "3") == 900
    conn.delete(keys.pin_lock("3"))
    guard.succeeded("3")  # the owner signs in between the guesser's rounds
    assert lock_out(guard, "3") == 1800
    assert lock_out(guard, "4") == 900  # strikes are per sender
