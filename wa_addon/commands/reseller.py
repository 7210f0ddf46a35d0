"""Reseller commands: each a small function whose docstring is its usage line.

A reseller acts as itself (``actor`` = its id): the host keeps it inside its
own subtree, and the refusals here say so before the host has to.  The
money request commands (a service, a package, YES) are in :mod:`.service`,
the catalogue (PERM, OPS, PKGS) in :mod:`.catalog`.
"""

from __future__ import annotations

from wa_addon import phones
from wa_addon.commands import common, grammar
from wa_addon.commands.pin import verify_pin
from wa_addon.commands.registry import RESELLER, Context, Refused, Reply, Usage, command
from wa_addon.host import HostError

LIST_MAX = 15  # sub-resellers listed in one reply (a phone screen)
RECENT = 5  # requests listed by REQ without an id
LANGUAGES = {"bn": "bn", "bangla": "bn", "bengali": "bn", "বাংলা": "bn", "en": "en", "english": "en", "ইংরেজি": "en"}
NEW_PIN_DIGITS = (4, 6)


@command("BAL", role=RESELLER)
def balance(ctx: Context, args: list[str]) -> Reply:
    """BAL — your balance

    bn: BAL — আপনার ব্যালেন্স
    """
    if args and not (len(args) == 1 and grammar.is_pin(args[0])):  # "bal 5678": a PIN out of habit, not needed
        raise Usage()
    assert ctx.actor is not None  # looked up on the host for this very message: no second call
    return Reply("balance", {"name": ctx.actor.name, "balance": ctx.actor.balance})


@command("ADDBAL", role=RESELLER, pin=True)
def add_balance(ctx: Context, args: list[str]) -> Reply:
    """ADDBAL <reseller> <amount> <PIN> — pay one of your resellers

    bn: ADDBAL <রিসেলার> <টাকা> <পিন> — আপনার রিসেলারকে ব্যালেন্স দিন
    """
    return common.pay(ctx, args)


@command("ADDRS", role=RESELLER, pin=True)
def add_reseller(ctx: Context, args: list[str]) -> Reply:
    """ADDRS <phone> <name> [level] <PIN> — a new reseller under you

    bn: ADDRS <ফোন> <নাম> [লেভেল] <পিন> — আপনার অধীনে নতুন রিসেলার
    """
    return common.add_reseller(ctx, args)


@command("RS", role=RESELLER)
def resellers(ctx: Context, args: list[str]) -> Reply:
    """RS [<reseller>] — your resellers' status and balance

    bn: RS [<রিসেলার>] — আপনার রিসেলারদের অবস্থা ও ব্যালেন্স
    """
    if len(args) > 1:
        raise Usage()
    region = ctx.settings.country
    if args:
        return Reply("reseller", common.reseller_card(common.visible_reseller(ctx, args[0]), region))
    assert ctx.actor is not None
    children = ctx.host.list_children(ctx.actor.id, actor=ctx.actor.id)
    cards = [common.reseller_card(r, region) for r in children[:LIST_MAX]]
    return Reply("resellers", {"resellers": cards, "more": max(0, len(children) - LIST_MAX)})


@command("REQ", role=RESELLER)
def requests(ctx: Context, args: list[str]) -> Reply:
    """REQ [<id>] — your request, or your last 5

    bn: REQ [<আইডি>] — একটি অনুরোধ, বা শেষ ৫টি
    """
    assert ctx.actor is not None
    if not args:
        recent = ctx.host.list_requests(actor=ctx.actor.id, limit=RECENT)
        return Reply("requests", {"requests": [common.request_card(ctx, r, named=False) for r in recent]})
    request_id = common.one_id(args)
    try:
        request = ctx.host.get_request(request_id, actor=ctx.actor.id)
    except HostError as err:
        if err.code in common.HIDDEN:
            raise Refused("no_request", id=request_id, yours=True) from None
        raise
    return Reply("request_status", common.request_card(ctx, request))


@command("PIN", role=RESELLER, secret=True)
def change_pin(ctx: Context, args: list[str]) -> Reply:
    """PIN <old> <new> — change your PIN

    bn: PIN <পুরনো> <নতুন> — পিন বদলান
    """
    if len(args) != 2 or not all(grammar.is_pin(a) for a in args):
        raise Usage()
    old, new = (phones.ascii_digits(a) for a in args)
    low, high = NEW_PIN_DIGITS
    if not low <= len(new) <= high:
        raise Refused("pin_format", min=low, max=high)
    assert ctx.actor is not None
    if not common.first_run(ctx, "pin") and ctx.host.verify_pin(ctx.actor.id, new):
        return Reply("pin_changed")  # a re-run after the change went through: not a wrong PIN
    verify_pin(ctx, old)  # a wrong old PIN counts towards the lockout like any other
    ctx.host.change_pin(ctx.actor.id, old, new)
    return Reply("pin_changed")


@command("LANG", role=RESELLER)
def language(ctx: Context, args: list[str]) -> Reply:
    """LANG bn|en — the language of your replies

    bn: LANG bn|en — উত্তরের ভাষা
    """
    chosen = LANGUAGES.get(args[0].lower()) if len(args) == 1 else None
    if chosen is None:
        raise Usage()
    assert ctx.actor is not None
    ctx.host.update_reseller(ctx.actor.id, {"language": chosen}, actor=ctx.actor.id)
    ctx.lang = chosen  # this very reply already speaks it
    return Reply("language_set", {"language": chosen})
