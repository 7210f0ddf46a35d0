"""A fake Meta Graph API: a real HTTP server on loopback, for end-to-end tests.

Point ``WA_CLOUD_GRAPH_URL`` at :attr:`FakeGraph.url`; every
``POST /{version}/{phone_number_id}/messages`` is recorded and answered the
way Meta answers, or with a programmed failure (and
``POST /{version}/{waba_id}/message_templates`` files templates in
:attr:`FakeGraph.templates`)::

    with FakeGraph(token="t0k") as graph:
        graph.fail_next(1, 131056)              # one pair-rate error first
        ...                                      # run the sender
        graph.wait_for(2)                        # no sleeping
        assert graph.sent_to("8801711000001") == ["..."]
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from wa_addon.testing.fake_templates import TemplateStore

_MESSAGES_PATH = re.compile(r"/(v\d+(?:\.\d+)?)/([^/]+)/messages")
_TEMPLATES_PATH = re.compile(r"/(v\d+(?:\.\d+)?)/([^/]+)/message_templates")
_NUMBER_PATH = re.compile(r"/(v\d+(?:\.\d+)?)/([^/]+)")

# Titles Meta puts in error messages, for realistic bodies.
ERROR_TITLES = {
    4: "Application request limit reached",
    100: "Invalid parameter",
    190: "Invalid OAuth access token",
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131051: "Unsupported message type",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    132001: "Template name does not exist in the translation",
    133004: "Server temporarily unavailable",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received.

    Attributes:
        method: ``GET``, ``POST``, ...
        path: the request path (no query string).
        headers: the request headers.
        json: the parsed JSON body, or None.
        status: the HTTP status the fake answered.
        peer: the client's (host, port): equal ports mean a reused connection.
    """

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    status: int
    peer: tuple[str, int] = ("", 0)


@dataclass(frozen=True)
class SentMessage:
    """A message the fake accepted: what a phone would have received."""

    wa_msg_id: str
    to: str
    type: str
    text: str
    template: str | None = None
    params: list[str] = field(default_factory=list)
    language: str | None = None
    choices: list[dict[str, str]] = field(default_factory=list)  # buttons or list rows: id, title, description


@dataclass
class _Failure:
    code: int
    http_status: int
    retry_after: float | None
    remaining: int | None  # None: until cleared


