"""Commands every role has."""

from __future__ import annotations

from wa_addon.commands.registry import ADMIN, RESELLER, Context, Reply, command, commands_for


def _help(ctx: Context, args: list[str]) -> Reply:
    """HELP — the commands you may use"""
    usages = [c.usage for c in commands_for(ctx.role)]
    return Reply("help", {"role": ctx.role, "usages": usages})


command("HELP", role=ADMIN)(_help)
command("HELP", role=RESELLER)(_help)
