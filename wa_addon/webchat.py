"""The demo's web chat (``/chat``): play the admin or a seeded reseller in a browser.

No shortcut around the add-on: what you type goes in through the demo's
simulated phone (``DeviceSim.say`` -> ``POST {prefix}/device/inbound`` over
HTTP), and what you see come back is every message that phone sent from the
add-on's outbox (``DeviceSim.sent``), exactly as a real phone on the device
transport would: a message leased again after a lost ack is sent, and shown,
twice.  Who plays the admin follows the runtime switches (the admin page's
admin numbers), as the add-on itself does.  The page works without
JavaScript (a form, POST-redirect-GET); ``static/webchat.js`` sends without
reloading and polls.

The chat plays the admin for whoever reaches it, so it answers only this
machine: a loopback peer naming a loopback host (``localhost``,
``127.0.0.1``, ``::1``).  A tunnel or a DNS-rebinding page names another host
and is refused; ``WA_DEMO_CHAT_HOSTS`` allows more host names when asked.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from importlib import resources as package_files
from typing import Any
from urllib.parse import urlencode, urlsplit

import falcon

from wa_addon.commands import registry  # the package's import registers every command
from wa_addon.host import HostError
from wa_addon.render import environment, local_time
from wa_addon.sandbox.seed import RESELLERS
from wa_addon.settings import Settings

MAX_SHOWN = 200  # messages per conversation on the page
UNKNOWN = "unknown"  # a number that is neither an admin nor a seeded account
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
LOOPBACK_PEERS = ("127.", "::1", "::ffff:127.")
NUMBER = re.compile(r"^[0-9]{8,15}$")
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
}


@dataclass(frozen=True)
class Account:
    """One seeded account the page lets you play."""

    username: str
    name: str
    phone: str
    pin: str
    role: str  # admin | reseller | unknown (a number the host does not know)
    status: str
    language: str = "bn"  # the replies' language: the command list is shown in it too


def seeded_accounts(admin_numbers: Collection[str]) -> list[Account]:
    """The sandbox's seeded accounts (``wa_addon.sandbox.seed``); admin numbers play the admin."""
    accounts = []
    for _id, username, name, phone, *_rest, pin, status, lang, _services in RESELLERS:
        admin = phone in admin_numbers
        accounts.append(
            Account(username, name, phone, "" if admin else pin, "admin" if admin else "reseller", status, lang)
        )
    return accounts


def examples(account: Account) -> list[str]:
    """A few commands to try, with the account's own PIN filled in."""
    if account.role == UNKNOWN:
        return ["HELP", "BAL"]  # what a stranger would try: both get the one polite line
    if account.role == "admin":
        return ["HELP", "RS retail1", "ADDBAL retail1 100", "REQ 1", "COMPLETE 1 TRX123", "OTP"]
    pin = account.pin
    return [
        "HELP",
        "BAL",
        f"FL 01712345678 50 {pin}",
        f"BK 01812345678 500 cashin {pin}",
        "REQ",
        "PERM",
        "OPS FL",
        "PKGS GP",
    ]


