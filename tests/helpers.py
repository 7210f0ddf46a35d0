"""Helpers shared by test modules (imported, never collected); fixtures all tests share are conftest's."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from conftest import HOOK_SECRET, HOST_KEY

from wa_addon.device_sim import DeviceSim
from wa_addon.messages import Outbound
from wa_addon.queue.jobs import PROCESSORS
from wa_addon.queue.lanes import decode
from wa_addon.queue.session import Session
from wa_addon.runtime import Runtime
from wa_addon.store import text


def leaks(secret: str, text: str) -> bool:
    """Whether ``secret`` stands in ``text`` as a word of its own.

    A random four-digit PIN is also, by chance, part of a hex id or a timestamp
    (``27e1d2844fda…`` held the PIN 2844, ``1796077387.2844`` could), which is no leak; a PIN that leaked
    stands apart (``PIN 2844``, ``"pin": "2844"``).
    """
    word = rf"(?<![0-9A-Za-z])(?<![0-9]\.){re.escape(secret)}(?![0-9A-Za-z])(?!\.[0-9])"
    return re.search(word, text) is not None


def payloads(rt: Runtime, lane_name: str) -> list[str]:
    """What waits on a lane, partition by partition, in order (without the order keys)."""
    lane = rt.lanes[lane_name]
    raws = [r for p in range(lane.parts) for r in rt.conn.lrange(rt.keys.lane(lane.name, p, "q"), 0, -1)]
    return [decode(text(raw))[1] for raw in raws]


def queued(rt: Runtime, lane_name: str) -> list[Outbound]:
    """The messages waiting on an outbox lane."""
    return [Outbound.from_json(raw) for raw in payloads(rt, lane_name)]


def drain(rt: Runtime, classes: tuple[str, ...] = ("hi", "lo")) -> int:
    """Run a session in this process until nothing is left (what a worker would do)."""
    return Session(rt, PROCESSORS, burst=True, classes=classes, budget=30).run()


# -- sample contexts: every template renders with one --------------------------

CARD = {
    "id": 3,
    "name": "Karim Store",
    "username": "retail1",
    "phone": "01822222222",
    "level": 2,
    "status": "active",
    "balance": "2500.00",
    "services": "FL, BK",
}
REQUEST = {
    "id": 41,
    "what": "FL GP prepaid",
    "number": "01712345678",
    "amount": "50.00",
    "status": "success",
    "trx_id": "TX1",
    "note": "ok",
    "created_at": "2026-01-01 10:00",
}
COMMAND_SAMPLES: dict[str, dict] = {  # the command replies' templates (test_commands_chat, test_templates)
    "services": {"services": [{"code": "FL", "name": "Flexiload", "min": "10", "max": "5000", "types": "prepaid"}]},
    "operators": {
        "service": "FL",
        "operators": [
            {
                "code": "GP",
                "name": "Grameenphone",
                "prefixes": "013, 017",
                "limits": [{"type": "prepaid", "min": "10", "max": "1000"}],
            }
        ],
    },
    "packages": {"operator": "GP", "packages": [{"code": "GP1", "name": "1GB", "price": "98", "validity": "7 days"}]},
    "unknown_service": {"service": "XX"},
    "service_not_permitted": {"service": "NG"},
    "type_not_offered": {"type": "skitto", "operator": "RB", "types": "prepaid"},
    "unknown_package": {"package": "XX1"},
    "unknown_operator": {"operator": "XX", "operators": "GP, RB"},
    "totals": {"resellers": 5, "suspended": 1, "balance": "16800.00", "pending": 2, "processing": 0, "attention": 2},
    "no_summary": {},
    "guide_ask": {"what": "FL", "step": "amount", "n": 2, "total": 3, "problem": "A PIN is 4 to 8 digits."},
    "guide_stopped": {},
    "guide_expired": {"what": "FL", "minutes": 5},
    "guide_not_pin": {},
    "guide_not_name": {},
    "guide_not_amount": {},
    "open_requests": {"requests": [{**REQUEST, "minutes": 75}], "more": 2},
    "attention": {"resellers": [CARD], "low": 500, "more": 0},
    "amount_out_of_range": {"what": "FL GP prepaid", "min": "10", "max": "1000", "amount": "5"},
    "insufficient_balance": {"balance": "40", "amount": "50"},
    "bad_number": {"number": "123", "kind": "mobile"},
    "bad_option": {"word": "foo", "types": "prepaid", "operators": "GP"},
    "no_operator": {"number": "01112345678", "operators": "GP, RB"},
    "request_placed": {
        "id": 41,
        "what": "FL",
        "number": "01712345678",
        "amount": "50",
        "before": "100",
        "after": "50",
        "status": "pending",
    },
    "duplicate_held": {
        "what": "FL",
        "number": "01712345678",
        "amount": "50",
        "previous": "41",
        "code": "123",
        "minutes": 10,
    },
    "nothing_held": {"code": "123"},
    "held_dropped": {"count": 2},
    "no_reseller": {"ref": "x"},
    "not_in_subtree": {"ref": "x"},
    "reseller_added": {**CARD, "password": "pw", "pin": "4821", "replayed": False},
    "payment_done": {
        "amount": "500",
        "name": "Karim Store",
        "username": "retail1",
        "to_before": "1",
        "to_after": "501",
        "from_before": "1000",
        "from_after": "500",
        "id": 1,
    },
    "reseller": CARD,
    "resellers": {"resellers": [CARD, {**CARD, "status": "suspended"}], "more": 3},
    "requests": {"requests": [REQUEST]},
    "request_status": REQUEST,
    "no_request": {"id": 41, "yours": True},
    "pin_format": {"min": 4, "max": 6},
    "pin_changed": {},
    "language_set": {"language": "bn"},
    "request_action": {**REQUEST, "action": "complete", "name": "Karim Store", "balance": "2450"},
    "request_state": {"id": 41, "status": "success", "action": "cancel"},
    "balance_request_expired": {"id": 7},
    "no_balance_request": {"id": 7},
    "balance_request_closed": {"id": 7, "status": "approved"},
    "balance_request_decided": {
        "id": 7,
        "amount": "1000",
        "status": "approved",
        "name": "Karim Store",
        "username": "retail1",
        "balance": "3500",
    },
    "switched_off": {"kind": "otp"},
    "otp_limited": {"minutes": 5},
    "message_sent": {"phone": "01799999999"},
    "otp_sent": {"phone": "01799999999", "minutes": 5},
    "host_error": {"code": "insufficient_balance", "message": "balance 40.00 is less than 50.00"},
}

NOTIFY_SAMPLES = {  # one context every notification template renders with
    "id": 12,
    "service": "FL",
    "what": "GP1 — 1GB 7 days",
    "type": "prepaid",
    "operator": "GP",
    "number": "01712***678",
    "amount": "50.00",
    "name": "Karim Store",
    "trx_id": "TX9",
    "reason": "operator down",
    "balance": "2450.00",
    "minutes": 15,
    "by": "Rahim Telecom",
    "username": "retail1",
    "note": "urgent",
    "password": "Xy12ab",
    "pin": "4821",
    "code": "123456",
    "changes": [{"field": "status", "old": "active", "new": "suspended"}],
    "summary": "status: suspended",
}


# -- phones on the device transport --------------------------------------------


def phone(stack, name: str, **kw) -> DeviceSim:
    return DeviceSim(stack.url, stack.rt.transports["device"].add_phone(name), **kw)


def poll_until(sim: DeviceSim, predicate, rounds: int = 10) -> list[dict]:
    """Long-poll (each poll returns as soon as something is leased) until ``predicate(sent)``."""
    for _ in range(rounds):
        if predicate(sim.sent):
            break
        sim.poll_once(wait=10)
    return [m["text"] for m in sim.sent]


# -- host events end to end: the sandbox's hooks wired to the served add-on ------
# A module takes these by importing them (``from helpers import live, ...``): the
# sandbox here replaces conftest's with one whose events reach the add-on.

TIMEOUT = 20


class Relay:
    """The sandbox's event sink; points at the add-on's hook URL once the stack is up."""

    def __init__(self):
        self.sender = None

    def __call__(self, type, data):
        if self.sender is not None:
            self.sender(type, data)


@pytest.fixture
def relay():
    relay = Relay()
    yield relay
    if relay.sender is not None:
        relay.sender.close()


@pytest.fixture
def host_db(tmp_path, relay):
    from wa_addon.sandbox import SandboxDB, seed

    db = SandboxDB(str(tmp_path / "host.sqlite3"), on_event=relay)
    seed(db)
    return db


def without_summary(app):
    """The sandbox app as a host that never added the optional ``GET /summary`` (it answers 404)."""

    def older_host(environ, start_response):
        if environ["PATH_INFO"].endswith("/summary"):
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": {"code": "not_found", "message": "no such route"}}']
        return app(environ, start_response)

    return older_host


@pytest.fixture
def sandbox(request, host_db):
    """Overrides conftest's: the same seeded sandbox host, with its events wired.

    ``@pytest.mark.parametrize("sandbox", [False], indirect=True)``: a host without ``GET /summary``.
    """
    from wa_addon.sandbox import create_sandbox_app
    from wa_addon.testing.wsgi_server import serve_in_thread

    app = create_sandbox_app(host_db, HOST_KEY)
    url, stop = serve_in_thread(app if getattr(request, "param", True) else without_summary(app))
    yield url
    stop()


@pytest.fixture
def extra_settings():
    return {}


@pytest.fixture
def stack_settings(stack_settings, extra_settings):
    return stack_settings.with_(cloud_templates=("notify_balance_added:balance_added_v1",), **extra_settings)


@pytest.fixture
def live(stack, relay, host_db):
    from wa_addon.sandbox.hooksender import HookSender

    relay.sender = HookSender(f"{stack.url}/hooks", HOOK_SECRET, base_delay=0.05)
    return SimpleNamespace(stack=stack, db=host_db, graph=stack.graph, rt=stack.rt)


def wait_text(live, to, fragment):
    """Block until a message to ``to`` containing ``fragment`` was sent; returns its text."""

    def seen(sent):
        return any(m.to == to and fragment in m.text for m in sent)

    sent = live.graph.wait_for(seen, timeout=TIMEOUT)
    return next(m.text for m in sent if m.to == to and fragment in m.text)
