"""Admin commands (from a configured admin number): each a small function whose docstring is its usage line.

The admin acts with ``actor=None``: the host lets it see and act on everyone.
The host's events tell the resellers what happened (request cancelled,
balance added, ...); these commands answer the admin only.  Each host call
that changes something carries the message's idempotency key.
"""

from __future__ import annotations

import math
import time

from wa_addon import otp
from wa_addon.commands import common
from wa_addon.commands.registry import ADMIN, Context, Refused, Reply, Usage, command
from wa_addon.host import BalanceRequest, HostError, Request, Summary
from wa_addon.notifications import Recipient
from wa_addon.render import minutes_since
from wa_addon.workflows import balance_approval as approval

OPEN = ("pending", "processing")  # what REQ without an id lists
OPEN_MAX = 10  # lines in one reply (a phone screen)


@command("BAL", role=ADMIN)
def totals(ctx: Context, args: list[str]) -> Reply:
    """BAL — the host's totals

    bn: BAL — হোস্টের মোট হিসাব
    """
    if args:
        raise Usage()
    day = _summary(ctx)
    return Reply(
        "totals",
        {
            "resellers": day.resellers,
            "suspended": day.suspended,
            "balance": day.balance,
            "pending": day.requests.get("pending", 0),
            "processing": day.requests.get("processing", 0),
            "attention": len(day.attention),
        },
    )


@command("REQ", role=ADMIN)
def request_status(ctx: Context, args: list[str]) -> Reply:
    """REQ [<id>] — a request's status, or the open ones, oldest first

    bn: REQ [<আইডি>] — অনুরোধের অবস্থা, বা খোলা অনুরোধগুলো (পুরনোটি আগে)
    """
    if not args:
        return _open_requests(ctx)
    request = _request(ctx, common.one_id(args))
    return Reply("request_status", common.request_card(ctx, request))


@command("RESEND", role=ADMIN)
def resend(ctx: Context, args: list[str]) -> Reply:
    """RESEND <id> — send a request again

    bn: RESEND <আইডি> — অনুরোধ আবার পাঠান
    """
    return _act(ctx, common.one_id(args), "resend")


@command("CANCEL", role=ADMIN)
def cancel(ctx: Context, args: list[str]) -> Reply:
    """CANCEL <id> — cancel a request (refunds it)

    bn: CANCEL <আইডি> — অনুরোধ বাতিল (টাকা ফেরত যাবে)
    """
    return _act(ctx, common.one_id(args), "cancel")


@command("COMPLETE", role=ADMIN)
def complete(ctx: Context, args: list[str]) -> Reply:
    """COMPLETE <id> [trx] — mark a request successful

    bn: COMPLETE <আইডি> [trx] — অনুরোধ সফল হিসেবে চিহ্নিত করুন
    """
    if not args:
        raise Usage()
    return _act(ctx, common.one_id(args[:1]), "complete", " ".join(args[1:]) or None)


@command("ADDRS", role=ADMIN)
def add_reseller(ctx: Context, args: list[str]) -> Reply:
    """ADDRS <phone> <name> [level] — a new reseller

    bn: ADDRS <ফোন> <নাম> [লেভেল] — নতুন রিসেলার
    """
    return common.add_reseller(ctx, args)


@command("ADDBAL", role=ADMIN)
def add_balance(ctx: Context, args: list[str]) -> Reply:
    """ADDBAL <reseller> <amount> — add balance to a reseller

    bn: ADDBAL <রিসেলার> <টাকা> — রিসেলারকে ব্যালেন্স দিন
    """
    return common.pay(ctx, args)


@command("RS", role=ADMIN)
def reseller(ctx: Context, args: list[str]) -> Reply:
    """RS [<reseller>] — a reseller's status and balance, or who is low or suspended

    bn: RS [<রিসেলার>] — রিসেলারের অবস্থা ও ব্যালেন্স, বা কার ব্যালেন্স কম / কে স্থগিত
    """
    if not args:
        low = ctx.settings.low_balance
        people = _summary(ctx, low).attention
        cards = [common.reseller_card(r, ctx.settings.country) for r in people[:OPEN_MAX]]
        return Reply("attention", {"resellers": cards, "low": low, "more": max(0, len(people) - OPEN_MAX)})
    if len(args) != 1:
        raise Usage()
    return Reply("reseller", common.reseller_card(common.visible_reseller(ctx, args[0]), ctx.settings.country))


@command("ACCEPT", role=ADMIN)
def accept(ctx: Context, args: list[str]) -> Reply:
    """ACCEPT <id> — approve a balance request

    bn: ACCEPT <আইডি> — ব্যালেন্স অনুরোধ মঞ্জুর
    """
    return _decide(ctx, common.one_id(args), approve=True)


@command("DENY", role=ADMIN)
def deny(ctx: Context, args: list[str]) -> Reply:
    """DENY <id> — deny a balance request

    bn: DENY <আইডি> — ব্যালেন্স অনুরোধ নামঞ্জুর
    """
    return _decide(ctx, common.one_id(args), approve=False)