class ChatLog:
    """What each person typed (the phone keeps only what it sent), kept in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._typed: list[dict[str, Any]] = []

    def add(self, who: str, text: str) -> dict[str, Any]:
        entry = {"id": uuid.uuid4().hex, "at": time.time(), "who": who, "text": text, "mine": True}
        with self._lock:
            self._typed.append(entry)
        return entry

    def typed(self, who: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._typed if e["who"] == who]


class WebChat:
    """The chat's state: the demo's phone, who typed what, the page templates.

    Args:
        settings: the demo's settings (prefix; admin numbers when ``admin_numbers`` is not given).
        phone: the demo's DeviceSim; may be set after the server starts.
        admin_numbers: the current admin numbers, asked on each page (the demo passes
            ``runtime.switches.admin_numbers``, which the admin page changes).
        host: the sandbox's ``SandboxDB``: the page's host panel acts as the host
            (a balance request, a failed request), whose events reach the add-on.
    """

    def __init__(
        self,
        settings: Settings,
        phone: Any = None,
        admin_numbers: Callable[[], Collection[str]] | None = None,
        host: Any = None,
    ):
        self.settings, self.phone, self.host = settings, phone, host
        self.admin_numbers = admin_numbers or (lambda: settings.admin_numbers)
        self.log = ChatLog()
        # HTML: autoescape on, its own environment (the messages' one is plain text).
        self.env = environment("templates/webchat", html=True)

    @property
    def accounts(self) -> list[Account]:
        """The seeded accounts, with the admin role as the switches have it now."""
        return seeded_accounts(self.admin_numbers())

    def account(self, who: str) -> Account:
        admins = self.admin_numbers()
        for account in seeded_accounts(admins):
            if account.phone == who:
                return account
        lang = self.settings.default_language
        return Account("", f"+{who}", who, "", "admin" if who in admins else UNKNOWN, "", lang)

    def send(self, who: str, text: str) -> dict[str, Any]:
        """Post ``text`` from ``who`` through the phone, as WhatsApp would show it to the phone."""
        entry = self.log.add(who, text)
        self.phone.say(who, text)
        return entry

    def conversation(self, who: str) -> list[dict[str, Any]]:
        """What ``who`` typed and every message the phone sent to ``who`` (resends too), oldest first."""
        sent = [m for m in list(self.phone.sent) if m.get("to") == who]  # a copy: the phone's thread appends
        # Each lease is one send: a resend after a lost ack shows twice, as it would on the phone.
        shown = [{"id": m.get("lease") or m["id"], "at": m["at"], "text": m["text"], "mine": False} for m in sent]
        shown += [{k: e[k] for k in ("id", "at", "text", "mine")} for e in self.log.typed(who)]
        return sorted(shown, key=lambda m: m["at"])[-MAX_SHOWN:]

    def clock(self, at: float) -> str:
        """A message's time on the page, in ``WA_TIMEZONE`` like every time the add-on shows."""
        return local_time(at, self.settings.timezone, "%H:%M")

    def usages(self, account: Account) -> list[str]:
        """The commands ``account`` may send, in its own language (none for an unknown sender)."""
        return [c.usage_in(account.language) for c in registry.commands_for(account.role)]


class _Resource:
    def __init__(self, chat: WebChat):
        self.chat = chat

    def who(self, req: falcon.Request, value: Any = None) -> str:
        who = str(value if value is not None else req.get_param("who") or "")
        if not who:
            accounts = self.chat.accounts
            return accounts[0].phone if accounts else ""
        if not NUMBER.match(who):
            raise falcon.HTTPBadRequest(title="bad who", description="who is a phone number, digits only")
        return who


class ChatPage(_Resource):
    """``GET /chat?who=<number>[&draft=<text>]``: the conversation, the composer, the commands."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        who = self.who(req)
        account = self.chat.account(who)
        resp.content_type = falcon.MEDIA_HTML
        resp.set_headers(HEADERS)
        prefix = self.chat.settings.prefix
        resp.text = self.chat.env.get_template("chat.html").render(
            base=req.root_path,
            who=who,
            me=account,
            accounts=self.chat.accounts,
            draft=req.get_param("draft") or "",
            messages=self.chat.conversation(who),
            examples=examples(account),
            usages=self.chat.usages(account),
            admin_url=prefix + "/admin",
            urlencode=urlencode,
            clock=self.chat.clock,
            timezone=self.chat.settings.timezone,
            panel=self.chat.host is not None,
            said=req.get_param("said") or "",
        )


class Send(_Resource):
    """``POST /chat/send`` (form or JSON ``{who, text}``): the chat goes in through the phone."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        _same_origin(req)
        data = req.get_media(default_when_empty={})
        who, text = self.who(req, data.get("who", "")), str(data.get("text", "")).strip()
        if text:
            self.chat.send(who, text[:1000])
        if req.content_type and req.content_type.startswith(falcon.MEDIA_JSON):
            resp.media = {"ok": bool(text), "messages": self.chat.conversation(who)}
            return
        resp.status = falcon.HTTP_303
        resp.location = f"{req.root_path}?{urlencode({'who': who})}#end"


