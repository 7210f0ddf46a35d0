"""``wa-addon demo``: the whole stack on embedded defaults, in one process tree.

A private Redis (unless ``WA_REDIS_URL``), the sandbox host with its seeded
accounts and the add-on mounted in it under ``WA_PREFIX``, a worker process,
and a simulated phone on the device transport.  Chats typed as
``FROM: text`` on stdin go in through that phone; replies and notifications
come out of it.  With ``WA_CLOUD_*`` set the same stack also takes Cloud API
webhooks and sends to ``WA_CLOUD_GRAPH_URL``.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wa_addon.app import Addon, mount
from wa_addon.device_sim import DeviceSim, inject
from wa_addon.host.http import HttpHost
from wa_addon.sandbox import SandboxDB, create_sandbox_app, seed
from wa_addon.sandbox.seed import RESELLERS
from wa_addon.settings import Settings
from wa_addon.testing.wsgi_server import serve_in_thread
from wa_addon.webchat import WebChat, create_chat_app

DEMO_HOST_KEY = "demo-host-key"
DEMO_HOOK_SECRET = "demo-hook-secret"  # noqa: S105 - the demo's fixed, documented value
DEMO_ADMIN = "8801711000000"
DEMO_PHONE = "demo-phone"

ROW = "  {:<14} {:<17} {:<5} {:<10} {:<8} {}"


def accounts_table(balances: dict[str, str] | None = None) -> str:
    """The seeded accounts (``wa_addon.sandbox.seed``) as the banner lists them.

    Args:
        balances: each username's balance on the host now; the seed's when not given.
    """
    names = {row[0]: row[1] for row in RESELLERS}
    lines = [ROW.format("who", "WhatsApp number", "PIN", "balance", "language", "").rstrip()]
    for _id, username, _name, phone, _level, parent, balance, pin, status, language, _services in RESELLERS:
        notes = [f"under {names[parent]}"] if parent not in (None, 1) else []
        notes += [status] if status != "active" else []
        root = parent is None  # the admin: no PIN in its commands, its payments create money
        now = (balances or {}).get(username, f"{balance:.2f}")
        lines.append(
            ROW.format(
                username,
                phone,
                "-" if root else pin,
                "(mints)" if root else now,
                language,
                f"({', '.join(notes)})" if notes else "",
            ).rstrip()
        )
    return "\n".join(lines)


def demo_settings(settings: Settings, port: int, state_dir: Path) -> Settings:
    """The demo's settings: every WA_* the user set wins over these defaults."""
    cloud = bool(settings.cloud_token and settings.cloud_phone_number_id)
    return settings.with_(
        state_dir=str(state_dir),
        host_url=settings.host_url or f"http://127.0.0.1:{port}",
        host_key=settings.host_key or DEMO_HOST_KEY,
        hook_secret=settings.hook_secret or DEMO_HOOK_SECRET,
        admin_numbers=settings.admin_numbers or (DEMO_ADMIN,),
        admin_token=settings.admin_token or secrets.token_urlsafe(18),  # a new one each start, printed
        transports=("cloud", "device") if cloud else ("device",),
        # The web chat plays the admin through the demo's own phone: bound to the admin, like a
        # shop's phone on its desk (any other phone needs the admin PIN for money commands).
        device_admin_phones=tuple(dict.fromkeys((*settings.device_admin_phones, DEMO_PHONE))),
    )


@dataclass
class Demo:
    """The running demo; :meth:`stop` ends every piece it started."""

    settings: Settings
    url: str
    phone: Any  # the DeviceSim
    stops: list[Any] = field(default_factory=list)
    chat: Any = None  # the web chat (wa_addon.webchat.WebChat) served at /chat
    shown_token: str = ""  # the admin token the demo made up (printed); "" when WA_ADMIN_TOKEN was set
    balances: dict[str, str] | None = None  # each seeded username's balance on the host at start

    def stop(self) -> None:
        for stop in reversed(self.stops):
            stop()


