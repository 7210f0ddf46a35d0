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
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


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


def test_send_errors_are_counted_by_meta_code_whether_final_or_retried(served, graph, worker):
    from wa_addon.queue import outbox

    url, addon = served
    rt = addon.runtime
    graph.fail_next(1, 131026, http_status=400)  # undeliverable: final
    graph.fail_next(1, 131056, http_status=400, retry_after=0.1)  # pair rate: retried, then sent
    outbox.push(rt, [Outbound(id="m1", to=RETAIL1, text="one"), Outbound(id="m2", to="8801933333333", text="two")])
    deadline = time.monotonic() + 15
    while rt.conn.hget(rt.keys.msg("m2"), "status") is None or rt.conn.hget(rt.keys.msg("m1"), "status") is None:
        assert time.monotonic() < deadline, "the worker recorded no status"
        time.sleep(0.05)
    got = scrape(url)
    assert got[("wa_send_errors_total", (("code", "131026"), ("transport", "cloud")))] == 1
    assert got[("wa_send_errors_total", (("code", "131056"), ("transport", "cloud")))] == 1


def test_a_failure_meta_reports_later_counts_once_and_only_for_our_messages(served):
    from wa_addon import inbound
    from wa_addon.messages import StatusUpdate

    url, addon = served
    rt = addon.runtime
    rt.conn.set(rt.keys.wamid("wamid.ours"), "m1")  # as a send records it
    for wamid in ("wamid.ours", "wamid.ours", "wamid.someone-elses"):  # Meta repeats statuses at will
        status = StatusUpdate("cloud", wamid, "failed", RETAIL1, error="131026 Message undeliverable")
        inbound.process(rt, f'{{"k":"status","v":{status.to_json()}}}')
    assert scrape(url)[("wa_send_errors_total", (("code", "131026"), ("transport", "cloud")))] == 1


def test_the_oldest_item_of_each_lane_is_aged_by_its_own_time(served):
    import json

    from wa_addon.queue import outbox
    from wa_addon.queue.lanes import Item

    url, addon = served
    rt = addon.runtime
    assert scrape(url)[("wa_lane_oldest_age_seconds", (("lane", "in"),))] == 0  # empty
    chat = {"transport": "cloud", "msg_id": "w1", "sender": RETAIL1, "text": "BAL", "timestamp": int(time.time()) - 300}
    rt.lanes["in"].push([Item(json.dumps({"k": "msg", "v": chat}), RETAIL1, "w1")])
    later = {**chat, "msg_id": "w2", "sender": "8801933333333", "timestamp": int(time.time()) - 100}
    rt.lanes["in"].push([Item(json.dumps({"k": "msg", "v": later}), later["sender"], "w2")])
    before = time.time()
    outbox.push(rt, [Outbound(id="m1", to=RETAIL1, text="hi")])  # stamped as it enters the outbox
    got = scrape(url)
    assert 300 <= got[("wa_lane_oldest_age_seconds", (("lane", "in"),))] < 3600  # the older of two partitions
    assert 0 <= got[("wa_lane_oldest_age_seconds", (("lane", "out:cloud"),))] <= time.time() - before + 0.01


def test_host_calls_are_timed_into_a_histogram_every_process_reads(served):
    from wa_addon import tally

    url, addon = served
    rt = addon.runtime
    rt.host.list_services()
    rt.host.list_services()
    deadline = time.monotonic() + 10
    while sum(int(v) for k, v in rt.conn.hgetall(rt.keys.metrics_host_latency).items() if k != b"sum_us") < 2:
        assert time.monotonic() < deadline, "the latency writer wrote nothing"
        time.sleep(0.01)  # the writer thread counts in Redis, not in this process's memory
    got = scrape(url)
    assert got[("wa_host_call_seconds_count", ())] == 2 and got[("wa_host_call_seconds_bucket", (("le", "+Inf"),))] == 2
    assert got[("wa_host_call_seconds_sum", ())] > 0
    assert [tally.bucket(s) for s in (0.001, 0.005, 0.0051, 10.0, 11.0)] == ["0.005", "0.005", "0.01", "10.0", "+Inf"]


def test_host_latencies_queued_meanwhile_go_in_one_pipeline(conn, namespace):
    from wa_addon import tally
    from wa_addon.store import Keys

    timer = tally.HostLatency(conn, Keys(namespace))
    for seconds in (0.002, 0.003, 0.2, 30.0):
        timer._queue.put(seconds)  # as record() does, before this process's writer thread runs
    assert timer.flush() == 4 and timer.flush() == 0
    stored = {k.decode(): int(v) for k, v in conn.hgetall(Keys(namespace).metrics_host_latency).items()}
    assert stored == {"0.005": 2, "0.25": 1, "+Inf": 1, "sum_us": 30_205_000}
    buckets, total = tally.host_histogram(conn, Keys(namespace))
    assert buckets[0] == ("0.005", 2.0) and buckets[-1] == ("+Inf", 4.0) and total == 30.205


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


def test_the_latency_writer_leaves_when_idle_and_the_next_call_starts_one(conn, namespace, monkeypatch):
    from wa_addon import tally
    from wa_addon.store import Keys

    monkeypatch.setattr(tally, "WRITER_IDLE", 0.05)
    monkeypatch.setattr(tally, "WRITE_EVERY", 0.0)
    timer, key = tally.HostLatency(conn, Keys(namespace)), Keys(namespace).metrics_host_latency

    def written() -> int:
        return sum(int(v) for k, v in conn.hgetall(key).items() if k != b"sum_us")

    for calls in (1, 2):
        timer.record(0.01)
        deadline = time.monotonic() + 10
        while written() < calls or timer._writer_pid:  # written, then the idle writer has left
            assert time.monotonic() < deadline, (written(), timer._writer_pid)
            time.sleep(0.01)
