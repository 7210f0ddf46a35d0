"""Revoking a phone while it holds an open long poll (issue 10, door 6), over real HTTP.

The contract (docs/device-protocol.md): the revoked phone's open poll ends with
401 at once, nothing queued after the revocation goes to it, and a message
meant for it (the contact last wrote through it) goes to another phone, or,
if only it may send the message (a pin), waits in the queue for a phone of
that name with a valid token.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests
from conftest import HOST_KEY, eventually

from wa_addon.device_sim import DeviceSim
from wa_addon.messages import Outbound
from wa_addon.settings import Settings
from wa_addon.transports.device_tokens import token_hash

RETAIL1 = "8801822222222"  # pinned to the phone "pinned"
OTHER = "8801933333333"
POLL = 25  # the open poll's wait: far beyond the client's timeout below


class Phones:
    def __init__(self, url: str, rt):
        self.url, self.rt = url, rt
        self.device = rt.transports["device"]

    def hand(self, to: str, text: str, msg_id: str) -> None:
        assert self.device.send(Outbound(id=msg_id, to=to, text=text)).ok

    def polling(self, token: str) -> tuple[threading.Thread, dict]:
        """A long poll of ``POLL`` seconds, open (Redis has its subscription) when this returns."""
        answer: dict = {}
        wake = self.rt.keys.device("wake")
        before = self.rt.conn.pubsub_numsub(wake)[0][1]

        def poll() -> None:
            # Timing out before POLL: a poll that only ends when its wait is up fails this.
            answer["resp"] = requests.get(
                f"{self.url}/device/outbox",
                params={"wait": POLL},
                timeout=POLL - 10,
                headers={"Authorization": f"Bearer {token}"},
            )

        thread = threading.Thread(target=poll)
        thread.start()
        assert eventually(lambda: self.rt.conn.pubsub_numsub(wake)[0][1] > before, timeout=10)
        return thread, answer


@pytest.fixture
def phones(redis_url, namespace, sandbox) -> Iterator[Phones]:
    from wa_addon.app import Addon, not_found
    from wa_addon.host.http import HttpHost
    from wa_addon.testing.wsgi_server import serve_in_thread

    settings = Settings(
        redis_url=redis_url,
        namespace=namespace,
        host_url=sandbox,
        host_key=HOST_KEY,
        transports=("device",),
        device_poll_max=POLL,
        device_pins=(f"pinned:{RETAIL1}",),
    )
    addon = Addon(settings, HttpHost(settings.host_url, HOST_KEY))
    base, stop = serve_in_thread(addon.mount(not_found))
    yield Phones(base + settings.prefix, addon.runtime)
    stop()
    addon.runtime.close()


def test_revoking_a_phone_ends_its_open_long_poll_at_once_with_nothing_queued(phones):
    token = phones.device.add_phone("p1")
    thread, answer = phones.polling(token)
    phones.device.revoke_phone("p1")  # no message is handed over: the revocation itself wakes the poll
    thread.join(POLL)
    assert answer["resp"].status_code == 401
    assert answer["resp"].json()["error"]["code"] == "unauthorized"


def test_a_lease_checks_the_token_in_the_same_step(phones):
    """Between a revocation and the taking back of leases, a poll that wakes gets nothing."""
    token = phones.device.add_phone("other")
    phones.device.tokens.revoke("other")  # the token is gone; release_device has not run yet
    phones.hand("8801933333333", "queued before", "m1")
    assert phones.device.queue.lease_as("other", token_hash(token)) is None
    assert phones.device.queue.state("m1")["state"] == "queued"


def test_a_reply_meant_for_the_revoked_phone_goes_to_another(phones):
    token = phones.device.add_phone("p1")
    p1, p2 = DeviceSim(phones.url, token), DeviceSim(phones.url, phones.device.add_phone("p2"))
    p1.say("8801933333333", "hello")  # replies to this contact prefer p1 while it is online
    thread, answer = phones.polling(token)
    phones.device.revoke_phone("p1")
    thread.join(POLL)
    assert answer["resp"].status_code == 401
    phones.hand("8801933333333", "the reply", "m1")
    assert [m["text"] for m in p2.poll_once(wait=10)] == ["the reply"]
    assert phones.device.queue.state("m1")["device"] == "p2"


def test_a_message_pinned_to_the_revoked_phone_waits_for_its_new_token(phones):
    old = DeviceSim(phones.url, phones.device.add_phone("pinned"), ack=False)
    other = DeviceSim(phones.url, phones.device.add_phone("other"))
    phones.hand(RETAIL1, "first", "m1")
    (leased,) = old.poll_once()  # the old token holds it, then is revoked before it acks
    phones.device.revoke_phone("pinned")
    phones.hand(RETAIL1, "second", "m2")
    assert other.poll_once() == []  # the pin allows no other phone
    assert phones.device.queue.counts() == {"queued": 2, "leased": 0}  # waiting, shown by `device list`
    new = DeviceSim(phones.url, phones.device.add_phone("pinned"))
    assert [m["text"] for m in new.poll_once()] == ["first"]  # per-recipient order holds
    assert [m["text"] for m in new.poll_once()] == ["second"]
    assert phones.device.queue.state("m1")["attempts"] == "2" and leased["lease"].endswith(".1")


def test_a_request_that_ends_after_the_revocation_does_not_bring_the_phone_back_online(phones):
    """A post authenticated just before the revocation records its contact after it: the revoked phone
    must not count as online again, or the replies that prefer it wait for it (60 s)."""
    token = phones.device.add_phone("p1")
    p2 = DeviceSim(phones.url, phones.device.add_phone("p2"))
    DeviceSim(phones.url, token).say("8801933333333", "hello")  # replies to this contact prefer p1
    phones.device.revoke_phone("p1")
    phones.device.tokens.touch("p1")  # the late contact of that request
    assert "p1" not in [p.name for p in phones.device.tokens.phones()]
    assert phones.rt.conn.zscore(phones.rt.keys.device("seen"), "p1") is None
    phones.hand("8801933333333", "the reply", "m1")
    assert [m["text"] for m in p2.poll_once()] == ["the reply"]  # at once, not once p1 seems gone


def test_an_autoresponder_exchange_takes_nothing_once_its_phone_is_revoked(phones):
    token = phones.device.add_phone("ar")
    wake = phones.rt.keys.device("wake")
    before = phones.rt.conn.pubsub_numsub(wake)[0][1]
    taken: list = []
    waiting = threading.Thread(
        target=lambda: taken.extend(phones.device.exchange("ar", OTHER, "no-such-reply", POLL - 10, token))
    )
    waiting.start()
    assert eventually(lambda: phones.rt.conn.pubsub_numsub(wake)[0][1] > before, timeout=10)  # it waits
    phones.device.revoke_phone("ar")
    phones.hand(OTHER, "after the revocation", "m1")  # before, the waiting exchange took it
    waiting.join(POLL)
    assert taken == [] and phones.device.queue.state("m1")["state"] == "queued"
