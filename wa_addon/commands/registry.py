"""The command registry: one table of commands, one table of who may run what.

A command is a small function ``handler(ctx, args) -> Reply`` whose docstring's
first line is its usage line.  Parsing the keyword, the permission check
(:data:`ACL`), the PIN check and the execution are separate steps, run by
:mod:`wa_addon.commands.dispatch`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wa_addon.host import Reseller
from wa_addon.messages import Inbound

if TYPE_CHECKING:
    from wa_addon.runtime import Runtime

ADMIN = "admin"
RESELLER = "reseller"

# Who may run what.  The dispatcher refuses anything not listed for the role;
# a test checks this table and the registered handlers agree.
ACL: dict[str, frozenset[str]] = {
    "HELP": frozenset({ADMIN, RESELLER}),
    "BAL": frozenset({RESELLER}),
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
class Notice:
    """A message to someone other than the sender, produced by a command."""

    to: str
    template: str
    context: dict[str, Any]
    language: str = "bn"
    kind: str = "notify.command"


@dataclass
class Reply:
    """A handler's answer: a template name, its context, and any notices."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)


@dataclass
class Context:
    """What a handler knows about the message it answers."""

    rt: Runtime
    msg: Inbound
    role: str
    actor: Reseller | None  # None for the admin
    lang: str

    @property
    def host(self):  # type: ignore[no-untyped-def]
        return self.rt.host

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

    @property
    def usage(self) -> str:
        doc = (self.handler.__doc__ or self.name).strip()
        return doc.splitlines()[0]


REGISTRY: dict[tuple[str, str], Command] = {}


def command(name: str, *, role: str, pin: bool = False, secret: bool = False) -> Callable[[Handler], Handler]:
    """Register ``handler`` as command ``name`` for ``role``."""

    def register(handler: Handler) -> Handler:
        key = (role, name)
        if key in REGISTRY:
            raise ValueError(f"command {name} registered twice for {role}")
        REGISTRY[key] = Command(name, role, handler, pin, secret)
        return handler

    return register


def allowed(role: str, name: str) -> bool:
    return role in ACL.get(name, frozenset())


def lookup(role: str, name: str) -> Command | None:
    """The command ``name`` as ``role`` may run it, or None."""
    return REGISTRY.get((role, name)) if allowed(role, name) else None


def commands_for(role: str) -> list[Command]:
    """Every command ``role`` may run, in a stable order (for HELP)."""
    return [c for (r, n), c in sorted(REGISTRY.items()) if r == role and allowed(role, n)]
