"""What the admin's and the resellers' commands share: HELP, argument helpers, reply contexts.

The admin acts with ``actor=None`` (everyone); a reseller with its own id, so
the host keeps it inside its subtree.  Both get the same shapes of replies.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import phonenumbers

from wa_addon import phones
from wa_addon.commands import catalog, grammar
from wa_addon.commands.registry import (
    ADMIN,
    MENU,
    RESELLER,
    SERVICE_TAPS,
    TAPS,
    Context,
    Refused,
    Reply,
    Usage,
    command,
    commands_for,
)
from wa_addon.host import HostError, NewReseller, Payment, Request, Reseller
from wa_addon.render import choice, label, local_time

HIDDEN = ("forbidden", "not_found")
UNSETTLED = ("pending", "processing")  # the host may hide a reseller outside the subtree either way
_LEVEL = re.compile(r"[1-9]")


def help_(ctx: Context, args: list[str]) -> Reply:
    """HELP — this list

    bn: HELP — এই তালিকা
    """
    usages = [c.usage_in(ctx.lang) for c in commands_for(ctx.role)]
    services = ", ".join(ctx.actor.services) if ctx.actor else ""  # what <service> may be, for this sender
    return Reply(
        "help",
        {"role": ctx.role, "usages": usages, "services": services},
        choices=_help_rows(ctx),
        menu=label("commands", ctx.lang),
    )


def _help_rows(ctx: Context) -> list[dict[str, str]]:
    """HELP as a list to tap: each row sends its keyword (a guided command asks for the rest)."""
    rows = []
    for cmd in commands_for(ctx.role):
        if cmd.name not in TAPS.get(ctx.role, ()):
            continue
        if cmd.name == "SERVICE":
            mine = list(catalog.permitted(ctx).values())[:SERVICE_TAPS]
            rows += [choice(s.code, s.code, s.name) for s in mine]
        else:
            rows.append(choice(cmd.name, cmd.name, cmd.usage_in(ctx.lang).partition(" — ")[2]))
    return rows


def menu(ctx: Context, word: str) -> Reply:
    """An unknown word: say so, with HELP's short menu for the sender's role."""
    usages = [c.usage_in(ctx.lang) for c in commands_for(ctx.role) if c.name in MENU.get(ctx.role, ())]
    return Reply("unknown_command", {"word": word, "menu": usages})


# -- arguments ---------------------------------------------------------------


def one_id(args: list[str]) -> int:
    """The single id argument (``12`` or ``#12``); Usage otherwise."""
    value = grammar.parse_int(args[0]) if len(args) == 1 else None
    if value is None:
        raise Usage()
    return value


def amount_of(token: str) -> Decimal:
    """An amount argument; Usage when it is not one."""
    amount = grammar.parse_amount(token)
    if amount is None:
        raise Usage()
    return amount


def phone_of(ctx: Context, token: str) -> str:
    """A phone argument as E.164 digits; Refused when it is not a number."""
    phone = phones.parse_phone(token, ctx.settings.country)
    if phone is None:
        raise Refused("bad_number", number=grammar.echo(token), kind="phone")
    return phone


def reseller_ref(ctx: Context, token: str) -> str:
    """What the host looks a reseller up by: a phone (E.164), an id, or a username."""
    digits = re.sub(r"\D", "", token)
    if len(digits) >= 8:
        return phone_of(ctx, token)
    if token.lstrip("#").isdigit():
        return token.lstrip("#")
    return token.lower()


def visible_reseller(ctx: Context, token: str) -> Reseller:
    """A reseller the sender may see (the admin: anyone; a reseller: its subtree)."""
    try:
        return ctx.host.get_reseller(reseller_ref(ctx, token), actor=ctx.actor_id)
    except HostError as err:
        if err.code in HIDDEN:
            raise Refused("no_reseller" if ctx.role == ADMIN else "not_in_subtree", ref=grammar.echo(token)) from None
        raise


def first_run(ctx: Context, what: str) -> bool:
    """Whether this message runs ``what`` for the first time (False: a redelivery or a retried job).

    Pre-checks that would read the effect of the first run (a balance already
    debited, a balance request already decided) are skipped on a re-run: the
    host answers the repeated idempotency key with the first result.
    """
    return ctx.kit.marks.first_run(what, ctx.msg.dedupe_id)


def check_balance(ctx: Context, amount: Decimal) -> None:
    """Refuse, before anything moves, an amount above the sender's balance (the host checks again)."""
    assert ctx.actor is not None  # looked up on the host for this very message
    if Decimal(ctx.actor.balance) < amount:
        raise Refused("insufficient_balance", balance=ctx.actor.balance, amount=amount)


# -- shared commands ---------------------------------------------------------


def add_reseller(ctx: Context, args: list[str]) -> Reply:
    """``<phone> <name...> [level]``: a new reseller under the sender; the reply shows its secrets once."""
    if len(args) < 2:
        raise Usage()
    phone, rest = phone_of(ctx, args[0]), list(args[1:])
    level = int(rest.pop()) if len(rest) >= 2 and _LEVEL.fullmatch(rest[-1]) else None
    new = ctx.host.create_reseller(
        phone=phone, name=" ".join(rest), level=level, actor=ctx.actor_id, idem_key=ctx.idem()
    )
    return Reply("reseller_added", new_reseller(ctx, new), secret=True)


def pay(ctx: Context, args: list[str]) -> Reply:
    """``<reseller> <amount>``: move balance to a reseller (the admin mints it)."""
    if len(args) != 2:
        raise Usage()
    amount = amount_of(args[1])
    target = visible_reseller(ctx, args[0])
    if ctx.actor is not None:
        if target.id == ctx.actor.id:
            raise Refused("not_in_subtree", ref=grammar.echo(args[0]))
        if first_run(ctx, "pay"):
            check_balance(ctx, amount)
    payment = ctx.host.add_balance(to=str(target.id), amount=f"{amount:.2f}", actor=ctx.actor_id, idem_key=ctx.idem())
    return Reply("payment_done", payment_context(target, payment))


# -- reply contexts ----------------------------------------------------------


def shown_number(number: str, region: str) -> str:
    """A stored number as people read it: the local form for a number of ``region``."""
    try:
        parsed = phonenumbers.parse("+" + number)
    except phonenumbers.NumberParseException:
        return number  # an account or meter number
    if phonenumbers.region_code_for_number(parsed) != region:
        return number
    return phones.national(number, region)


def reseller_card(r: Reseller, region: str) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "username": r.username,
        "phone": shown_number(r.phone, region),
        "level": r.level,
        "status": r.status,
        "balance": r.balance,
        "services": ", ".join(r.services),
    }


