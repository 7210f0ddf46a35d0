"""Guided commands: ``FL`` alone (or ``ADDBAL``, ``ADDRS``) is asked for step by step.

python-telegram-bot's ``ConversationHandler`` is the model: :data:`FLOWS` is
the table of states, each :class:`Step` a small function that reads one
answer (or refuses it, and the same question is asked again).  The state is
kept per sender in Redis (:class:`Guides`) for ``settings.guide_timeout``
seconds (an answer later than that is told so, not taken); ``NO`` /
``বাতিল`` stops, and any other command ends the guide and runs.  When the
last answer comes, the answers make the one-line command
(``FL 01712345678 50 <PIN>``), which then runs exactly as if it had been
typed: the same PIN check, audit and idempotency key (the last message's).

A PIN is never kept: the last step is the PIN, and the command runs at once.
Each state names the message that made it and the state before it, so a
redelivered message (or a retried job) applies to the same state again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from wa_addon.commands import catalog, common, grammar
from wa_addon.commands.registry import ADMIN, RESELLER, Command, Context, Refused, Reply
from wa_addon.commands.service import mobile_of, number_of
from wa_addon.messages import Inbound
from wa_addon.store import Keys, text

STOP_WORDS = frozenset({"NO", "STOP", "CANCEL", "না", "বাতিল", "থামুন"})
# Seconds a guide that timed out is remembered, so a late answer hears why it was not taken.
REMEMBER_EXPIRED = 3600
READ_AHEAD_MAX = 10_000  # entries read ahead and not yet asked for, at most


@dataclass(frozen=True)
class Step:
    """One question: ``name`` picks its prompt; ``read`` turns the answer into command words or raises Refused."""

    name: str
    read: Callable[[Context, str, str], list[str]]  # (ctx, the guided keyword, the answer)


def _number(ctx: Context, word: str, answer: str) -> list[str]:
    number_of(ctx, catalog.find_service(ctx, word), answer.strip())
    return [answer.strip()]


def _amount(ctx: Context, word: str, answer: str) -> list[str]:
    common.amount_of(answer.strip())  # Usage when it is none
    return [answer.strip()]


def _pin(ctx: Context, word: str, answer: str) -> list[str]:
    if not grammar.is_pin(answer.strip()):
        raise Refused("guide_not_pin")
    return [answer.strip()]


def _package(ctx: Context, word: str, answer: str) -> list[str]:
    return [catalog.find_package(ctx, answer.strip(), None).code]


def _mobile(ctx: Context, word: str, answer: str) -> list[str]:
    mobile_of(ctx, answer.strip())
    return [answer.strip()]


def _reseller(ctx: Context, word: str, answer: str) -> list[str]:
    common.visible_reseller(ctx, answer.strip())
    return [answer.strip()]


def _phone(ctx: Context, word: str, answer: str) -> list[str]:
    common.phone_of(ctx, answer.strip())
    return [answer.strip()]


def _name(ctx: Context, word: str, answer: str) -> list[str]:
    # One word, spaces and all: typed on one line, "Mobile Point 2" would end in a level (2).
    if not answer.split():
        raise Refused("guide_not_name")
    return [" ".join(answer.split())]


NUMBER, AMOUNT, PIN = Step("number", _number), Step("amount", _amount), Step("pin", _pin)
RESELLER_REF, PHONE, NAME = Step("reseller", _reseller), Step("phone", _phone), Step("name", _name)
PACKAGE, MOBILE = Step("package", _package), Step("number", _mobile)

# The table of states: (role, command) -> its questions, in order.
FLOWS: dict[tuple[str, str], tuple[Step, ...]] = {
    (RESELLER, "SERVICE"): (NUMBER, AMOUNT, PIN),
    (RESELLER, "PKG"): (PACKAGE, MOBILE, PIN),
    (RESELLER, "ADDBAL"): (RESELLER_REF, AMOUNT, PIN),
    (RESELLER, "ADDRS"): (PHONE, NAME, PIN),
    (ADMIN, "ADDBAL"): (RESELLER_REF, AMOUNT),
    (ADMIN, "ADDRS"): (PHONE, NAME),
}

# Answers that may come with the keyword: a package list's row is "PKG GP1", then the number is asked.
PRESET = {"PKG": 1}

Resolve = Callable[[Context, list[str]], Command | None]


def steer(ctx: Context, tokens: list[str], resolve: Resolve) -> Reply | list[str] | None:
    """Where a message goes: a guide's next question (Reply), the finished command's words, or None (not guided).

    Args:
        ctx: the message's context.
        tokens: the message's words.
        resolve: the dispatcher's keyword -> command lookup (service codes too).
    """
    found = _state(ctx)
    cmd = resolve(ctx, tokens[:1]) if tokens else None
    flow = (ctx.role, cmd.name) if cmd else None
    if cmd is not None and flow in FLOWS and len(tokens) - 1 <= PRESET.get(cmd.name, 0):
        fresh = {"flow": cmd.name, "word": grammar.keyword(tokens[0]), "words": [], "asked": 0}
        if len(tokens) > 1:  # a tapped list row carries the first answer ("PKG GP1")
            return _answer(ctx, fresh, " ".join(tokens[1:]), found)
        return _ask(ctx, fresh, found)
    if found is None:
        return None
    if tokens and grammar.keyword(tokens[0]) in STOP_WORDS:
        _save(ctx, {"done": True}, found)
        return Reply("guide_stopped")
    if cmd is not None and cmd.name != "SERVICE":  # another command: the guide ends, the command runs
        _save(ctx, {"done": True}, found)
        return None
    if found.get("until", float("inf")) <= time.time():  # a late answer: not taken, and said why
        _save(ctx, {"done": True}, found)
        return Reply("guide_expired", {"what": found["word"], "minutes": max(1, round(ctx.kit.guides.timeout / 60))})
    return _answer(ctx, found, " ".join(tokens), found)


def _answer(ctx: Context, state: dict[str, Any], answer: str, found: dict[str, Any] | None) -> Reply | list[str]:
    """Apply one answer to ``state``; ``found`` is the state this message found (kept for a re-run)."""
    steps = FLOWS[(ctx.role, state["flow"])]
    try:
        words = state["words"] + steps[state["asked"]].read(ctx, state["word"], answer)
    except (Refused, common.Usage) as why:  # the same question again, saying what was wrong
        if found is not state:
            _save(ctx, state, found)
        return _question(ctx, state, _problem(ctx, why))
    if state["asked"] + 1 == len(steps):
        _save(ctx, {"done": True}, found)
        return [state["word"], *words]
    return _ask(ctx, {**state, "words": words, "asked": state["asked"] + 1}, found)


def _problem(ctx: Context, why: Exception) -> str:
    if isinstance(why, Refused):
        return ctx.kit.renderer.render(ctx.lang, why.template, **why.context)
    return ctx.kit.renderer.render(ctx.lang, "guide_not_amount")


def _ask(ctx: Context, state: dict[str, Any], previous: dict[str, Any] | None) -> Reply:
    _save(ctx, state, previous)
    return _question(ctx, state)


def _question(ctx: Context, state: dict[str, Any], problem: str = "") -> Reply:
    steps = FLOWS[(ctx.role, state["flow"])]
    return Reply(
        "guide_ask",
        {
            "what": state["word"],
            "step": steps[state["asked"]].name,
            "n": state["asked"] + 1,
            "total": len(steps),
            "problem": problem,
        },
    )


# -- the state in Redis ------------------------------------------------------


class Guides:
    """Each chat's open guide in Redis: ``{ns}:guide:{chat}`` (``store.Keys.guide``), JSON, never a PIN.

    Kept per chat (``Inbound.chat``), not per reseller, so its key is known
    before the host is asked, and a session can read the guides of the chats
    it starts in one call.

    An entry holds ``until``, the Unix time its question stops waiting; the key
    lives REMEMBER_EXPIRED longer, so an answer that comes late is told the
    guide timed out instead of being read as a command of its own.

    Args:
        conn: Redis.
        keys: the namespace's key builder.
        timeout: ``settings.guide_timeout`` (``WA_GUIDE_TIMEOUT``, 300 s): the key's TTL, restarted by each answer.
    """

    def __init__(self, conn: redis.Redis, keys: Keys, timeout: int):
        self.conn, self.keys, self.timeout = conn, keys, timeout
        # A message's (transport, id) -> its entry: read ahead for chats about to start.
        self._ahead: dict[tuple[str, str], Any] = {}

    def read_ahead(self, msgs: list[Inbound]) -> None:
        """Read the entries of the chats a session is about to start, in one ``MGET``.

        A worker's profile had the one ``GET`` per chat at 7.6 % of its time;
        a session starts many chats at once at load.  Read at start, a chat's
        entry is current: the chat before it from the same sender has
        finished (one at a time per sender), and nothing else writes it.
        """
        msgs = [m for m in msgs if m.chat]
        if not msgs:
            return
        raws = self.conn.mget([self.keys.guide(m.chat) for m in msgs])
        if len(self._ahead) > READ_AHEAD_MAX:  # chats that never asked (see forget): bounded
            self._ahead.clear()
        for msg, raw in zip(msgs, raws, strict=True):
            self._ahead[_ref(msg)] = raw

    def forget(self, msg: Inbound) -> None:
        """A chat is done: drop what was read ahead for it, if it never asked (unknown sender, paused...)."""
        self._ahead.pop(_ref(msg), None)

    def load(self, msg: Inbound) -> dict[str, Any] | None:
        """The entry last saved for ``msg``'s chat, or None (none, or its time ran out).

        What was read ahead for this very message is used once, else Redis is asked.
        """
        ref = _ref(msg)
        raw = self._ahead.pop(ref) if ref in self._ahead else self.conn.get(self.keys.guide(msg.chat))
        return json.loads(text(raw)) if raw else None

    def save(self, msg: Inbound, entry: dict[str, Any]) -> None:
        entry = {**entry, "until": time.time() + self.timeout}
        self.conn.set(self.keys.guide(msg.chat), json.dumps(entry), ex=self.timeout + REMEMBER_EXPIRED)


def _ref(msg: Inbound) -> tuple[str, str]:
    return (msg.transport, msg.msg_id)


def _state(ctx: Context) -> dict[str, Any] | None:
    """The sender's open guide, as it was before this message (a re-run applies to the same state)."""
    saved = ctx.kit.guides.load(ctx.msg)
    if saved is not None and saved.get("by") == ctx.msg.dedupe_id:
        saved = saved.get("prev")  # this very message ran before: start from what it found
    if saved is None or saved.get("done"):
        return None
    return saved


def _save(ctx: Context, state: dict[str, Any], previous: dict[str, Any] | None) -> None:
    if previous is not None:
        previous = {k: v for k, v in previous.items() if k not in ("by", "prev")}
    ctx.kit.guides.save(ctx.msg, {**state, "by": ctx.msg.dedupe_id, "prev": previous})
