"""``GET {prefix}/metrics``: Prometheus text from Redis, behind a token."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from conftest import HOST_KEY
from prometheus_client.parser import text_string_to_metric_families

from wa_addon.app import Addon, not_found
from wa_addon.host.http import HttpHost
from wa_addon.messages import Outbound
from wa_addon.testing.wsgi_server import serve_in_thread

METRICS_TOKEN = "scrape-me-please-0123"
ADMIN_TOKEN = "admin-token-0123456789"
RETAIL1 = "8801822222222"


@pytest.fixture
def served(stack_settings) -> Iterator[tuple[str, Addon]]:
    settings = stack_settings.with_(metrics_token=METRICS_TOKEN, admin_token=ADMIN_TOKEN)
    addon = Addon(settings, HttpHost(settings.host_url, HOST_KEY))
    base, stop = serve_in_thread(addon.mount(not_found))
    yield base + settings.prefix, addon
    stop()


def scrape(url: str, token: str = METRICS_TOKEN) -> dict[tuple[str, tuple], float]:
    resp = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(resp.text) for s in family.samples}


def test_only_the_metrics_or_admin_token_may_scrape(served):
    url, _ = served
    assert requests.get(f"{url}/metrics", timeout=10).status_code == 401
    wrong = requests.get(f"{url}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
    assert ("wa_lane_depth", (("lane", "in"),)) in scrape(url, ADMIN_TOKEN)


def test_lane_depths_failed_and_dead_letters_are_read_at_scrape_time(served):
    from wa_addon.queue import outbox

    url, addon = served
    rt = addon.runtime
    before = scrape(url)
    assert before[("wa_lane_depth", (("lane", "out:cloud"),))] == 0
    outbox.push(rt, [Outbound(id="m1", to=RETAIL1, text="hi")])  # no worker here: it waits
    rt.conn.rpush(rt.keys.dead("in"), "{}")
    rt.conn.rpush(rt.keys.failed("cloud"), "{}", "{}")
    after = scrape(url)
    assert after[("wa_lane_depth", (("lane", "out:cloud"),))] == 1
    assert after[("wa_dead_letters", (("lane", "in"),))] == 1
    assert after[("wa_failed_messages", (("transport", "cloud"),))] == 2


def test_messages_are_counted_by_transport_and_status(served, graph, worker):
    from wa_addon.queue import outbox

    url, addon = served
    rt = addon.runtime
    graph.fail_next(1, 131026, http_status=400)  # undeliverable: a permanent failure
    outbox.push(rt, [Outbound(id="m1", to=RETAIL1, text="one")])
    outbox.push(rt, [Outbound(id="m2", to=RETAIL1, text="two")])
    deadline = time.monotonic() + 15
    while not all(rt.conn.hget(rt.keys.msg(m), "status") for m in ("m1", "m2")):
        assert time.monotonic() < deadline, "the worker recorded no status"
        time.sleep(0.05)  # the status is written after the send: nothing to await but Redis
    got = scrape(url)
    assert got[("wa_messages", (("status", "failed"), ("transport", "cloud")))] == 1
    assert got[("wa_messages", (("status", "sent"), ("transport", "cloud")))] == 1
    assert got[("wa_failed_messages", (("transport", "cloud"),))] == 1
    assert rt.conn.ttl(rt.keys.metrics_messages) > 0  # the scan's result is shared for a while


def test_phones_and_their_queue_are_reported_with_the_device_transport(stack_settings):
    settings = stack_settings.with_(transports=("device",), metrics_token=METRICS_TOKEN)
    addon = Addon(settings, HttpHost(settings.host_url, HOST_KEY))
    base, stop = serve_in_thread(addon.mount(not_found))
    try:
        device = addon.runtime.transports["device"]
        device.add_phone("shop-1")
        device.send(Outbound(id="d1", to=RETAIL1, text="hi"))
        got = scrape(base + settings.prefix)
    finally:
        stop()
    assert got[("wa_phones", (("online", "no"),))] == 1 and got[("wa_phones", (("online", "yes"),))] == 0
    assert got[("wa_device_queue", (("state", "queued"),))] == 1
