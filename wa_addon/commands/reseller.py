"""Reseller commands: each a small function whose docstring is its usage line."""

from __future__ import annotations

from wa_addon.commands.registry import RESELLER, Context, Reply, Usage, command


@command("BAL", role=RESELLER)
def balance(ctx: Context, args: list[str]) -> Reply:
    """BAL — your balance"""
    if args:
        raise Usage()
    assert ctx.actor is not None
    me = ctx.host.get_reseller(str(ctx.actor.id), actor=ctx.actor.id)  # fresh, not the cached lookup
    return Reply("balance", {"name": me.name, "balance": me.balance})