class HostPanel(_Resource):
    """``POST /chat/host/balance-request`` and ``/chat/host/fail``: what the host's own panel would do.

    The sandbox moves the money and emits its event to the add-on, as a host
    would; the page then shows what the add-on sent.
    """

    def on_post_balance_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        who, data = self._form(req)
        actor = self.chat.host.get_reseller(who)["id"]
        self._done(
            req,
            resp,
            who,
            lambda: "balance request #{id}".format(
                **self.chat.host.create_balance_request(
                    amount=data.get("amount", ""), note=str(data.get("note") or "") or None, actor=actor
                )
            ),
        )

    def on_post_fail(self, req: falcon.Request, resp: falcon.Response) -> None:
        who, data = self._form(req)
        request_id = int(data["id"]) if str(data.get("id", "")).isdigit() else 0
        note = str(data.get("note") or "") or None
        self._done(
            req,
            resp,
            who,
            lambda: "request #{id} {status}".format(**self.chat.host.act_on_request(request_id, "fail", note=note)),
        )

    def _form(self, req: falcon.Request) -> tuple[str, dict[str, Any]]:
        _same_origin(req)
        data = req.get_media(default_when_empty={})
        return self.who(req, data.get("who", "")), data

    def _done(self, req: falcon.Request, resp: falcon.Response, who: str, act: Callable[[], str]) -> None:
        try:
            said = "host: " + act()
        except HostError as err:
            said = f"host refused: {err.code} {err.message}".strip()
        resp.status = falcon.HTTP_303
        resp.location = f"{req.root_path}?{urlencode({'who': who, 'said': said})}#end"


class Messages(_Resource):
    """``GET /chat/messages?who=<number>``: the conversation as JSON (the script polls it)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.set_header("Cache-Control", "no-store")
        resp.media = {"messages": self.chat.conversation(self.who(req))}


class Script:
    """``GET /chat/webchat.js``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = "text/javascript; charset=utf-8"
        resp.text = package_files.files("wa_addon").joinpath("static/webchat.js").read_text(encoding="utf-8")


class LocalOnly:
    """Middleware: the chat answers this machine only, unless its host name is allowed by the settings."""

    def __init__(self, allowed_hosts: Collection[str] = ()):
        self.allowed = {h.strip().lower() for h in allowed_hosts if h.strip()}

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Refuse (403) a request that names another host, or comes from afar to a loopback name."""
        host = req.host.lower().strip("[]")
        local = host in LOOPBACK_HOSTS and (req.remote_addr or "").startswith(LOOPBACK_PEERS)
        if not (local or host in self.allowed):
            raise falcon.HTTPForbidden(title="local only", description="the demo's web chat answers this machine only")


def create_chat_app(chat: WebChat) -> falcon.App:
    """The web chat's Falcon app; the demo mounts it at ``/chat``."""
    app = falcon.App(middleware=[LocalOnly(chat.settings.demo_chat_hosts)])
    app.add_route("/", ChatPage(chat))
    app.add_route("/send", Send(chat))
    app.add_route("/messages", Messages(chat))
    if chat.host is not None:
        panel = HostPanel(chat)
        app.add_route("/host/balance-request", panel, suffix="balance_request")
        app.add_route("/host/fail", panel, suffix="fail")
    app.add_route("/webchat.js", Script())
    return app


def _same_origin(req: falcon.Request) -> None:
    # Another site's page must not type chats into the demo (browsers send Origin on POST); the
    # request's own host was checked against the allow-list (LocalOnly), so it is a safe reference.
    origin = req.get_header("Origin")
    if origin and urlsplit(origin).netloc != req.netloc:
        raise falcon.HTTPForbidden(title="cross-origin", description="post from the chat page itself")
