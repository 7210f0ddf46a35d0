"""The command registry: one table of commands, one table of who may run what.

A command is a small function ``handler(ctx, args) -> Reply`` whose docstring's
first line is its usage line, registered for one role with ``@command(name,
role=...)``: that registration is the one statement of who may run it
(:func:`acl` reads the table back).  Parsing the keyword, the permission check
(:func:`lookup`), the PIN check and the execution are separate steps, run by
:mod:`wa_addon.commands.dispatch`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wa_addon.host import Host, Reseller, Service
from wa_addon.messages import Inbound, Outbound
from wa_addon.settings import Settings
from wa_addon.switches import Switches

if TYPE_CHECKING:  # the kit's stores live in modules that import this one
    from wa_addon.commands.kit import Kit

ADMIN = "admin"
RESELLER = "reseller"

# The order HELP lists commands in (the most used first).  Who may run a
# command is not here: it is the ``role`` its handler is registered with
# (:func:`command`), read back by :func:`acl`, :func:`lookup` and
# :func:`commands_for`.  A name both roles have is two commands (the admin's
# needs no PIN and sees everyone).
HELP_ORDER: tuple[str, ...] = (
    "BAL",
    "SERVICE",  # "<service> <number> <amount> ... <PIN>": any other word
    "PKG",
    "YES",
    "CONFIRM",
    "NO",
    "ADDBAL",
    "ADDRS",
    "RS",
    "REQ",
    "RESEND",
    "CANCEL",
    "COMPLETE",
    "ACCEPT",
    "DENY",
    "SEND",
    "OTP",
    "PERM",
    "OPS",
    "PKGS",
    "PIN",
    "LANG",
    "HELP",
)

# Other words for a command: the Bengali ones shops use, and habits ("balance", "hi", "menu").
# docs/commands.md lists every one; a test checks each leads to a registered command.
ALIASES: dict[str, str] = {
    "BALANCE": "BAL",
    "ব্যালেন্স": "BAL",
    "ব্যালান্স": "BAL",
    "ব্যাল্যান্স": "BAL",
    "HI": "HELP",
    "HELLO": "HELP",
    "MENU": "HELP",
    "START": "HELP",
    "হাই": "HELP",
    "হ্যালো": "HELP",
    "মেনু": "HELP",
    "সাহায্য": "HELP",
    "হেল্প": "HELP",
    "হ্যাঁ": "YES",
    "হ্যা": "YES",
    "জি": "YES",
    "না": "NO",
    "বাতিল": "NO",
    "অনুরোধ": "REQ",
    "পিন": "PIN",
    "ভাষা": "LANG",
    "সার্ভিস": "PERM",
    "অপারেটর": "OPS",
    "প্যাকেজ": "PKGS",
    "রিসেলার": "RS",
    "মঞ্জুর": "ACCEPT",
    "নামঞ্জুর": "DENY",
    "সম্পন্ন": "COMPLETE",
    "ওটিপি": "OTP",
}
# A word that means one thing to the admin and another to a reseller ("বাতিল": cancel a request / drop).
ROLE_ALIASES: dict[str, dict[str, str]] = {ADMIN: {"বাতিল": "CANCEL"}}
# HELP's list message (Cloud API): what a tap can start (a guided command, or one needing no argument).
TAPS: dict[str, tuple[str, ...]] = {
    RESELLER: ("BAL", "SERVICE", "PKG", "REQ", "PERM", "ADDBAL", "ADDRS", "RS"),
    ADMIN: ("BAL", "REQ", "RS", "ADDBAL", "ADDRS", "OTP"),
}
SERVICE_TAPS = 3  # a reseller's first permitted services, each a row of its own
# The short menu an unknown word gets (HELP has them all).
MENU: dict[str, tuple[str, ...]] = {
    RESELLER: ("BAL", "SERVICE", "REQ", "PKGS"),
    ADMIN: ("REQ", "COMPLETE", "CANCEL", "ACCEPT"),
}


class Usage(Exception):
    """The arguments are malformed: answer with the command's usage line."""


class Refused(Exception):
    """The command cannot be done; ``template`` and ``context`` explain why."""

    def __init__(self, template: str, **context: Any):
        super().__init__(template)
        self.template = template
        self.context = context


