"""The device transport end to end: simulated phones, a real worker, the sandbox host.

The add-on runs both transports here, so one test can compare a phone's reply
with the Cloud API's for the same chat.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests
from conftest import RETAIL1
from helpers import phone, poll_until

from wa_addon.messages import Outbound
from wa_addon.queue import outbox

BAL_REPLY = "Karim Store: balance ৳2,500"
LEASE = 2  # seconds: short, so the dead phone's messages come back quickly


@pytest.fixture
def stack_settings(stack_settings):
    """The shared stack with phones as well as the Cloud API."""
    return stack_settings.with_(
        transports=("cloud", "device"),
        device_lease=LEASE,
        device_reply_wait=20,
        device_names=("Karim Store=8801822222222",),
    )


def test_bal_through_a_phone_gets_the_same_reply_as_through_the_cloud_api(stack):
    sim = phone(stack, "p1")
    sim.say(RETAIL1, "BAL")
    assert poll_until(sim, lambda sent: sent) == [BAL_REPLY]
    stack.say(RETAIL1, "BAL")
    stack.graph.wait_for(1, timeout=15)
    assert stack.graph.sent_to(RETAIL1) == [BAL_REPLY]
    assert sim.acks == [{"lease": sim.sent[0]["lease"], "result": "ok"}]
    key = stack.rt.keys.msg(sim.sent[0]["id"])
    # The ack applies at once, or at the worker's next housekeeping if it beat the outbox's record.
    assert await_status(stack.rt.conn, key, b"sent") == b"sent"
    record = stack.rt.conn.hgetall(key)
    assert (record[b"transport"], record[b"device"]) == (b"device", b"p1")


def await_status(conn, key: str, wanted: bytes, timeout: float = 15) -> bytes | None:
    """The ``status`` field of hash ``key`` once it is ``wanted`` (or at ``timeout``).

    Woken by Redis keyspace notifications on the key (switched on meanwhile), not by polling.
    """
    flags = conn.config_get("notify-keyspace-events")["notify-keyspace-events"]
    conn.config_set("notify-keyspace-events", "".join(set(flags) | set("Kh")))
    pubsub = conn.pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(f"__keyspace@{conn.connection_pool.connection_kwargs.get('db', 0)}__:{key}")
        pubsub.get_message(timeout=timeout)  # the confirmation: every change from here is an event
        end = time.monotonic() + timeout
        while (status := conn.hget(key, "status")) != wanted and (left := end - time.monotonic()) > 0:
            pubsub.get_message(timeout=left)
        return status
    finally:
        pubsub.close()
        conn.config_set("notify-keyspace-events", flags)


def test_a_reposted_phone_message_is_answered_once(stack):
    sim = phone(stack, "p1")
    sim.say(RETAIL1, "BAL", msg_id="android-42")
    sim.say(RETAIL1, "BAL", msg_id="android-42")  # the app posted it again (a retry, a restart)
    sim.say(RETAIL1, "HELP")  # same sender: its reply comes after any repeat's
    texts = poll_until(sim, lambda sent: any(m["text"].startswith("Commands") for m in sent))
    assert texts[0] == BAL_REPLY and texts[1].startswith("Commands") and len(texts) == 2


def test_two_phones_deliver_everything_once_when_a_third_dies_mid_lease(stack):
    recipients = ["8801822222222", "8801933333333", "8801544444444"]
    plan = [Outbound(id=f"n{i}", to=to, text=f"notice {i}", kind="test") for i, to in enumerate(recipients * 3)]
    log: list[tuple[str, str]] = []  # every "send" of the live phones, in the order they happened
    changed = threading.Condition()

    def record(line: str) -> None:  # DeviceSim echoes "-> {to}: {text}" per send
        with changed:
            log.append(tuple(line[3:].split(": ", 1)))
            changed.notify_all()

    dead = phone(stack, "p3", ack=False)
    outbox.push(stack.rt, plan, "device")
    lost = dead.poll_once(wait=10, max_count=3)  # it leases, then never acks nor polls again
    assert lost
    alive = [phone(stack, name, echo=record) for name in ("p1", "p2")]
    stop = threading.Event()
    threads = [threading.Thread(target=sim.run_forever, args=(stop, 1), daemon=True) for sim in alive]
    for thread in threads:
        thread.start()
    try:
        with changed:  # the dead phone's leases expire (housekeeping in the worker) and come back
            assert changed.wait_for(lambda: len(log) >= len(plan), timeout=30)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    sent_ids = [m["id"] for sim in alive for m in sim.sent]
    assert sorted(sent_ids) == sorted(m.id for m in plan)  # each once, none lost
    assert {m["id"] for m in lost} <= set(sent_ids)
    for to in recipients:  # in order per recipient, across phones
        assert [text for who, text in log if who == to] == [m.text for m in plan if m.to == to]
    assert stack.rt.transports["device"].queue.counts() == {"queued": 0, "leased": 0}


def test_autoresponder_gets_the_reply_in_the_same_exchange(stack):
    token = stack.rt.transports["device"].add_phone("ar")
    body = {
        "appPackageName": "tkstudio.autoresponderforwa",
        "messengerPackageName": "com.whatsapp",
        "query": {
            "sender": "Karim Store",
            "message": "BAL",
            "isGroup": False,
            "groupParticipant": "",
            "ruleId": 3,
            "isTestMessage": False,
        },
    }
    url = f"{stack.url}/device/autoresponder?token={token}"
    first = requests.post(url, json=body, timeout=30)
    assert first.status_code == 200 and first.json() == {"replies": [{"message": BAL_REPLY}]}
    again = requests.post(url, json=body, timeout=30)  # AutoResponder repeating itself
    assert again.json() == {"replies": []}  # one message, one reply, already given
    sim = phone(stack, "p1")
    assert sim.poll_once(wait=0) == []  # the reply is not sent a second time by another phone
