"""`wa-addon serve` (gunicorn) and `wa-addon worker` as separate processes, as deployed."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests
from conftest import settings_env

from wa_addon.redis_server import free_port
from wa_addon.testing import cloud_payloads as cp


@pytest.fixture
def served(stack_settings, worker):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wa_addon.cli", "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=settings_env(stack_settings),
    )
    url = f"http://127.0.0.1:{port}{stack_settings.prefix}"
    try:
        _wait_healthy(url)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # gunicorn has no readiness signal to await
        try:
            if requests.get(f"{url}/health", timeout=5).ok:
                return
        except requests.RequestException:  # not listening yet, or the worker still importing
            time.sleep(0.1)
    raise TimeoutError(f"{url}/health did not answer")


def test_bal_through_gunicorn(served, stack_settings, graph):
    raw = cp.dumps(cp.messages_webhook(cp.text("8801822222222", "BAL")))
    resp = requests.post(
        f"{served}/webhooks/cloud",
        data=raw,
        timeout=10,
        headers={"X-Hub-Signature-256": cp.sign(stack_settings.cloud_app_secret, raw)},
    )
    assert resp.status_code == 200
    graph.wait_for(1, timeout=20)
    assert graph.sent_to("8801822222222") == ["Karim Store: balance ৳2,500"]


def test_outside_the_prefix_is_a_json_404(served):
    resp = requests.get(served.removesuffix("/wa") + "/elsewhere", timeout=5)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
