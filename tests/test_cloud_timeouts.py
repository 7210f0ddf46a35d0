"""A send's two timeouts (issue 10): connecting is short, waiting for Meta's answer is long.

A send that never connected never reached Meta: retrying it cannot reach the
user twice.  A send whose answer is late may have gone out: the read timeout
(``WA_CLOUD_TIMEOUT``) is what decides how often a retry duplicates one, so
it is far above the Graph's answer times (docs/reliability.md).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import requests

from wa_addon.messages import Outbound
from wa_addon.settings import Settings
from wa_addon.testing.fake_graph import FakeGraph
from wa_addon.transports import cloud
from wa_addon.transports.base import RETRY, SENT

TOKEN, PHONE_ID = "t", "106540352242922"


def _transport(url: str, **kw) -> cloud.CloudTransport:
    return cloud.CloudTransport(Settings(cloud_graph_url=url, cloud_token=TOKEN, cloud_phone_number_id=PHONE_ID, **kw))


def _msg() -> Outbound:
    return Outbound(id="m1", to="8801822222222", text="hello")


class Recording(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[object] = []

    def post(self, url, **kw):  # type: ignore[override]
        self.timeouts.append(kw.get("timeout"))
        return super().post(url, **kw)


def test_connecting_is_short_and_the_answer_may_take_the_setting():
    with FakeGraph(token=TOKEN, phone_number_id=PHONE_ID) as graph:
        session = Recording()
        sender = cloud.CloudTransport(
            Settings(cloud_graph_url=graph.url, cloud_token=TOKEN, cloud_phone_number_id=PHONE_ID), session=session
        )
        assert sender.send(_msg()).outcome == SENT
        sender.close()
    assert session.timeouts == [(cloud.CONNECT_TIMEOUT, Settings().cloud_timeout)]
    assert Settings().cloud_timeout >= 10 * cloud.CONNECT_TIMEOUT


def test_a_send_answered_late_but_within_the_read_timeout_is_sent_once():
    with FakeGraph(token=TOKEN, phone_number_id=PHONE_ID) as graph:
        graph.slow_next(1, 1.0)  # accepted, answered a second late: longer than connecting may take
        sender = _transport(graph.url, cloud_timeout=10.0)
        result = sender.send(_msg())
        sender.close()
        assert result.outcome == SENT and len(graph.sent) == 1


@pytest.fixture
def full_backlog() -> Iterator[tuple[str, int]]:
    """A listener whose accept queue is full: a new connection is never completed (the SYN is dropped)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    host, port = server.getsockname()
    waiting = []
    for _ in range(3):
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex((host, port))
        waiting.append(client)
    yield host, port
    for client in waiting:
        client.close()
    server.close()


def test_a_send_that_cannot_connect_is_told_apart_from_one_that_may_have_gone_out(full_backlog, monkeypatch):
    monkeypatch.setattr(cloud, "CONNECT_TIMEOUT", 0.3)
    host, port = full_backlog
    sender = _transport(f"http://{host}:{port}")
    result = sender.send(_msg())
    sender.close()
    assert (result.outcome, result.error_code) == (RETRY, "connect_timeout")
    assert "nothing was sent" in (result.error or "")
