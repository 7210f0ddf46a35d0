"""Outages are retried, never dropped, never done twice.

Meta rate limits, a host that is down, Redis that is down: each on real parts.
"""

from __future__ import annotations

import falcon.testing
import requests
from conftest import HOST_KEY

from wa_addon.app import Addon, not_found
from wa_addon.host.http import HttpHost
from wa_addon.redis_server import free_port
from wa_addon.testing import cloud_payloads as cp

RETAIL1 = "8801822222222"
BAL_REPLY = "Karim Store: balance ৳2,500"


def test_rate_limited_sends_are_retried_in_order_and_sent_once(stack):
    stack.graph.fail_next(2, 130429, http_status=400, retry_after=1)
    for text in ("BAL", "HELP", "BAL"):
        stack.say(RETAIL1, text)
    sent = stack.graph.wait_for(3, timeout=30)
    texts = [m.text for m in sent if m.to == RETAIL1]
    assert texts[0] == BAL_REPLY and texts[1].startswith("Commands") and texts[2] == BAL_REPLY
    assert len(texts) == 3
    attempts = [r for r in stack.graph.requests if r.path.endswith("/messages")]
    assert len(attempts) == 5  # two refused with 429, then each message once


def test_a_message_that_meets_a_host_outage_is_answered_when_the_host_is_back(
    stack_settings, graph, redis_url, tmp_path
):
    import subprocess
    import sys

    from conftest import settings_env

    from wa_addon.sandbox import SandboxDB, create_sandbox_app, seed
    from wa_addon.testing.wsgi_server import serve_in_thread

    port = free_port()
    settings = stack_settings.with_(host_url=f"http://127.0.0.1:{port}")  # nothing listens yet
    worker = subprocess.Popen([sys.executable, "-m", "wa_addon.cli", "worker"], env=settings_env(settings))
    addon = Addon(settings, HttpHost(settings.host_url, HOST_KEY))
    base, stop_addon = serve_in_thread(addon.mount(not_found))
    try:
        raw = cp.dumps(cp.messages_webhook(cp.text(RETAIL1, "BAL")))
        resp = requests.post(
            f"{base}/wa/webhooks/cloud",
            data=raw,
            headers={"X-Hub-Signature-256": cp.sign(settings.cloud_app_secret, raw)},
            timeout=10,
        )
        assert resp.status_code == 200
        db = SandboxDB(str(tmp_path / "late-host.sqlite3"))
        seed(db)
        _, stop_host = serve_in_thread(create_sandbox_app(db, HOST_KEY), port=port)
        try:
            graph.wait_for(1, timeout=30)
            assert graph.sent_to(RETAIL1) == [BAL_REPLY]
        finally:
            stop_host()
    finally:
        stop_addon()
        worker.terminate()
        worker.wait(10)


def test_webhook_answers_503_when_redis_is_down(stack_settings):
    settings = stack_settings.with_(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    app = Addon(settings, HttpHost(settings.host_url, HOST_KEY)).app
    raw = cp.dumps(cp.messages_webhook(cp.text(RETAIL1, "BAL")))
    client = falcon.testing.TestClient(app)
    resp = client.simulate_post(
        "/webhooks/cloud", body=raw, headers={"X-Hub-Signature-256": cp.sign(settings.cloud_app_secret, raw)}
    )
    assert resp.status_code == 503  # Meta delivers it again later
    assert resp.json["error"]["code"] == "unavailable"


def test_health_reports_redis(stack):
    assert requests.get(f"{stack.url}/health", timeout=5).json() == {"ok": True, "enabled": True}


def test_while_off_outbound_is_held_but_a_chat_gets_one_paused_answer(stack):
    from wa_addon.admin import views
    from wa_addon.messages import Outbound
    from wa_addon.queue import outbox

    stack.rt.switches.set(enabled=False)
    outbox.push(stack.rt, [Outbound(id="held-1", to="8801933333333", text="a notification", kind="notify.x")])
    stack.say(RETAIL1, "BAL")
    stack.say(RETAIL1, "BAL")  # a second chat while off: no second "paused"
    stack.graph.wait_for(1, timeout=15)
    assert stack.graph.sent_to(RETAIL1) == ["The service is paused for now. Please try again later."]
    assert stack.rt.lanes["out:cloud"].depth() == 1  # kept, not lost
    views.apply(stack.rt, {"enabled": True}, who="test")  # as the admin does: back on kicks the held outboxes
    stack.graph.wait_for(lambda sent: any(m.to == "8801933333333" for m in sent), timeout=15)
    assert stack.graph.sent_to("8801933333333") == ["a notification"]


def test_a_reply_for_an_unconfigured_transport_goes_on_the_default_one(stack):
    from wa_addon.messages import Outbound
    from wa_addon.queue import outbox

    outbox.push(stack.rt, [Outbound(id="stray-1", to=RETAIL1, text="hello")], transport="device")
    stack.graph.wait_for(1, timeout=15)
    assert stack.graph.sent_to(RETAIL1) == ["hello"]