def request_card(ctx: Context, r: Request, *, named: bool = True) -> dict[str, Any]:
    """A request as a reply shows it; ``named``: a package by its name (one more host call)."""
    if r.package:
        what = catalog.package_label(ctx.host, r.package, r.operator) if named else r.package
    else:
        what = " ".join(w for w in (r.service, r.operator, r.type) if w)
    # A resent request is pending again: its old failure note no longer says anything true.
    note = r.note or "" if r.status not in UNSETTLED else ""
    return {
        "id": r.id,
        "what": what,
        "number": shown_number(r.number, ctx.settings.country),
        "amount": r.amount,
        "status": r.status,
        "trx_id": r.trx_id or "",
        "note": note,
        "created_at": local_time(r.created_at, ctx.settings.timezone),
    }


def payment_context(target: Reseller, p: Payment) -> dict[str, Any]:
    mine = p.from_balance_after
    return {
        "id": p.id,
        "amount": p.amount,
        "name": target.name,
        "username": target.username,
        "to_before": Decimal(p.balance_after) - Decimal(p.amount),
        "to_after": p.balance_after,
        "from_before": Decimal(mine) + Decimal(p.amount) if mine else "",
        "from_after": mine or "",
    }


def new_reseller(ctx: Context, new: NewReseller) -> dict[str, Any]:
    # On a replay the host no longer has the secrets (it keeps hashes only).
    card = reseller_card(new.reseller, ctx.settings.country)
    return {**card, "password": new.password, "pin": new.pin, "replayed": new.replayed}


command("HELP", role=ADMIN)(help_)
command("HELP", role=RESELLER)(help_)
