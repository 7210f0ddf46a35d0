"""CloudTransport against the fake Graph API, over real HTTP on loopback."""

from __future__ import annotations

import json
import socket

import pytest
import requests

from wa_addon.messages import Outbound
from wa_addon.settings import Settings
from wa_addon.testing.fake_graph import FakeGraph
from wa_addon.transports.base import FAILED, REENGAGE, RETRY, SENT, Transport
from wa_addon.transports.cloud import (
    AUTH_BACKOFF,
    SUPPORTED_ERROR_CODES,
    CloudTransport,
    build_body,
    classify_error,
    retry_after_seconds,
)

TOKEN = "EAAG-secret-token-value"
PHONE_ID = "106540352242922"
TO = "8801711000001"


@pytest.fixture
def graph():
    with FakeGraph(token=TOKEN, phone_number_id=PHONE_ID) as fake:
        yield fake


def _settings(url: str, **changes) -> Settings:
    base = Settings(cloud_graph_url=url, cloud_token=TOKEN, cloud_phone_number_id=PHONE_ID, cloud_timeout=2.0)
    return base.with_(**changes)


@pytest.fixture
def transport(graph):
    cloud = CloudTransport(_settings(graph.url))
    yield cloud
    cloud.close()


def _msg(text="আপনার ব্যালেন্স ৫০০ টাকা", **kw) -> Outbound:
    return Outbound(id="m1", to=TO, text=text, **kw)


def test_is_a_transport(transport):
    assert isinstance(transport, Transport) and transport.name == "cloud"


def test_text_success(graph, transport):
    result = transport.send(_msg())
    assert result.outcome == SENT and result.ok
    assert result.wa_msg_id == graph.sent[0].wa_msg_id and result.wa_msg_id.startswith("wamid.")
    [req] = graph.requests
    assert req.path == f"/v26.0/{PHONE_ID}/messages"  # the default: Meta's newest version
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "text",
        "text": {"preview_url": False, "body": "আপনার ব্যালেন্স ৫০০ টাকা"},
    }
    assert graph.sent_to(TO) == ["আপনার ব্যালেন্স ৫০০ টাকা"]


def test_template_body_shape(graph, transport):
    msg = _msg(mode="template", template="balance_added", params=["500", "1500"], language="bn")
    assert transport.send(msg).outcome == SENT
    assert graph.requests[0].json["template"] == {
        "name": "balance_added",
        "language": {"code": "bn"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "500"}, {"type": "text", "text": "1500"}],
            }
        ],
    }
    assert graph.requests[0].json["type"] == "template"
    assert graph.sent[0].language == "bn"
    assert graph.sent_to(TO) == ["template:balance_added 500 1500"]


def test_template_without_params_has_no_components():
    body = build_body(_msg(mode="template", template="hello", language="en"))
    assert body["template"] == {"name": "hello", "language": {"code": "en"}}


def test_template_mode_without_name_fails_without_a_request(graph, transport):
    result = transport.send(_msg(mode="template"))
    assert result.outcome == FAILED and graph.requests == []


def test_bsuid_goes_in_recipient(graph, transport):
    assert transport.send(Outbound(id="m", to="BD.13491208655302741918", text="hi")).outcome == SENT
    body = graph.requests[0].json
    assert body["recipient"] == "BD.13491208655302741918" and "to" not in body


def test_batch_reuses_one_connection(graph, transport):
    for n in range(5):
        assert transport.send(_msg(text=f"n{n}")).outcome == SENT
    assert len({r.peer for r in graph.requests}) == 1
    assert graph.wait_for(5, timeout=1)[-1].text == "n4"


@pytest.mark.parametrize(
    ("code", "http_status", "outcome", "retry_after"),
    [
        (130429, 429, RETRY, 2.0),
        (131056, 400, RETRY, 6.0),
        (4, 400, RETRY, 60.0),
        (80007, 400, RETRY, 60.0),
        (131000, 500, RETRY, 10.0),
        (133004, 503, RETRY, 30.0),
        (1, 500, RETRY, 30.0),
        (2, 503, RETRY, 30.0),
        (131048, 400, RETRY, 300.0),
        (131047, 400, REENGAGE, None),
        (100, 400, FAILED, None),
        (131026, 400, FAILED, None),
        (131051, 400, FAILED, None),
        (132000, 400, FAILED, None),
        (132001, 404, FAILED, None),
        (131009, 400, FAILED, None),
        (131062, 400, FAILED, None),
        (190, 401, RETRY, AUTH_BACKOFF),
        (10, 403, RETRY, AUTH_BACKOFF),
        (250, 403, RETRY, AUTH_BACKOFF),
        (999999, 500, RETRY, 30.0),  # unknown code, server fault
        (999999, 400, FAILED, None),  # unknown code, client fault
        (131047, 500, REENGAGE, None),  # the code wins over the HTTP status
        (100, 500, FAILED, None),
    ],
)
def test_error_classes(graph, transport, code, http_status, outcome, retry_after):
    graph.fail_next(1, code, http_status=http_status)
    result = transport.send(_msg())
    assert (result.outcome, result.retry_after, result.error_code) == (outcome, retry_after, str(code))
    assert TOKEN not in (result.error or "") and (result.error or "").startswith(f"{code}:")
    assert transport.send(_msg()).outcome == SENT  # only the next one failed