@command("SEND", role=ADMIN)
def send(ctx: Context, args: list[str]) -> Reply:
    """SEND <phone> <text> — a message to any number

    bn: SEND <ফোন> <লেখা> — যেকোনো নম্বরে বার্তা
    """
    if len(args) < 2:
        raise Usage()
    phone = common.phone_of(ctx, args[0])
    if not ctx.switches.notify("message"):
        raise Refused("switched_off", kind="message")
    text = ctx.msg.text.split(maxsplit=2)[2]  # as typed: its own digits and spacing
    notes = ctx.kit.notes(ctx.idem("send"))  # a re-run builds the same message id: sent once
    notes.send(_recipient(ctx, phone), "message", "message", text=text)
    shown = common.shown_number(phone, ctx.settings.country)
    return Reply("message_sent", {"phone": shown}, outbound=notes.out)


@command("OTP", role=ADMIN)
def one_time_code(ctx: Context, args: list[str]) -> Reply:
    """OTP [<phone>] — send a one-time code (default: to you)

    bn: OTP [<ফোন>] — এককালীন কোড পাঠান (নম্বর না দিলে আপনাকে)
    """
    if len(args) > 1:
        raise Usage()
    phone = common.phone_of(ctx, args[0]) if args else ctx.msg.sender
    if not phone:
        raise Usage()  # no number given and the transport withheld ours
    if not ctx.switches.notify("otp"):
        raise Refused("switched_off", kind="otp")
    try:
        code = ctx.kit.codes.issue(phone, cause=ctx.idem("otp"))  # a re-run issues the same code
    except otp.RateLimited as exc:
        raise Refused("otp_limited", minutes=math.ceil(exc.retry_after / 60)) from None
    minutes = ctx.settings.otp_ttl // 60
    notes = ctx.kit.notes(ctx.idem("otp"))  # the same cause as the code's: a re-run sends it once
    otp.add_message(notes, phone, code, _recipient(ctx, phone).language, minutes)
    shown = common.shown_number(phone, ctx.settings.country)
    return Reply("otp_sent", {"phone": shown, "minutes": minutes}, outbound=notes.out)  # the code: to the phone only


# -- helpers -----------------------------------------------------------------


def _open_requests(ctx: Context) -> Reply:
    found = [r for s in OPEN for r in ctx.host.list_requests(actor=None, status=s, limit=100)]
    found.sort(key=lambda r: r.id)  # oldest first: the host's ids grow with time
    now = time.time()
    cards = [
        {**common.request_card(ctx, r, named=False), "minutes": minutes_since(r.created_at, now)}
        for r in found[:OPEN_MAX]
    ]
    return Reply("open_requests", {"requests": cards, "more": max(0, len(found) - OPEN_MAX)})


def _summary(ctx: Context, low: int | None = None) -> Summary:
    day = ctx.host.summary(low_below=str(low if low is not None else ctx.settings.low_balance))
    if day is None:
        raise Refused("no_summary")
    return day


def _request(ctx: Context, request_id: int) -> Request:
    try:
        return ctx.host.get_request(request_id)
    except HostError as err:
        if err.code == "not_found":
            raise Refused("no_request", id=request_id, yours=False) from None
        raise


def _act(ctx: Context, request_id: int, action: str, trx_id: str | None = None) -> Reply:
    try:
        after = ctx.host.act_on_request(request_id, action, trx_id=trx_id, idem_key=ctx.idem())
    except HostError as err:
        if err.code == "not_found":
            raise Refused("no_request", id=request_id, yours=False) from None
        if err.code == "invalid_state":  # read only now: its status says why (a racing success, say)
            now = _request(ctx, request_id)
            raise Refused("request_state", id=request_id, status=now.status, action=action) from None
        raise
    card = common.request_card(ctx, after)
    owner = ctx.host.get_reseller(str(after.reseller_id))  # a cancel refunds, a resend charges again
    return Reply("request_action", {**card, "action": action, "name": owner.name, "balance": owner.balance})


def _decide(ctx: Context, balance_request_id: int, *, approve: bool) -> Reply:
    # Claimed before the host is asked, so the expiry cannot tell the reseller "ask again" meanwhile;
    # past its expiry it did: a late decision would contradict that.
    claim = ctx.kit.decisions.claim(balance_request_id)
    if claim.state == approval.EXPIRED:
        raise Refused("balance_request_expired", id=balance_request_id)
    try:
        decided = _decided_at_host(ctx, balance_request_id, approve)
    except Exception:
        # Refused, or no answer: back to pending, watched by the expiry again.  Had the host
        # decided all the same, its balance_request.updated still moves it on.
        if claim.changed:
            ctx.kit.decisions.release(balance_request_id)
        raise
    owner = ctx.host.get_reseller(str(decided.reseller_id))
    return Reply(
        "balance_request_decided",
        {
            "id": decided.id,
            "amount": decided.amount,
            "status": decided.status,
            "name": owner.name,
            "username": owner.username,
            "balance": owner.balance,
        },
    )


def _decided_at_host(ctx: Context, balance_request_id: int, approve: bool) -> BalanceRequest:
    try:
        found = ctx.host.get_balance_request(balance_request_id)
    except HostError as err:
        if err.code == "not_found":
            raise Refused("no_balance_request", id=balance_request_id) from None
        raise
    first = common.first_run(ctx, "decide")  # a re-run finds its own decision made: not a refusal
    if found.status != "pending" and first:
        raise Refused("balance_request_closed", id=found.id, status=found.status)
    return ctx.host.decide_balance_request(balance_request_id, approve=approve, idem_key=ctx.idem())


def _recipient(ctx: Context, phone: str) -> Recipient:
    """Who gets a message: a reseller in its own language, anyone else in the default one."""
    known = ctx.host.find_reseller(phone=phone)
    return Recipient(phone, known.language if known else ctx.switches.default_language())
