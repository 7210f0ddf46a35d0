"""The one error answer: Falcon's own errors, ours, and Redis unreachable, all in the same body."""

from __future__ import annotations

import falcon
import falcon.testing
import pytest
import redis

from wa_addon import http_errors
from wa_addon.http_errors import ApiError
from wa_addon.store import StoreUnavailable


class _Things:
    def __init__(self, fail: Exception | None = None):
        self.fail = fail

    def on_get(self, req, resp):
        if self.fail is not None:
            raise self.fail
        resp.media = {"ok": True}


def _client(fail: Exception | None = None) -> falcon.testing.TestClient:
    app = http_errors.install(falcon.App())
    app.add_route("/things", _Things(fail))
    return falcon.testing.TestClient(app)


def test_falcons_own_errors_get_a_code_without_the_status_number():
    c = _client()
    missing = c.simulate_get("/nowhere")
    assert missing.status_code == 404 and missing.json["error"] == {"code": "not_found", "message": "Not Found"}
    wrong = c.simulate_post("/things")
    assert wrong.status_code == 405 and wrong.json["error"]["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]


def test_our_errors_keep_their_code_message_and_headers():
    resp = _client(ApiError(falcon.HTTP_429, "throttled", "wait", {"Retry-After": "60"})).simulate_get("/things")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "60"
    assert resp.json == {"error": {"code": "throttled", "message": "wait"}}


@pytest.mark.parametrize(
    "down",
    [StoreUnavailable("gone"), redis.exceptions.ConnectionError("refused"), redis.exceptions.TimeoutError("slow")],
)
def test_redis_unreachable_anywhere_is_a_503_to_retry(down):
    resp = _client(down).simulate_get("/things")
    assert resp.status_code == 503 and resp.json["error"]["code"] == "unavailable"


def test_a_body_over_the_limit_is_not_read():
    class Echo:
        def on_post(self, req, resp):
            resp.media = {"got": len(http_errors.read_body(req, 10))}

    app = http_errors.install(falcon.App())
    app.add_route("/echo", Echo())
    c = falcon.testing.TestClient(app)
    assert c.simulate_post("/echo", body=b"x" * 10).json == {"got": 10}
    too_big = c.simulate_post("/echo", body=b"x" * 11)
    assert too_big.status_code == 413 and too_big.json["error"]["code"] == "too_large"