class FakeGraph:
    """The fake Graph API server.

    Args:
        token: the access token to demand (code 190 when wrong); None accepts any.
        phone_number_id: the only phone number id accepted; None accepts any.
    """

    def __init__(self, token: str | None = None, phone_number_id: str | None = None) -> None:
        self.token = token
        self.phone_number_id = phone_number_id
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._sent: list[SentMessage] = []
        self._next: list[_Failure] = []
        self._per_recipient: dict[str, _Failure] = {}
        self._slow: list[float] = []  # delays of the next sends' answers, in order
        self._ids = itertools.count(1)
        self.templates = TemplateStore()  # what POST /{version}/{waba_id}/message_templates filed
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:PORT`` (use as the graph URL)."""
        if self._server is None:
            raise RuntimeError("FakeGraph is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> FakeGraph:
        """Start serving on a free loopback port, in a daemon thread."""
        handler = type("Handler", (_Handler,), {"graph": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # A short poll interval: stop() waits up to one interval for the loop to notice.
        serve = functools.partial(self._server.serve_forever, poll_interval=0.02)
        self._thread = threading.Thread(target=serve, name="fake-graph", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeGraph:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- programming failures ------------------------------------------------

    def fail_next(self, n: int, code: int, http_status: int = 400, retry_after: float | None = None) -> None:
        """Answer the next ``n`` send requests with Meta error ``code``."""
        if n <= 0:
            return
        with self._cond:
            self._next.append(_Failure(code, http_status, retry_after, n))

    def fail_for(
        self,
        recipient: str,
        code: int,
        http_status: int = 400,
        retry_after: float | None = None,
        times: int | None = None,
    ) -> None:
        """Answer sends to ``recipient`` with ``code``, ``times`` times or until cleared."""
        with self._cond:
            self._per_recipient[recipient] = _Failure(code, http_status, retry_after, times)

    def slow_next(self, n: int, seconds: float) -> None:
        """Accept the next ``n`` sends (they count as sent, as Meta would) but answer each ``seconds`` late:
        a sender whose timeout is shorter sees a timeout for a message that went out."""
        with self._cond:
            self._slow.extend([seconds] * n)

    def clear_failures(self) -> None:
        """Forget every programmed failure."""
        with self._cond:
            self._next.clear()
            self._per_recipient.clear()
            self._slow.clear()

    def reset(self) -> None:
        """Forget requests, sent messages and failures."""
        with self._cond:
            self._requests.clear()
            self._sent.clear()
            self._next.clear()
            self._per_recipient.clear()
            self._slow.clear()

    # -- inspecting ----------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a copy)."""
        with self._cond:
            return list(self._requests)

    @property
    def sent(self) -> list[SentMessage]:
        """Every message accepted so far (a copy), in order."""
        with self._cond:
            return list(self._sent)

    def sent_to(self, phone: str) -> list[str]:
        """The texts accepted for ``phone`` (templates read ``template:<name> <params>``)."""
        return [m.text for m in self.sent if m.to == phone]

    def wait_for(self, target: int | Callable[[list[SentMessage]], bool], timeout: float = 5.0) -> list[SentMessage]:
        """Block until ``target`` messages were accepted, or ``target(sent)`` is true.

        Raises:
            TimeoutError: not reached within ``timeout`` seconds.
        """
        check = target if callable(target) else (lambda sent: len(sent) >= target)
        with self._cond:
            if not self._cond.wait_for(lambda: check(list(self._sent)), timeout=timeout):
                raise TimeoutError(f"FakeGraph: {len(self._sent)} messages sent, wanted {target!r}")
            return list(self._sent)

    # -- answering (called by the handler threads) ---------------------------

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: Any, peer: tuple[str, int]
    ) -> tuple[int, dict, dict]:
        status, extra, payload = self._route(method, path, headers, body)
        with self._cond:
            self._requests.append(RecordedRequest(method, path, headers, body, status, peer))
            self._cond.notify_all()
            delay = self._slow.pop(0) if self._slow and _MESSAGES_PATH.fullmatch(path) else 0.0
        time.sleep(delay)
        return status, extra, payload

    def _route(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, dict, dict]:
        number = _NUMBER_PATH.fullmatch(path)
        if method == "GET" and number is not None:
            return self._number(number.group(2), headers)
        filing = _TEMPLATES_PATH.fullmatch(path)
        if method == "POST" and filing is not None:
            return self._file_template(filing.group(2), headers, body)
        match = _MESSAGES_PATH.fullmatch(path)
        if method != "POST" or match is None:
            return 404, {}, _error_body(100, "Unknown path components", "GraphMethodException")
        if self.phone_number_id is not None and match.group(2) != self.phone_number_id:
            return 400, {}, _error_body(100, "Object with this phone number id does not exist")
        if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
            return 401, {}, _error_body(190, ERROR_TITLES[190])
        problem = _invalid(body)
        if problem:
            return 400, {}, _error_body(100, problem)
        return self._deliver(body)

    def _file_template(self, waba_id: str, headers: dict[str, str], body: Any) -> tuple[int, dict, dict]:
        if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
            return 401, {}, _error_body(190, ERROR_TITLES[190])
        status, payload = self.templates.create(waba_id, body)
        return status, {}, payload

    def _number(self, phone_number_id: str, headers: dict[str, str]) -> tuple[int, dict, dict]:
        """``GET /{version}/{phone_number_id}``: the number's profile, as ``wa-addon doctor`` reads it."""
        if self.phone_number_id is not None and phone_number_id != self.phone_number_id:
            return 400, {}, _error_body(100, "Object with this phone number id does not exist")
        if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
            return 401, {}, _error_body(190, ERROR_TITLES[190])
        return (
            200,
            {},
            {
                "id": phone_number_id,
                "display_phone_number": "+880 1700-000000",
                "verified_name": "Fake Graph",
                "quality_rating": "GREEN",
            },
        )

    def _deliver(self, body: dict[str, Any]) -> tuple[int, dict, dict]:
        recipient = str(body.get("to") or body.get("recipient"))
        with self._cond:
            failure = self._take_failure(recipient)
            if failure is None:
                sent = _sent_message(f"wamid.FAKE{next(self._ids):06d}{uuid.uuid4().hex[:12]}", body)
                self._sent.append(sent)
        if failure is not None:
            extra = {} if failure.retry_after is None else {"Retry-After": f"{failure.retry_after:g}"}
            return (
                failure.http_status,
                extra,
                _error_body(failure.code, ERROR_TITLES.get(failure.code, "Error")),
            )
        key = "wa_id" if "to" in body else "user_id"
        reply = {"messaging_product": "whatsapp", "contacts": [{"input": recipient, key: recipient}]}
        return 200, {}, {**reply, "messages": [{"id": sent.wa_msg_id}]}

    def _take_failure(self, recipient: str) -> _Failure | None:
        failure = self._per_recipient.get(recipient)
        source = "recipient" if failure else "next"
        failure = failure or (self._next[0] if self._next else None)
        if failure is None or failure.remaining is None:
            return failure
        failure.remaining -= 1
        if failure.remaining <= 0:
            if source == "recipient":
                del self._per_recipient[recipient]
            else:
                self._next.pop(0)
        return failure