def test_retry_after_header_wins(graph, transport):
    graph.fail_next(1, 130429, http_status=429, retry_after=17)
    result = transport.send(_msg())
    assert (result.outcome, result.retry_after) == (RETRY, 17.0)


def test_wrong_token_is_a_long_retry_without_the_token(graph):
    cloud = CloudTransport(_settings(graph.url, cloud_token="EAAG-wrong-token"))
    result = cloud.send(_msg())
    cloud.close()
    assert (result.outcome, result.error_code, result.retry_after) == (RETRY, "190", AUTH_BACKOFF)
    error = result.error or ""
    assert "token" in error and "invalid" in error
    assert "EAAG-wrong-token" not in error and TOKEN not in error


def test_fail_for_one_recipient_only(graph, transport):
    graph.fail_for(TO, 131026, times=2)
    other = Outbound(id="m2", to="8801811000002", text="x")
    assert [transport.send(_msg()).outcome for _ in range(3)] == [FAILED, FAILED, SENT]
    assert transport.send(other).outcome == SENT
    assert graph.sent_to("8801811000002") == ["x"]


def test_connection_refused_is_retry():
    with FakeGraph() as gone:
        url = gone.url
    cloud = CloudTransport(_settings(url))
    result = cloud.send(_msg())
    cloud.close()
    assert (result.outcome, result.error_code) == (RETRY, "connection") and (result.retry_after or 0) > 0


def test_timeout_is_retry():
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        host, port = silent.getsockname()
        cloud = CloudTransport(_settings(f"http://{host}:{port}", cloud_timeout=0.3))
        result = cloud.send(_msg())
        cloud.close()
    assert (result.outcome, result.error_code) == (RETRY, "timeout")


def _response(status: int, content: bytes, headers=None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = content
    response.headers.update(headers or {})
    return response


class _CannedSession(requests.Session):
    def __init__(self, response):
        super().__init__()
        self.response = response

    def post(self, *args, **kwargs):
        return self.response


@pytest.mark.parametrize(
    ("status", "content", "outcome", "code"),
    [
        (502, b"<html>Bad gateway</html>", RETRY, "http_502"),
        (404, b"not found", FAILED, "http_404"),
        (200, b'{"messaging_product":"whatsapp","messages":[]}', FAILED, "no_message_id"),
        (200, b"[]", FAILED, "no_message_id"),
        (400, b'{"error":{"code":"131056","message":"pair"}}', RETRY, "131056"),
        (400, b'{"error":{"code":424242,"is_transient":true}}', RETRY, "424242"),
    ],
)
def test_odd_bodies(status, content, outcome, code):
    cloud = CloudTransport(_settings("http://unused"), session=_CannedSession(_response(status, content)))
    result = cloud.send(_msg())
    assert (result.outcome, result.error_code) == (outcome, code)


def test_token_echoed_by_meta_is_redacted():
    error = {"code": 100, "message": "bad param", "error_data": {"details": f"token {TOKEN}"}}
    content = json.dumps({"error": error}).encode()
    cloud = CloudTransport(_settings("http://unused"), session=_CannedSession(_response(400, content)))
    result = cloud.send(_msg())
    assert result.outcome == FAILED and TOKEN not in (result.error or "") and "[token]" in (result.error or "")


class _CountingSession(requests.Session):
    closed = 0

    def close(self):
        self.closed += 1
        super().close()


def test_close_closes_the_session(graph):
    session = _CountingSession()
    cloud = CloudTransport(_settings(graph.url), session=session)
    assert cloud.send(_msg()).outcome == SENT
    cloud.close()
    assert session.closed == 1


def test_classification_is_data():
    assert SUPPORTED_ERROR_CODES[131056].backoff == 6.0
    assert classify_error(None, 429).outcome == RETRY
    assert classify_error(None, 400, transient=True).outcome == RETRY


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("5", 5.0), (" 2.5 ", 2.5), ("-3", 0.0), ("soon", None)],
)
def test_retry_after_seconds(value, expected):
    assert retry_after_seconds(value) == expected


def test_retry_after_http_date():
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0


def test_fake_answers_404_for_unknown_paths(graph):
    response = requests.get(f"{graph.url}/v21.0/{PHONE_ID}/nothing", timeout=2)
    assert response.status_code == 404 and "error" in response.json()
    assert graph.requests[0].status == 404


def test_wait_for_predicate_and_timeout(graph, transport):
    transport.send(_msg(text="one"))
    assert graph.wait_for(lambda sent: sent[0].text == "one", timeout=1)
    with pytest.raises(TimeoutError):
        graph.wait_for(2, timeout=0.05)
