"""The money request commands: a service request, a package, and confirming a held repeat.

Before anything moves, the request is checked here against what the host
says (the service is permitted, the operator, the amount inside the
operator's [min, max] for the type, the balance); the host checks again.
Each request carries the idempotency key of the chat message that asked for
it, so a redelivered message places it once.  A repeat of a recent request
is held (:mod:`.hold`) until the reseller confirms it.
"""

from __future__ import annotations

import re
from decimal import Decimal

import phonenumbers

from wa_addon import phones
from wa_addon.commands import catalog, grammar, hold
from wa_addon.commands.common import check_balance
from wa_addon.commands.hold import Order
from wa_addon.commands.registry import RESELLER, Context, Refused, Reply, Usage, command
from wa_addon.host import HostError, Operator, Request, Service

MOBILE_KINDS = ("recharge", "mobile_banking")
MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
_ACCOUNT = re.compile(r"[0-9]{6,20}")  # a meter or account number (custom services)


@command("SERVICE", role=RESELLER, pin=True, accepts=catalog.is_service)
def service_request(ctx: Context, args: list[str]) -> Reply:
    """<service> <number> <amount> [type] [operator] <PIN> — e.g. FL 01712345678 50 postpaid <PIN>

    bn: <সার্ভিস> <নম্বর> <টাকা> [ধরন] [অপারেটর] <পিন> — যেমন FL 01712345678 50 <পিন>
    """
    if not 3 <= len(args) <= 5:
        raise Usage()
    service = catalog.find_service(ctx, args[0])
    amount = grammar.parse_amount(args[2])
    if amount is None:
        raise Usage()
    number, shown = number_of(ctx, service, args[1])
    type_, operator = _options(ctx, service, shown, args[3:])
    low, high = catalog.amount_range(service, operator, type_ or "")
    if not low <= amount <= high:
        what = " ".join(w for w in (service.code, operator.code if operator else "", type_ or "") if w)
        raise Refused("amount_out_of_range", amount=amount, min=low, max=high, what=what)
    order = Order(service.code, number, f"{amount:.2f}", shown, type_, operator.code if operator else None)
    return place(ctx, order)


@command("PKG", role=RESELLER, pin=True)
def package_request(ctx: Context, args: list[str]) -> Reply:
    """PKG <package> <number> <PIN> — buy a package (list: PKGS <operator>)

    bn: PKG <প্যাকেজ> <নম্বর> <পিন> — প্যাকেজ কিনুন (তালিকা: PKGS <অপারেটর>)
    """
    if len(args) != 2:
        raise Usage()
    number, shown = mobile_of(ctx, args[1])
    operators = ctx.host.list_operators()
    package = catalog.find_package(ctx, args[0], catalog.detect_operator(operators, shown))
    # The package names its operator: a ported number keeps the package it asked for.
    operator = next(op for op in operators if op.code == package.operator)
    if operator.service.upper() not in catalog.permitted(ctx):
        raise Refused("service_not_permitted", service=operator.service)
    amount = f"{Decimal(package.price):.2f}"
    order = Order(operator.service, number, amount, shown, None, operator.code, package.code, package.name)
    return place(ctx, order)


@command("YES", role=RESELLER)
def confirm_newest(ctx: Context, args: list[str]) -> Reply:
    """YES (or হ্যাঁ) — send the repeat request you were asked about

    bn: YES (বা হ্যাঁ) — জিজ্ঞাসা করা পুনরাবৃত্ত অনুরোধটি পাঠান
    """
    if args:
        raise Usage()
    return _confirm(ctx, None)


@command("CONFIRM", role=RESELLER)
def confirm_code(ctx: Context, args: list[str]) -> Reply:
    """CONFIRM <code> — send a held repeat request by its code

    bn: CONFIRM <কোড> — আটকে রাখা অনুরোধটি কোড দিয়ে পাঠান
    """
    if len(args) != 1 or not args[0].isdigit():
        raise Usage()
    return _confirm(ctx, args[0])


@command("NO", role=RESELLER)
def drop_held(ctx: Context, args: list[str]) -> Reply:
    """NO (or না) — drop the repeat requests waiting for YES

    bn: NO (বা না) — আটকে রাখা অনুরোধ বাদ দিন
    """
    if args:
        raise Usage()
    return Reply("held_dropped", {"count": ctx.kit.holds.drop(_who(ctx))})


# -- placing -----------------------------------------------------------------


