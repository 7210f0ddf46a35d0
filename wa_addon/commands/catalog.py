"""What the host sells, and the rules a request is checked against before it is sent.

``PERM``, ``OPS`` and ``PKGS`` show the catalogue; the helpers below find a
service, detect an operator from a number's prefix (only a hint: numbers are
ported, so a named operator always wins) and give the [min, max] of an
amount.  Limits come from the host, never from here.
"""

from __future__ import annotations

from decimal import Decimal

from wa_addon.commands import grammar
from wa_addon.commands.registry import ADMIN, RESELLER, Context, Refused, Reply, Usage, command
from wa_addon.host import Host, Operator, Package, Service
from wa_addon.render import choice, label, money

MIN_TYPE_PREFIX = 2  # "pre", "post", "sk", "cash": a type may be shortened while it stays unique


def permitted(ctx: Context) -> dict[str, Service]:
    """The sender's permitted services by code (the admin: every service).

    The reseller record the host gave for this message lists them
    (``Reseller.services``), so the host's catalogue is asked once, not twice.
    """
    allowed = None if ctx.actor is None else {code.upper() for code in ctx.actor.services}
    return {s.code.upper(): s for s in ctx.services() if allowed is None or s.code.upper() in allowed}


def is_service(ctx: Context, word: str) -> bool:
    """Whether ``word`` is a service code of the host (permitted to the sender or not)."""
    return any(s.code.upper() == word.upper() for s in ctx.services())


def find_service(ctx: Context, code: str) -> Service:
    """A service the sender may use; Refused when unknown or not permitted."""
    code = code.upper()
    mine = permitted(ctx)
    if code in mine:
        return mine[code]
    if is_service(ctx, code):
        raise Refused("service_not_permitted", service=code)
    raise Refused("unknown_command", word=code)


def operators_of(ctx: Context, service: Service) -> list[Operator]:
    """The service's operators (empty for mobile banking, bills, ...)."""
    return ctx.host.list_operators(service=service.code)


def detect_operator(operators: list[Operator], national: str) -> Operator | None:
    """The operator owning the longest prefix of a local number, or None."""
    best: tuple[int, Operator | None] = (0, None)
    for op in operators:
        for prefix in op.prefixes:
            if national.startswith(prefix) and len(prefix) > best[0]:
                best = (len(prefix), op)
    return best[1]


def pick_type(service: Service, word: str) -> str | None:
    """The service's type that ``word`` names (whole, or a unique prefix), or None."""
    word = word.lower()
    if word in service.types:
        return word
    if len(word) < MIN_TYPE_PREFIX:
        return None
    matches = [t for t in service.types if t.startswith(word)]
    return matches[0] if len(matches) == 1 else None


def amount_range(service: Service, operator: Operator | None, type_: str) -> tuple[Decimal, Decimal]:
    """[min, max] for a request: the operator's limit for the type, inside the service's."""
    low, high = Decimal(service.min_amount), Decimal(service.max_amount)
    if operator is None:
        return low, high
    if type_ not in operator.limits:
        raise Refused("type_not_offered", type=type_, operator=operator.code, types=", ".join(operator.limits))
    op_low, op_high = (Decimal(v) for v in operator.limits[type_])
    return max(low, op_low), min(high, op_high)


def find_package(ctx: Context, code: str, hint: Operator | None) -> Package:
    """A package by code: the hinted operator's first, then every operator's."""
    code = code.upper()
    ops = [hint.code] if hint else []
    ops += [op.code for op in ctx.host.list_operators() if op.code not in ops]
    for op in ops:
        for package in ctx.host.list_packages(operator=op):
            if package.code.upper() == code:
                return package
    raise Refused("unknown_package", package=grammar.echo(code))


def package_label(host: Host, code: str, operator: str | None = None) -> str:
    """``GP1 — 1GB 7 days``: a package as people read it (the code alone if the host no longer sells it)."""
    ops = [operator] if operator else [op.code for op in host.list_operators()]
    for op in ops:
        for package in host.list_packages(operator=op):
            if package.code.upper() == code.upper():
                return f"{package.code} — {package.name}"
    return code


# -- the commands ------------------------------------------------------------


@command("PERM", role=RESELLER)
def services(ctx: Context, args: list[str]) -> Reply:
    """PERM — the services you may use

    bn: PERM — আপনার অনুমোদিত সার্ভিস
    """
    if args:
        raise Usage()
    items = [_service_line(s) for s in permitted(ctx).values()]
    return Reply("services", {"services": items})


def operators(ctx: Context, args: list[str]) -> Reply:
    """OPS <service> — operator codes, prefixes and limits

    bn: OPS <সার্ভিস> — অপারেটর কোড, প্রিফিক্স ও সীমা
    """
    if len(args) != 1:
        raise Usage()
    code = args[0].upper()
    service = next((s for s in ctx.services() if s.code.upper() == code), None)
    if service is None:
        raise Refused("unknown_service", service=grammar.echo(code))
    items = [_operator_line(op) for op in operators_of(ctx, service)]
    return Reply("operators", {"service": service.code, "operators": items})


def packages(ctx: Context, args: list[str]) -> Reply:
    """PKGS <operator> — packages and prices

    bn: PKGS <অপারেটর> — প্যাকেজ ও দাম
    """
    if len(args) != 1:
        raise Usage()
    code = args[0].upper()
    known = [op.code.upper() for op in ctx.host.list_operators()]
    if code not in known:
        raise Refused("unknown_operator", operator=grammar.echo(code), operators=", ".join(known))
    found = ctx.host.list_packages(operator=code)
    # A reseller taps one to buy it: "PKG GP1" starts the guided purchase (number, then PIN).
    rows = (
        [choice(f"PKG {p.code}", f"{p.code} · {money(p.price, ctx.lang)}", _about(p)) for p in found]
        if ctx.role == RESELLER
        else []
    )
    return Reply(
        "packages",
        {"operator": grammar.echo(code), "packages": [_package_line(p) for p in found]},
        choices=rows,
        menu=label("packages", ctx.lang) if rows else "",
    )


for _role in (ADMIN, RESELLER):  # the catalogue is the same for everyone
    command("OPS", role=_role)(operators)
    command("PKGS", role=_role)(packages)


def _service_line(s: Service) -> dict[str, object]:
    return {"code": s.code, "name": s.name, "min": s.min_amount, "max": s.max_amount, "types": ", ".join(s.types)}


def _operator_line(op: Operator) -> dict[str, object]:
    limits = [{"type": t, "min": lo, "max": hi} for t, (lo, hi) in op.limits.items()]
    return {"code": op.code, "name": op.name, "prefixes": ", ".join(op.prefixes), "limits": limits}


def _package_line(p: Package) -> dict[str, object]:
    return {"code": p.code, "name": p.name, "price": p.price, "validity": _validity(p)}


def _validity(p: Package) -> str:
    """How long a package lasts, unless its name says so already ("1GB 7 days", not "1GB 7 days (7 days)")."""
    return "" if p.validity.lower() in p.name.lower() else p.validity


def _about(p: Package) -> str:
    return " · ".join(part for part in (p.name, _validity(p)) if part)
