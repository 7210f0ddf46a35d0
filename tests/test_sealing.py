"""Passwords, PINs and codes never sit in Redis in the clear (sealed with Fernet)."""

from __future__ import annotations

import re

import pytest
from conftest import ADMIN_PHONE, eventually
from helpers import leaks, payloads

from wa_addon.hooks.intake import EventIntake
from wa_addon.host.http import HttpHost
from wa_addon.messages import Outbound
from wa_addon.queue import outbox
from wa_addon.runtime import EVENT_LANE, Runtime
from wa_addon.sealing import PREFIX, Sealer, sealer
from wa_addon.settings import Settings


def test_a_sealed_text_opens_with_its_key_only():
    box = Sealer("key one")
    sealed = box.seal("PIN 4821")
    assert sealed.startswith(PREFIX) and "4821" not in sealed and box.seal(sealed) == sealed
    assert box.open(sealed) == "PIN 4821"
    assert box.open("plain, queued before the upgrade") == "plain, queued before the upgrade"
    with pytest.raises(ValueError, match="WA_SECRET_KEY"):
        Sealer("key two").open(sealed)


def test_only_secret_messages_are_sealed_and_the_key_comes_from_the_settings():
    settings = Settings(secret_key="a-long-random-secret", hook_secret="h", host_key="k")
    secret = Outbound(id="1", to="880", text="Password: Xy12ab", params=["Xy12ab", "4821"], secret=True)
    plain = Outbound(id="2", to="880", text="Balance: 50")
    sealed, untouched = sealer(settings).seal_messages([secret, plain])
    assert untouched == plain and "Xy12ab" not in sealed.to_json() and "4821" not in sealed.to_json()
    assert sealer(settings).open_message(sealed) == secret
    derived = Settings(hook_secret="h", host_key="k")  # no WA_SECRET_KEY: derived from the other secrets
    with pytest.raises(ValueError):
        sealer(derived).open_message(sealed)


def test_a_reset_event_is_queued_with_its_password_and_pin_sealed(redis_url, namespace):
    settings = Settings(redis_url=redis_url, namespace=namespace, hook_secret="h")
    rt = Runtime(settings, HttpHost("http://127.0.0.1:9", "k"))  # no worker: look at what waits in the lane
    EventIntake(rt).emit("reseller.reset", {"id": 3, "password": "Pa55word", "pin": "8642", "phone": "8801822222222"})
    (raw,) = payloads(rt, EVENT_LANE)
    assert not leaks("Pa55word", raw) and not leaks("8642", raw) and PREFIX in raw
    rt.close()


def test_a_new_accounts_secrets_that_failed_for_good_are_sealed_in_the_failed_list(stack):
    stack.graph.fail_for(ADMIN_PHONE, 131026, times=1)  # undeliverable: a final failure
    stack.say(ADMIN_PHONE, "ADDRS 01799999999 Nur Traders")
    failed = stack.rt.keys.failed("cloud")
    assert eventually(lambda: stack.rt.conn.llen(failed) == 1)
    snapshot = _every_value(stack.rt)
    assert outbox.retry_failed(stack.rt, "cloud") == 1  # the admin's retry opens it on the way out
    stack.graph.wait_for(lambda sent: any(m.to == ADMIN_PHONE for m in sent), timeout=20)
    (text,) = stack.graph.sent_to(ADMIN_PHONE)
    password = re.search(r"(?:Password|পাসওয়ার্ড): (\S+)", text).group(1)
    pin = re.search(r"(?:PIN|পিন): (\S+)", text).group(1)
    assert not leaks(password, snapshot) and not leaks(pin, snapshot)  # before: whole, with no expiry


def _every_value(rt) -> str:
    """Every string, list and hash value of the namespace, as one text."""
    out = []
    for key in rt.conn.scan_iter(match=f"{rt.settings.namespace}:*", count=1000):
        kind = rt.conn.type(key)
        if kind == b"string":
            out.append(rt.conn.get(key))
        elif kind == b"list":
            out += rt.conn.lrange(key, 0, -1)
        elif kind == b"hash":
            out += rt.conn.hvals(key)
    return b"\n".join(v for v in out if v).decode("utf-8", "replace")
