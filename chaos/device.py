"""The device transport's faults: the same stack with the replies going out through two phones.

:class:`DeviceStack` is :class:`~stack.Stack` with ``WA_TRANSPORTS=device``
and two simulated phones (``wa_addon.device_sim.DeviceSim``, over real HTTP)
that long-poll the outbox, "send" what they lease and ack it.  The chats
come in as the phones post them (``POST /wa/device/inbound``), chat *i*
through phone *i* mod 2; a post refused with 401 (its phone was revoked) goes
through the other phone, as the contact's next message would.  A chat's
replies are what the phones sent, counted the way the Graph's are.

The revocation fault runs ``wa-addon device revoke`` while phone A holds an
open long poll and records how long A's poll took to end and whether A was
given anything leased after the revocation (a door that must stay shut).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis
import requests
from chats import Chat
from stack import Stack

from wa_addon.device_sim import DeviceSim
from wa_addon.settings import Settings
from wa_addon.store import Keys
from wa_addon.transports.device import DeviceTransport

PHONES = ("phone-a", "phone-b")
POLL = 25  # each phone's long poll (WA_DEVICE_POLL_MAX's default)
LEASE = 30  # WA_DEVICE_LEASE's default: a lease's time is its deadline minus this


class Phone:
    """One simulated phone polling in a thread; remembers when its token was refused."""

    def __init__(self, base: str, name: str, token: str):
        self.name, self.token = name, token
        self.sim = DeviceSim(base, token, echo=self._event)
        self.refused_at: float | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self.sim.run_forever, args=(self.stop, POLL), daemon=True, name=f"chaos-{name}"
        )

    def _event(self, line: str) -> None:
        if "token refused" in line and self.refused_at is None:
            self.refused_at = time.time()


class DeviceStack(Stack):
    """The add-on on the device transport, phones A and B polling it (start with ``with``)."""

    def __init__(self, workdir: Path, redis_server: Any, name: str, **kw: Any):
        extra = {
            "WA_TRANSPORTS": "device",
            "WA_DEVICE_POLL_MAX": str(POLL),
            "WA_DEVICE_LEASE": str(LEASE),
            **(kw.pop("extra", None) or {}),
        }
        super().__init__(workdir, redis_server, name, extra=extra, **kw)
        self.base = f"http://127.0.0.1:{self.web_port}/wa"
        self.phones: dict[str, Phone] = {}
        self.notes: list[str] = []  # figures for the report beside the row
        self.broken = 0  # doors found open (the run fails)
        self.http = threading.local()
        self.contacts: dict[str, set[str]] = {name: set() for name in PHONES}  # who wrote through which phone
        self.revoked: dict[str, float] = {}  # phone -> when its revocation was done

    def __enter__(self) -> DeviceStack:
        super().__enter__()
        self.device = DeviceTransport(Settings.from_env(self.env()))  # the operator's functions, in this process
        for name in PHONES:
            phone = Phone(self.base, name, self.device.add_phone(name))
            self.phones[name] = phone
            phone.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for name, phone in self.phones.items():
            phone.stop.set()
            self.device.revoke_phone(name)  # ends its open poll now: gunicorn stops without waiting for it
        self.device.close()
        super().__exit__(*exc)

    def cli(self, *args: str) -> str:
        """Run ``wa-addon ARGS`` as an operator would; returns its output."""
        done = subprocess.run(
            [sys.executable, "-m", "wa_addon.cli", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    # -- the chats, posted by the phones ---------------------------------------------

    def post_chat(self, index: int, chat: Chat, copies: int = 1, give_up: float = 60.0) -> None:
        """Post the chat as phone ``index`` mod 2 saw it (``copies`` at once) until one post is answered 200."""
        if not chat.raw.startswith(b'{"messages"'):
            item = {"id": uuid.uuid4().hex, "from": chat.sender, "text": chat.text, "time": int(time.time())}
            chat.raw = json.dumps({"messages": [item]}).encode()
        names = list(PHONES[index % 2 :] + PHONES[: index % 2])
        deadline = time.monotonic() + give_up
        while not chat.acked and names and time.monotonic() < deadline:
            statuses = self._post(names[0], chat.raw, copies)
            chat.acked = 200 in statuses
            if chat.acked:
                self.contacts[names[0]].add(chat.sender)
            if 401 in statuses and not chat.acked:
                names.pop(0)  # this phone was revoked: the chat comes in through the other one
            elif not chat.acked:
                time.sleep(0.5)  # the app retries after a failed post

    def _post(self, name: str, raw: bytes, copies: int) -> list[int]:
        headers = {"Authorization": f"Bearer {self.phones[name].token}", "Content-Type": "application/json"}
        url = f"{self.base}/device/inbound"

        def once(_: int) -> int:
            session = getattr(self.http, "session", None) or requests.Session()
            self.http.session = session
            try:
                return session.post(url, data=raw, headers=headers, timeout=10).status_code
            except requests.RequestException:
                return 0

        if copies == 1:
            return [once(0)]
        statuses: list[int] = [0] * copies
        threads = [threading.Thread(target=lambda k=k: statuses.__setitem__(k, once(k))) for k in range(copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return statuses

    # -- what the phones sent, and what is still to send -----------------------------------

    def sent(self) -> list[tuple[str, str]]:
        return [(m["to"], m["text"]) for phone in self.phones.values() for m in list(phone.sim.sent)]

    def queued(self) -> int:
        conn = redis.Redis.from_url(self.redis.url)
        keys = Keys(self.ns)  # the phones' queue: waiting, and leased but not acked
        return super().queued() + int(conn.llen(keys.device("q"))) + int(conn.zcard(keys.device("leases")))

    # -- the revocation ---------------------------------------------------------------

    def revoke(self, name: str) -> None:
        """``wa-addon device revoke NAME`` while its poll is open; records the door's figures."""
        phone = self.phones[name]
        started = time.time()
        self.cli("device", "revoke", name)
        revoked = time.time()
        phone.thread.join(POLL + 5)  # its poll ends (401) and the simulated app stops
        if phone.refused_at is None:
            self.broken += 1
            self.notes.append(f"{name}'s poll did not end within {POLL + 5} s of its revocation")
        else:
            self.notes.append(
                f"{name}'s open poll ended {phone.refused_at - started:.2f} s after `wa-addon device "
                f"revoke` started (the command took {revoked - started:.2f} s)"
            )
        self.revoked[name] = revoked

    def revoke_idle(self, name: str = "phone-c") -> None:
        """Add a phone, wait until its long poll is open with nothing to send, and revoke it.

        Mid-stream every queued reply wakes every poll, so only an idle poll
        shows whether the revocation itself ends it (before the fix: when its
        wait ran out, up to 25 s later).
        """
        conn = redis.Redis.from_url(self.redis.url)
        wake = Keys(self.ns).device("wake")
        before = conn.pubsub_numsub(wake)[0][1]
        phone = self.phones[name] = Phone(self.base, name, self.device.add_phone(name))
        phone.thread.start()
        deadline = time.monotonic() + 10
        while conn.pubsub_numsub(wake)[0][1] <= before and time.monotonic() < deadline:
            time.sleep(0.05)  # the poll's subscription is the only sign that it waits
        time.sleep(0.5)  # and it has found nothing to lease
        started = time.time()
        self.cli("device", "revoke", name)
        phone.thread.join(POLL + 5)
        if phone.refused_at is None or phone.refused_at - started > 5:
            self.broken += 1
        took = "never" if phone.refused_at is None else f"{phone.refused_at - started:.2f} s"
        self.notes.append(f"an idle phone's open poll, revoked, ended after {took}")

    def report(self) -> None:
        """Once every chat is answered: what each revoked phone was given after its revocation, and
        how many of its contacts' replies another phone sent instead."""
        for name, revoked in self.revoked.items():
            late = [m for m in list(self.phones[name].sim.sent) if float(m["deadline"]) - LEASE > revoked]
            self.broken += len(late)
            self.notes.append(f"messages leased to {name} after its revocation: {len(late)}")
            moved = [
                m
                for other, phone in self.phones.items()
                if other != name
                for m in list(phone.sim.sent)
                if m["to"] in self.contacts[name] and float(m["deadline"]) - LEASE > revoked
            ]
            self.notes.append(f"replies to {name}'s contacts sent by the other phone after it: {len(moved)}")