@dataclass
class Reply:
    """A handler's answer: a template name, its context, and any messages to others."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)
    secret: bool = False  # holds a password or PIN (a new account): never journaled
    # Messages built by their owners (a one-time code, a message to any number), sent as they are.
    outbound: list[Outbound] = field(default_factory=list)
    kind: str = "reply"  # the outbound kind; "paused" goes out even while the add-on is off
    choices: list[dict[str, str]] = field(default_factory=list)  # taps instead of typing (Outbound.choices)
    menu: str = ""  # a list's button label; "" with choices: reply buttons


@dataclass
class Context:
    """What a handler knows about the message it answers, and the kit it works with (``commands.kit``)."""

    kit: Kit
    msg: Inbound
    role: str
    actor: Reseller | None  # None for the admin
    lang: str
    _services: list[Service] | None = field(default=None, repr=False)

    @property
    def host(self) -> Host:
        """The host port: every host call a handler makes goes through it."""
        return self.kit.host

    @property
    def settings(self) -> Settings:
        return self.kit.settings

    @property
    def switches(self) -> Switches:
        """The admin's switches (on/off, notifications, admin numbers, default language)."""
        return self.kit.switches

    def services(self) -> list[Service]:
        """The host's services, asked once per message (a request needs them three ways)."""
        if self._services is None:
            self._services = self.host.list_services()
        return self._services

    @property
    def actor_id(self) -> int | None:
        return self.actor.id if self.actor else None

    def idem(self, step: str = "") -> str:
        """An idempotency key for a money move caused by this message."""
        return f"wa-{self.msg.dedupe_id}{'-' + step if step else ''}"


Handler = Callable[[Context, list[str]], Reply]


@dataclass(frozen=True)
class Command:
    """One registered command of one role."""

    name: str
    role: str
    handler: Handler
    pin: bool  # the last token is the sender's PIN
    secret: bool = False  # every argument is secret (PIN change): never audited
    # For the catch-all SERVICE: whether a keyword is one it takes (else "unknown command").
    accepts: Callable[[Context, str], bool] | None = None

    @property
    def usage(self) -> str:
        """The English usage line: the docstring's first line."""
        doc = (self.handler.__doc__ or self.name).strip()
        return doc.splitlines()[0]

    def usage_in(self, lang: str) -> str:
        """The usage line in ``lang``: a docstring line ``bn: ...`` gives the Bengali one."""
        prefix = f"{lang}:"
        for line in (self.handler.__doc__ or "").splitlines():
            if line.strip().startswith(prefix):
                return line.strip()[len(prefix) :].strip()
        return self.usage


REGISTRY: dict[tuple[str, str], Command] = {}


def command(
    name: str,
    *,
    role: str,
    pin: bool = False,
    secret: bool = False,
    accepts: Callable[[Context, str], bool] | None = None,
) -> Callable[[Handler], Handler]:
    """Register ``handler`` as command ``name`` for ``role``.

    Args:
        name: the keyword (upper case).
        role: ADMIN or RESELLER: the role that may run it (the only place that says so).
        pin: the last token is the sender's PIN, checked before the handler runs.
        secret: every argument is secret: the audit keeps none.
        accepts: for a catch-all command, which keywords it takes.
    """

    def register(handler: Handler) -> Handler:
        key = (role, name)
        if key in REGISTRY:
            raise ValueError(f"command {name} registered twice for {role}")
        if name not in HELP_ORDER:
            raise ValueError(f"command {name}: add it to HELP_ORDER where HELP should list it")
        REGISTRY[key] = Command(name, role, handler, pin, secret, accepts)
        return handler

    return register


def acl() -> dict[str, frozenset[str]]:
    """Who may run what, read from the registrations: command name -> roles, in HELP's order."""
    roles: dict[str, set[str]] = {}
    for role, name in REGISTRY:
        roles.setdefault(name, set()).add(role)
    return {name: frozenset(roles[name]) for name in HELP_ORDER if name in roles}


def lookup(role: str, name: str) -> Command | None:
    """The command ``name`` (or an alias of it) as ``role`` may run it, or None: a role runs only its own."""
    name = ROLE_ALIASES.get(role, {}).get(name) or ALIASES.get(name, name)
    return REGISTRY.get((role, name))


def commands_for(role: str) -> list[Command]:
    """Every command ``role`` may run, in HELP's order (the most used first)."""
    return [REGISTRY[(role, n)] for n in HELP_ORDER if (role, n) in REGISTRY]