def _invalid(body: Any) -> str:
    """Why a send body is not one Meta would accept ("" if it is fine)."""
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return "messaging_product must be whatsapp"
    if not (body.get("to") or body.get("recipient")):
        return "The parameter to is required."
    kind = body.get("type", "text")
    if kind == "text" and not (body.get("text") or {}).get("body"):
        return "The parameter text['body'] is required."
    if kind == "template" and not (body.get("template") or {}).get("name"):
        return "The parameter template['name'] is required."
    if kind == "interactive":
        return _invalid_interactive(body.get("interactive"))
    if kind not in ("text", "template"):
        return f"the fake does not accept type {kind}"
    return ""


def _invalid_interactive(obj: Any) -> str:
    """Meta's limits on reply buttons and list messages ("" if within them)."""
    if not isinstance(obj, dict) or not (obj.get("body") or {}).get("text"):
        return "The parameter interactive['body']['text'] is required."
    if len(obj["body"]["text"]) > 1024:
        return "interactive body text is longer than 1024 characters"
    action = obj.get("action") or {}
    if obj.get("type") == "button":
        buttons = action.get("buttons") or []
        titles = [b.get("reply", {}).get("title", "") for b in buttons]
        ids = [b.get("reply", {}).get("id", "") for b in buttons]
        if not 1 <= len(buttons) <= 3 or not all(0 < len(t) <= 20 for t in titles):
            return "1 to 3 buttons, each title 1 to 20 characters"
        if not all(0 < len(i) <= 256 for i in ids) or len(set(ids)) < len(ids) or len(set(titles)) < len(titles):
            return "button ids of 1 to 256 characters; ids and titles unique within the message"
        return ""
    if obj.get("type") == "list":
        sections = action.get("sections") or []
        rows = [r for s in sections for r in s.get("rows") or []]
        if not 0 < len(action.get("button", "")) <= 20 or not 1 <= len(rows) <= 10:
            return "a list button label of 1 to 20 characters and 1 to 10 rows"
        if not all(0 < len(r.get("title", "")) <= 24 and len(r.get("description", "")) <= 72 for r in rows):
            return "list row titles of 1 to 24 characters, descriptions of at most 72"
        ids = [r.get("id", "") for r in rows]
        if not all(0 < len(i) <= 200 for i in ids) or len(set(ids)) < len(ids):
            return "row ids of 1 to 200 characters, unique within the message"
        if not 1 <= len(sections) <= 10 or not all(len(s.get("title", "")) <= 24 for s in sections):
            return "1 to 10 sections, titles of at most 24 characters"
        return ""
    return f"the fake does not accept interactive type {obj.get('type')}"


def _sent_message(wa_msg_id: str, body: dict[str, Any]) -> SentMessage:
    to = str(body.get("to") or body.get("recipient"))
    if body.get("type") == "template":
        template = body["template"]
        bodies = [c for c in template.get("components", []) if c.get("type") == "body"]  # not the buttons'
        params = [p.get("text", "") for c in bodies for p in c.get("parameters", [])]
        text = " ".join([f"template:{template['name']}", *params])
        language = (template.get("language") or {}).get("code")
        return SentMessage(wa_msg_id, to, "template", text, template["name"], params, language)
    if body.get("type") == "interactive":
        obj = body["interactive"]
        action = obj["action"]
        items = [b["reply"] for b in action.get("buttons", [])] or [
            r for s in action.get("sections", []) for r in s["rows"]
        ]
        return SentMessage(wa_msg_id, to, "interactive", obj["body"]["text"], choices=items)
    return SentMessage(wa_msg_id, to, "text", body["text"]["body"])


def _error_body(code: int, title: str, kind: str = "OAuthException") -> dict[str, Any]:
    return {
        "error": {
            "message": f"(#{code}) {title}",
            "type": kind,
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": title},
            "fbtrace_id": "A" + uuid.uuid4().hex[:22],
        }
    }


class _Handler(BaseHTTPRequestHandler):
    graph: FakeGraph
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is exercised
    disable_nagle_algorithm = True  # headers and body go in separate writes

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = self.path.split("?", 1)[0]
        status, extra, payload = self.graph._answer(self.command, path, headers, body, self.client_address[:2])
        data = json.dumps(payload).encode()
        with contextlib.suppress(ConnectionError):  # the sender timed out (see slow_next) or died
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean
