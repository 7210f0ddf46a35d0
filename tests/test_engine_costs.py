"""What the engine does to spend fewer Redis commands and less CPU, kept honest.

- a chat's journal and audit entries are written in the session's flush,
  once per chat even when the chat is run again after an outage;
- the chats a session starts together read their guided commands' states in
  one call, each current when its chat starts;
- the web intake records the sender's 24-hour window in its queueing script;
- the HTTP client answers and fails like the ``requests`` session it replaced
  (callers tell "never sent" from "maybe sent" by it);
- the shared rate's headroom and lateness keep any 1 s window at the limit.

Real Redis, the sandbox host and a real local HTTP server; nothing faked.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from conftest import DEALER1, DEALER2, RETAIL1, RETAIL2, open_chat
from helpers import drain, queued

from wa_addon import inbound, journal
from wa_addon.commands import dispatch
from wa_addon.host import HostUnavailable
from wa_addon.host.http import HttpHost, _never_sent
from wa_addon.httpclient import KeepAlive
from wa_addon.messages import Inbound
from wa_addon.queue.lanes import Scripts
from wa_addon.queue.rate import SharedRate
from wa_addon.runtime import Runtime
from wa_addon.store import Keys
from wa_addon.transports.window import ServiceWindow

# -- journal and audit -------------------------------------------------------------


def test_deferred_journal_writes_wait_for_the_flush_and_keep_their_order(conn, namespace):
    keys = Keys(namespace)
    writes: journal.Writes = []
    with journal.deferred(writes):
        journal.log_messages(conn, keys, "in", [{"id": "a"}])
        journal.audit(conn, keys, {"command": "BAL"})
        journal.log_messages(conn, keys, "in", [{"id": "b"}])
    assert conn.llen(keys.log("in")) == 0 and conn.llen(keys.audit) == 0  # nothing sent yet
    pipe = conn.pipeline(transaction=False)
    journal.write(pipe, writes)
    assert len(pipe) == 2  # one LPUSH per journal
    pipe.execute()
    assert [e["id"] for e in journal.recent(conn, keys.log("in"))] == ["b", "a"]  # newest first, as before
    assert [e["command"] for e in journal.recent(conn, keys.audit)] == ["BAL"]
    journal.log_messages(conn, keys, "in", [{"id": "c"}])  # outside the block: written at once
    assert journal.recent(conn, keys.log("in"))[0]["id"] == "c"


def test_a_chat_run_again_after_a_host_outage_is_journaled_and_audited_once(redis_url, namespace, sandbox, monkeypatch):
    monkeypatch.setattr("wa_addon.queue.settle.HOST_RETRY", 0.1)
    real, calls = dispatch._handle, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise HostUnavailable("the host went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(dispatch, "_handle", flaky)
    for chat in open_chat(redis_url, namespace, sandbox):
        rt = Runtime(chat.rt.settings, chat.host)  # with the cloud outbox
        msg = Inbound("cloud", f"wamid.{uuid.uuid4().hex}", RETAIL1, "BAL")
        inbound.Intake(rt).submit([msg], [])
        assert drain(rt, classes=("lo",)) == 1
        assert len(calls) == 2  # run twice...
        ins = [e for e in journal.recent(rt.conn, rt.keys.log("in")) if e["id"] == msg.dedupe_id]
        audits = [e for e in journal.recent(rt.conn, rt.keys.audit) if e.get("msg") == msg.dedupe_id]
        assert len(ins) == 1 and len(audits) == 1  # ...journaled and audited once
        rt.close()


class CountingReads:
    """A Redis connection that notes its GET and MGET calls."""

    def __init__(self, conn):
        self.conn, self.calls = conn, []

    def __getattr__(self, name):
        found = getattr(self.conn, name)
        if name not in ("get", "mget"):
            return found

        def noted(*args, **kwargs):
            self.calls.append(name)
            return found(*args, **kwargs)

        return noted


def test_chats_started_together_read_their_guides_in_one_call_each_current_at_its_start(redis_url, namespace, sandbox):
    for chat in open_chat(redis_url, namespace, sandbox):
        rt = Runtime(chat.rt.settings, chat.host)  # with the cloud outbox
        guides = rt.command_kit.guides
        guides.conn = reads = CountingReads(guides.conn)
        texts = [(RETAIL1, "FL"), (RETAIL1, "01712345678"), (DEALER1, "BAL"), (DEALER2, "BAL"), (RETAIL2, "BAL")]
        sent = [Inbound("cloud", f"wamid.{uuid.uuid4().hex}", who, text) for who, text in texts]
        inbound.Intake(rt).submit(sent, [])
        assert drain(rt, classes=("lo",)) == 5
        replies = [m.text for m in queued(rt, "out:cloud") if m.to == RETAIL1]
        # The number was read as the FL's answer: its chat read the guide FL had saved, not one read before.
        assert [r.split("\n")[0] for r in replies] == ["FL · 1/3", "FL · 2/3"]
        assert "get" not in reads.calls  # no chat asked Redis on its own
        assert 1 <= reads.calls.count("mget") <= 2  # the first four chats at once; RETAIL1's number after its FL
        rt.close()


def test_the_intake_records_the_senders_window_with_their_messages(redis_url, namespace, sandbox):
    for chat in open_chat(redis_url, namespace, sandbox):
        rt = chat.rt
        windows = ServiceWindow(rt.conn, rt.keys, "12345")
        msg = Inbound("cloud", f"wamid.{uuid.uuid4().hex}", RETAIL1, "BAL", timestamp=int(time.time()) - 60)
        phone = Inbound("device", f"dev.{uuid.uuid4().hex}", "8801700000009", "BAL")
        inbound.Intake(rt, windows).submit([msg, phone], [])
        assert windows.closed([RETAIL1, "8801700000009"]) == {"8801700000009"}  # a phone's chat opens none
        assert 24 * 3600 - 120 < rt.conn.ttl(windows.key(RETAIL1)) <= 24 * 3600 - 60
        assert rt.lanes["in"].depth() == 2


# -- the HTTP client ---------------------------------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(1.0)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = 418 if self.path.startswith("/teapot") else 200
        out = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "body": body.decode(),
                "type": self.headers.get("Content-Type"),
                "auth": self.headers.get("Authorization"),
            }
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "7")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # /slow: the client gave up first, as meant
            self.wfile.write(out.encode())

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_client_sends_json_params_and_headers_and_reads_the_answer(echo):
    client = KeepAlive(4)
    resp = client.request(
        "GET", f"{echo}/x", params={"a": "1 2", "b": "৳"}, headers={"Authorization": "Bearer k"}, timeout=5
    )
    assert resp.ok and resp.status_code == 200
    got = resp.json()
    assert got["path"] == "/x?a=1+2&b=%E0%A7%B3" and got["auth"] == "Bearer k"
    sent = client.post(f"{echo}/teapot", json={"to": "8801", "n": 1}, timeout=5)
    assert (sent.status_code, sent.ok, sent.headers.get("retry-after")) == (418, False, "7")
    assert json.loads(sent.json()["body"]) == {"to": "8801", "n": 1}
    assert sent.json()["type"] == "application/json"
    client.close()


def test_the_client_fails_like_requests_never_sent_apart_from_maybe_sent(echo):
    client = KeepAlive(2)
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(requests.ConnectionError) as refused:
        client.request("GET", f"http://127.0.0.1:{closed}/", timeout=2)
    with pytest.raises(requests.ReadTimeout):
        client.request("GET", f"{echo}/slow", timeout=0.2)
    with pytest.raises(requests.ReadTimeout):  # (connect, read), as the Cloud transport gives it
        client.post(f"{echo}/slow", json={}, timeout=(2.0, 0.2))
    assert client.post(f"{echo}/x", json={}, timeout=(2.0, 5.0)).ok
    # The host client tells a refused money move (never sent) from a timed-out one (maybe moved).
    assert _never_sent(refused.value)
    with pytest.raises(HostUnavailable):
        HttpHost(f"http://127.0.0.1:{closed}", "k", timeout=2).find_reseller(phone=RETAIL1)


# -- the shared rate ---------------------------------------------------------------------


@pytest.mark.parametrize("limit", [40, 80, 250, 1000])
def test_slots_and_lateness_keep_any_second_at_the_limit(conn, namespace, limit):
    rate = SharedRate(Scripts(conn), Keys(namespace), "n", limit)
    # Starts come from slots 1/interval apart, each at most ``late`` after its slot: a 1 s window
    # holds the slots of 1 + late seconds, plus one; one message below the limit is left for the
    # way to Meta, which counts at its end.
    assert (1 + rate.late) / rate.interval + 1 <= limit - 1 + 1e-9
    slots = rate.reserve(5)
    assert all(abs(b - a - rate.interval) < 1e-6 for a, b in itertools.pairwise(slots))
