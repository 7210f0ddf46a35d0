"""Lifecycles declared as data and driven by ``transitions``, their state in Redis.

Each workflow module (:mod:`.request`, :mod:`.balance_approval`) declares its
states and triggers as constants and ``TRANSITIONS`` as a list of dicts, and
builds one :class:`Lifecycle` around one shared ``Machine(model=None, ...)``.
No model is ever attached: the machine is asked as data where a trigger leads
(``get_transitions(trigger, source=...)``) and which triggers a state allows
(``get_triggers``).  The state lives in Redis and changes by compare-and-set
(:mod:`.store`), so two events (or an event and a timer, or an admin's claim
and a timer) that race never both win.

Whatever does not fit (a duplicate, an out-of-order event, a lost race) is
absorbed: nothing changes, the outcome says why, and it is logged.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from transitions import Machine

from wa_addon.workflows import store

if TYPE_CHECKING:
    from wa_addon.runtime import Runtime

log = logging.getLogger(__name__)

UNKNOWN, DUPLICATE, ILLEGAL, LOST_RACE = "unknown", "duplicate", "illegal", "lost_race"
CAS_TRIES = 3  # a loser re-reads and re-decides; three losses in a row is absorbed
# Asked as data, the machine can only answer for plain moves: a condition or callback would need a model.
_PLAIN_KEYS = frozenset({"trigger", "source", "dest"})


@dataclass(frozen=True)
class Outcome:
    """What applying a trigger or a status did.

    Attributes:
        changed: True when this call made the change (or re-ran the cause that
            made it): the caller sends its notifications.
        state: the state now, or None when the add-on never heard of it.
        previous: the state before the change.
        version: the record's version after the change (names the transition).
        reason: why nothing changed: unknown, duplicate, illegal or lost_race.
        replayed: the cause had made this change before (a re-run).
        workflow: the lifecycle's name.
        ident: the request or balance request id.
    """

    changed: bool
    state: str | None
    previous: str | None = None
    version: int = 0
    reason: str = ""
    replayed: bool = False
    workflow: str = ""
    ident: str = ""

    @property
    def transition_id(self) -> str:
        """A stable name for this transition: notifications about it derive their ids from it."""
        return f"{self.workflow}:{self.ident}:v{self.version}:{self.state}"


class Lifecycle:
    """One declared lifecycle, its shared Machine, and its Redis-held state.

    Args:
        name: the workflow's name in Redis keys (``request``, ``balance_request``).
        states: every state.
        transitions: ``transitions``-style dicts: trigger, source, dest (nothing else:
            no conditions or callbacks, which only a model could run).
        initial: the state a new record starts in.
        timed: the state whose age is watched (stuck / expiry), if any.
    """

    def __init__(
        self,
        name: str,
        states: Sequence[str],
        transitions: list[dict[str, Any]],
        initial: str,
        timed: str | None = None,
    ):
        extra = {key for t in transitions for key in t} - _PLAIN_KEYS
        if extra:
            raise ValueError(f"{name}: transitions are plain moves; not allowed: {sorted(extra)}")
        self.name, self.states, self.initial, self.timed = name, tuple(states), initial, timed
        self.triggers = tuple(dict.fromkeys(t["trigger"] for t in transitions))
        self.machine = Machine(
            model=None, states=list(states), transitions=transitions, initial=initial, auto_transitions=False
        )

    def allowed(self, state: str) -> list[str]:
        """The triggers allowed from ``state``."""
        return list(self.machine.get_triggers(state))

    def step(self, state: str, trigger: str) -> str | None:
        """Where ``trigger`` leads from ``state``, or None if it is not allowed there."""
        if trigger not in self.triggers or state not in self.states:
            return None  # (an empty name would ask for every transition)
        moves = self.machine.get_transitions(trigger=trigger, source=state)
        return moves[0].dest if moves else None

    def resolve(self, state: str, trigger_or_status: str) -> str | None:
        """The trigger meant: the name itself, or the one leading from ``state`` to that status."""
        if trigger_or_status in self.triggers:
            return trigger_or_status
        return next((t for t in self.allowed(state) if self.step(state, t) == trigger_or_status), None)

    def take(self, rt: Runtime, ident: str) -> bool:
        """Take ``ident`` off the timer once its notice is queued; True for exactly one caller."""
        return store.take(rt, self.name, ident)

    def state(self, rt: Runtime, ident: object) -> str | None:
        """The current state, or None when unknown."""
        return store.read(rt, self.name, str(ident)).state

    def info(self, rt: Runtime, ident: object) -> dict[str, Any]:
        """The facts saved when the record was started."""
        return store.read(rt, self.name, str(ident)).info

    def start(
        self,
        rt: Runtime,
        ident: object,
        state: str | None = None,
        *,
        cause: str,
        source: str = "hook",
        info: dict[str, Any] | None = None,
    ) -> Outcome:
        """Create the record in ``state`` (default: the initial one); absorbed if it exists."""
        ident, state = str(ident), state or self.initial
        if state not in self.states:
            return self._absorb(ident, None, state, ILLEGAL, source, cause)
        code, now_state, version = store.compare_and_set(
            rt, self.name, ident, expected=None, new=state, cause=cause, source=source, timed=self.timed, info=info
        )
        if code == store.LOST:
            return self._absorb(ident, now_state, state, DUPLICATE, source, cause, version)
        return self._outcome(ident, None, now_state, version, replayed=code == store.REPLAY)

    def follow(
        self, rt: Runtime, ident: object, status: str, *, cause: str, info: dict[str, Any] | None = None
    ) -> Outcome:
        """Move to a status the host reported; a record never seen is adopted at it.

        (Created before the add-on listened: the host's word is taken.)
        """
        outcome = self.apply(rt, ident, status, source="hook", cause=cause)
        if outcome.reason == UNKNOWN:
            outcome = self.start(rt, ident, status, cause=cause, info=info)
        return outcome

    def apply(
        self, rt: Runtime, ident: object, trigger_or_status: str, *, source: str, cause: str | None = None
    ) -> Outcome:
        """Fire a trigger (``cancel``) or move to a status (``cancelled``), atomically.

        Args:
            rt: the runtime.
            ident: the request or balance request id.
            trigger_or_status: a trigger name or the target state.
            source: who asks: ``hook``, ``admin`` or ``timer`` (logged, stored).
            cause: what asks (event id, chat message id); the same cause twice
                makes one change.  Default: a fresh id.
        """
        ident, cause = str(ident), cause or f"{source}:{uuid.uuid4().hex}"
        record = store.read(rt, self.name, ident, cause)
        for _ in range(CAS_TRIES):
            if record.replay:
                return self._outcome(ident, None, record.replay[1], record.replay[0], replayed=True)
            if record.state is None:
                return self._absorb(ident, None, trigger_or_status, UNKNOWN, source, cause)
            trigger = self.resolve(record.state, trigger_or_status)
            dest = self.step(record.state, trigger) if trigger else None
            if dest is None:
                reason = DUPLICATE if trigger_or_status == record.state else ILLEGAL
                return self._absorb(ident, record.state, trigger_or_status, reason, source, cause, record.version)
            code, state, version = store.compare_and_set(
                rt, self.name, ident, expected=record.state, new=dest, cause=cause, source=source, timed=self.timed
            )
            if code != store.LOST:
                return self._outcome(ident, record.state, state, version, replayed=code == store.REPLAY)
            record = store.read(rt, self.name, ident, cause)  # someone else moved it first: decide again
        return self._absorb(ident, record.state, trigger_or_status, LOST_RACE, source, cause, record.version)

    def _outcome(self, ident: str, previous: str | None, state: str, version: int, *, replayed: bool) -> Outcome:
        return Outcome(True, state, previous, version, replayed=replayed, workflow=self.name, ident=ident)

    def _absorb(
        self, ident: str, state: str | None, wanted: str, reason: str, source: str, cause: str, version: int = 0
    ) -> Outcome:
        # A duplicate is routine (hosts retry), and so is whatever a person or a timer asks too
        # late (a button tapped again, a request already finished); a host's event that does not
        # fit is worth a look.
        level = logging.WARNING if reason != DUPLICATE and source == "hook" else logging.INFO
        log.log(
            level,
            "%s %s: %s absorbed in state %s (%s, source=%s, cause=%s)",
            self.name,
            ident,
            wanted,
            state,
            reason,
            source,
            cause,
        )
        return Outcome(False, state, state, version, reason=reason, workflow=self.name, ident=ident)