def place(ctx: Context, order: Order, *, guard: bool = True, rerun: bool = False) -> Reply:
    """Send ``order`` to the host, unless it repeats a recent one (then hold it).

    Args:
        ctx: the message's context; its idempotency key goes with the request.
        order: the checked request.
        guard: hold a repeat (False when the sender has just confirmed it).
        rerun: this message was run before: skip the balance pre-check (the
            host answers a replay with the first result, money already moved).
    """
    who, msg = _who(ctx), ctx.msg.dedupe_id
    if guard:
        state = ctx.kit.holds.claim(who, order, msg)
        if isinstance(state, hold.Previous):
            return _held(ctx, order, state)
        rerun = state == hold.RERUN
    try:
        if not rerun:
            check_balance(ctx, Decimal(order.amount))
        request = _create(ctx, order)
    except (Refused, HostError):
        ctx.kit.holds.release(who, order, msg)
        raise
    ctx.kit.holds.record(who, order, msg, request.id)
    return Reply("request_placed", _placed(order, request))


def _confirm(ctx: Context, code: str | None) -> Reply:
    who, msg = _who(ctx), ctx.msg.dedupe_id
    taken = ctx.kit.holds.take(who, code, msg)
    if taken is None:
        raise Refused("nothing_held", code=grammar.echo(code or ""))
    code, order, rerun = taken
    ctx.kit.holds.mark(who, code, msg)
    try:
        return place(ctx, order, guard=False, rerun=rerun)
    except (Refused, HostError):
        ctx.kit.holds.mark(who, code, "")  # still held: the sender may fix the cause and confirm again
        raise


def _create(ctx: Context, order: Order) -> Request:
    assert ctx.actor is not None
    return ctx.host.create_request(
        actor=ctx.actor.id,
        service=order.service,
        number=order.number,
        amount=order.amount,
        type=order.type,
        operator=order.operator,
        package=order.package,
        idem_key=ctx.idem(),
    )


def _held(ctx: Context, order: Order, previous: hold.Previous) -> Reply:
    code = ctx.kit.holds.hold(_who(ctx), order, ctx.msg.dedupe_id)
    minutes = max(1, ctx.settings.duplicate_window // 60)
    return Reply("duplicate_held", {"code": code, "minutes": minutes, "previous": previous.request_id, **_shown(order)})


def _placed(order: Order, request: Request) -> dict[str, object]:
    return {
        "id": request.id,
        "status": request.status,
        "before": request.balance_before or "",
        "after": request.balance_after or "",
        **_shown(order),
        "amount": request.amount,
    }


def _shown(order: Order) -> dict[str, object]:
    if order.package:
        label = f"{order.package} — {order.title}" if order.title else order.package
    else:
        label = " ".join(w for w in (order.service, order.operator, order.type) if w)
    return {"what": label, "number": order.shown, "amount": order.amount}


def _who(ctx: Context) -> str:
    assert ctx.actor is not None
    return str(ctx.actor.id)


# -- arguments ---------------------------------------------------------------


def number_of(ctx: Context, service: Service, token: str) -> tuple[str, str]:
    """(the number as the host stores it, as the sender reads it) for ``service``'s kind."""
    if service.kind in MOBILE_KINDS:
        return mobile_of(ctx, token)
    if service.kind == "country":
        e164 = phones.parse_phone(token, service.country or ctx.settings.country)
        if e164 is None:
            raise Refused("bad_number", number=grammar.echo(token), kind=service.kind)
        return e164, "+" + e164
    digits = phones.ascii_digits(token)
    if not _ACCOUNT.fullmatch(digits):
        raise Refused("bad_number", number=grammar.echo(token), kind=service.kind)
    return digits, digits


def mobile_of(ctx: Context, token: str) -> tuple[str, str]:
    """A local mobile number: (E.164 digits, local form); Refused for anything else."""
    region = ctx.settings.country
    e164 = phones.parse_phone(token, region)
    if e164 is None or not _local_mobile(e164, region):
        raise Refused("bad_number", number=grammar.echo(token), kind="mobile")
    return e164, phones.national(e164, region)


def _local_mobile(e164: str, region: str) -> bool:
    parsed = phonenumbers.parse("+" + e164)
    return phonenumbers.region_code_for_number(parsed) == region and phonenumbers.number_type(parsed) in MOBILE_TYPES


def _options(ctx: Context, service: Service, shown: str, words: list[str]) -> tuple[str | None, Operator | None]:
    """The type and operator: named in any order, else the default type and the prefix's operator."""
    operators = catalog.operators_of(ctx, service) if service.kind in MOBILE_KINDS else []
    by_code = {op.code.upper(): op for op in operators}
    type_, operator = None, None
    for word in words:
        if word.upper() in by_code and operator is None:
            operator = by_code[word.upper()]
        elif (chosen := catalog.pick_type(service, word)) and type_ is None:
            type_ = chosen
        else:
            raise Refused(
                "bad_option", word=grammar.echo(word), types=", ".join(service.types), operators=", ".join(by_code)
            )
    if operators and operator is None:
        operator = catalog.detect_operator(operators, shown)
        if operator is None:
            raise Refused("no_operator", number=shown, operators=", ".join(by_code))
    return type_ or (service.types[0] if service.types else None), operator
