"""From one inbound chat message to the replies it gets.

Steps, each separate: who is talking, which command, may they, the PIN,
the handler, the reply text.  Host outages propagate (the job retries the
message later); every other failure gets a short answer, never silence.
"""

from __future__ import annotations

import logging

from wa_addon.commands import admin_pin, common, grammar, guide, system
from wa_addon.commands import pin as pins
from wa_addon.commands.kit import Kit, Wired
from wa_addon.commands.registry import ADMIN, RESELLER, Command, Context, Refused, Reply, Usage, lookup
from wa_addon.host import HostError
from wa_addon.messages import NUMBER_CHANGED, Inbound, Outbound
from wa_addon.sealing import sealer

log = logging.getLogger(__name__)

# The keyword a reseller's service request is filed under ("FL 017... 50 1234").
SERVICE = "SERVICE"


def handle(rt: Wired, msg: Inbound) -> list[Outbound]:
    """The replies (and notices) for one inbound message; passwords, PINs and codes sealed for Redis.

    ``rt``: the runtime, or anything holding the kit built for the commands (``command_kit``).
    """
    kit = rt.command_kit
    return sealer(kit.settings).seal_messages(_handle(kit, msg))


def _handle(kit: Kit, msg: Inbound) -> list[Outbound]:
    if msg.kind == NUMBER_CHANGED:
        return system.number_changed(kit.switches, kit.host, msg)  # WhatsApp's word, not the user's: no reply
    ctx_or_reply = _identify(kit, msg)
    if isinstance(ctx_or_reply, list):
        return ctx_or_reply
    ctx = ctx_or_reply
    if not kit.switches.enabled():
        return _once(kit, msg, "paused", ctx.lang)  # in the sender's language; nothing is run
    tokens = grammar.tokenize(msg.text)
    steered = guide.steer(ctx, tokens, _command)  # "FL" alone is asked for step by step
    if isinstance(steered, Reply):
        return _outbound(ctx, steered)
    tokens = steered or tokens  # the one-line command a guide's last answer completes
    cmd = _command(ctx, tokens)
    word = grammar.echo(tokens[0]) if tokens else ""
    reply = _run(ctx, cmd, tokens) if cmd else common.menu(ctx, word)
    return _outbound(ctx, reply)


def _identify(kit: Kit, msg: Inbound) -> Context | list[Outbound]:
    lang = kit.switches.default_language()
    if msg.sender and msg.sender in kit.switches.admin_numbers():
        return Context(kit, msg, ADMIN, None, lang)
    reseller = kit.host.find_reseller(phone=msg.sender or None, wa_user_id=msg.user_id)
    if reseller is None:
        return _once(kit, msg, "unknown_sender")
    ctx = Context(kit, msg, RESELLER, reseller, reseller.language or lang)
    if reseller.status != "active":
        return _outbound(ctx, Reply("suspended", {"name": reseller.name}))
    return ctx


def _command(ctx: Context, tokens: list[str]) -> Command | None:
    if not tokens:
        return None
    name = grammar.keyword(tokens[0])
    cmd = lookup(ctx.role, name)
    if cmd is None and ctx.role == RESELLER and name.isalnum():
        cmd = lookup(ctx.role, SERVICE)  # "FL 017... 50 1234": the word is a service code
        if cmd and cmd.accepts and not cmd.accepts(ctx, name):
            return None  # not a service either: "unknown command", and no PIN asked for
    return cmd


def _run(ctx: Context, cmd: Command, tokens: list[str]) -> Reply:
    args = tokens[1:] if cmd.name != SERVICE else tokens
    outcome = "ok"
    try:
        if ctx.role == ADMIN and admin_pin.required(ctx.settings, ctx.msg, cmd.name):
            args = admin_pin.check(ctx, args)  # a phone's word that it is the admin is not enough
        if cmd.pin:
            args = _check_pin(ctx, cmd, args)
        reply = cmd.handler(ctx, args)
    except Usage:
        outcome, reply = "usage", Reply("usage", {"usage": cmd.usage_in(ctx.lang)})
    except Refused as refusal:
        outcome, reply = refusal.template, Reply(refusal.template, refusal.context)
    except HostError as err:
        outcome, reply = err.code, Reply("host_error", {"code": err.code, "message": err.message})
    _audit(ctx, cmd, tokens, outcome)
    return reply


def _check_pin(ctx: Context, cmd: Command, args: list[str]) -> list[str]:
    if not args or not grammar.is_pin(args[-1]):
        raise Usage()
    pins.verify_pin(ctx, args[-1])
    return args[:-1]


def masked(cmd: Command, tokens: list[str]) -> str:
    """The command as the audit may keep it: PINs hidden.

    A PIN command's PIN is its last token: that (wherever else it was typed
    too) is hidden, and an amount like 5000 stays readable.  Anything else,
    and a PIN command without a PIN at its end, hides every PIN-like token.
    """
    if cmd.secret:
        return " ".join(tokens[:1] + ["****"] * (len(tokens) - 1))
    if cmd.pin and len(tokens) > 1 and grammar.is_pin(tokens[-1]):
        return " ".join("****" if t == tokens[-1] else t for t in tokens)
    return grammar.redact(" ".join(tokens))


def _audit(ctx: Context, cmd: Command, tokens: list[str], outcome: str) -> None:
    entry = {
        "who": ctx.msg.sender or ctx.msg.user_id,
        "role": ctx.role,
        "reseller": ctx.actor_id,
        "command": masked(cmd, tokens),
        "outcome": outcome,
        "msg": ctx.msg.dedupe_id,
    }
    ctx.kit.audit(entry)


def _once(kit: Kit, msg: Inbound, template: str, lang: str | None = None) -> list[Outbound]:
    """Answer ``template`` at most once an hour per sender (no reply loops; ``marks.ONCE_TTL``)."""
    if not kit.marks.once(template, msg.chat):
        return []
    ctx = Context(kit, msg, "", None, lang or kit.switches.default_language())
    return _outbound(ctx, Reply(template, kind=template))


def _outbound(ctx: Context, reply: Reply) -> list[Outbound]:
    msg = ctx.msg
    text = ctx.kit.renderer.render(ctx.lang, reply.template, **reply.context)
    out = [
        Outbound(
            id=msg.reply_id,
            to=msg.chat,
            text=text,
            kind=reply.kind,
            language=ctx.lang,
            secret=reply.secret,
            choices=reply.choices,
            menu=reply.menu,
        )
    ]
    return out + reply.outbound


__all__ = ["SERVICE", "handle"]