def start(settings: Settings, port: int, state_dir: Path, echo: Any = print, *, reset: bool = False) -> Demo:
    """Start every piece; returns once the stack answers.

    ``reset``: start from the seeded state: the host's database, the phone's
    record and the add-on's Redis keys of a previous run are dropped first.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    own_token = bool(settings.admin_token)  # the user's secret is never printed; one we made up is
    settings = demo_settings(settings, port, state_dir)
    if reset:
        _forget_files(state_dir)
    addon = Addon(settings, HttpHost(settings.host_url, settings.host_key))
    if reset:
        _forget_keys(addon.runtime.conn, settings.namespace)
    db = SandboxDB(str(state_dir / "host.sqlite3"), on_event=addon.emit)  # a Python host: events in-process
    seed(db)
    # As the admin page sets them; the host panel acts as the host itself would.
    chat = WebChat(settings, admin_numbers=addon.runtime.switches.admin_numbers, host=db)
    app = mount(addon.mount(create_sandbox_app(db, settings.host_key)), create_chat_app(chat), "/chat")
    base, stop_server = serve_in_thread(app, port=port)
    demo = Demo(
        settings, base, None, [stop_server], chat, "" if own_token else settings.admin_token, balances=_balances(db)
    )
    demo.stops.insert(0, _start_worker(settings))
    demo.phone = chat.phone = _start_phone(demo, addon, state_dir, echo, DeviceSim)
    return demo


def _forget_files(state_dir: Path) -> None:
    for name in ("host.sqlite3", "host.sqlite3-wal", "host.sqlite3-shm", "phone.jsonl"):
        (state_dir / name).unlink(missing_ok=True)


def _forget_keys(conn: Any, namespace: str) -> None:
    """Drop the add-on's keys (lifecycles, switches, queues) and its RQ jobs' from a previous run."""
    for pattern in (f"{namespace}:*", f"rq:*{namespace}-*"):
        keys = list(conn.scan_iter(match=pattern, count=1000))
        if keys:
            conn.delete(*keys)


def _balances(db: Any) -> dict[str, str]:
    return {row[1]: db.get_reseller(row[0])["balance"] for row in RESELLERS}


def _start_worker(settings: Settings) -> Any:
    proc = subprocess.Popen([sys.executable, "-m", "wa_addon.cli", "worker"], env=_child_env(settings))

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

    return stop


def _child_env(settings: Settings) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("WA_")}, **settings.to_env()}


def _start_phone(demo: Demo, addon: Any, state_dir: Path, echo: Any, sim_class: Any) -> Any:
    device = addon.runtime.transports["device"]
    device.revoke_phone(DEMO_PHONE)  # a fresh token each start; the old one stops working
    token = device.add_phone(DEMO_PHONE)
    phone = sim_class(demo.url + demo.settings.prefix, token, record=state_dir / "phone.jsonl", echo=echo)
    stop_event = threading.Event()
    thread = threading.Thread(target=phone.run_forever, args=(stop_event,), kwargs={"wait": 5}, daemon=True)
    thread.start()
    demo.stops.append(stop_event.set)
    return phone


def banner(demo: Demo) -> str:
    """What to do next, printed once the demo runs."""
    prefix = demo.url + demo.settings.prefix
    cloud = "on" if "cloud" in demo.settings.transports else "off: set WA_CLOUD_*"
    # Only the demo's own published key is printed: a real WA_HOST_KEY stays out of logs and scrollback.
    key = DEMO_HOST_KEY if demo.settings.host_key == DEMO_HOST_KEY else "(from WA_HOST_KEY)"
    return f"""\
wa-addon demo is running.
  host (sandbox) API   {demo.url}/api/v1   key: {key}
  add-on               {prefix}   (health: {prefix}/health)
  web chat             {demo.url}/chat   (play the admin or a reseller in a browser)
  admin page           {prefix}/admin   token: {demo.shown_token or "your WA_ADMIN_TOKEN"}
  Cloud API webhook    {prefix}/webhooks/cloud   ({cloud})
  state                {demo.settings.state_dir}

Seeded accounts (numbers and PINs fixed, see wa_addon/sandbox/seed.py; balances as the host has them now,
`wa-addon demo --reset` starts again from the seed):
{accounts_table(demo.balances)}

Type chats as FROM: TEXT, for example
  8801822222222: BAL
  8801822222222: FL 01712345678 50 4321
  8801711000000: HELP
Replies and notifications are printed as the demo phone sends them.  Ctrl-C stops everything."""


def run(settings: Settings, port: int, state_dir: Path, *, reset: bool = False) -> None:
    """Run the demo in the foreground until Ctrl-C or end of input."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the worker before Redis (atexit)
    demo = start(settings, port, state_dir, reset=reset)
    try:  # from here on a SIGTERM (even during the banner) stops the worker too: none is left orphaned
        print(banner(demo), flush=True)
        # Typed chats are read in a thread: a main thread blocked reading stdin
        # never runs the SIGTERM handler when the kernel delivers the signal to
        # another thread.  Short sleeps let it run within half a second.
        threading.Thread(target=inject, args=(demo.phone, sys.stdin), daemon=True).start()
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        demo.stop()
