"""An HTTP proxy that spoils the host's answers on purpose: the faults a money move must survive.

It forwards each request to the real upstream (the sandbox host), so the
money really moves, and then answers the caller with one of:

- ``empty``: ``200`` and no body;
- ``cut``: the status line and headers, half the body, then the connection closes;
- ``garbled``: ``200`` with a body that is not JSON;
- ``drop``: nothing at all, the connection closes after the request was sent;
- ``slow``: the true answer, :attr:`FaultyProxy.slow_seconds` (2 s) late.

Used by the tests and the chaos suite::

    with FaultyProxy(sandbox_url) as proxy:
        proxy.spoil("cut", path="/api/v1/requests", times=1)
        HttpHost(proxy.url, key).create_request(...)
"""

from __future__ import annotations

import contextlib
import http.client
import socketserver
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

FAULTS = ("empty", "cut", "garbled", "drop", "slow")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class _Plan:
    fault: str
    method: str
    path: str
    times: int


class FaultyProxy:
    """A loopback proxy in front of ``upstream``; ``spoil()`` arms a fault for the next matching calls."""

    def __init__(self, upstream: str, slow_seconds: float = 2.0):
        self.slow_seconds = slow_seconds
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._plans: list[_Plan] = []
        self._lock = threading.Lock()
        self.forwarded: list[tuple[str, str, str]] = []  # (method, path, fault or "")
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def spoil(self, fault: str, *, path: str, method: str = "POST", times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` to a path starting with ``path`` with ``fault``."""
        assert fault in FAULTS, fault
        with self._lock:
            self._plans.append(_Plan(fault, method, path, times))

    def _take(self, method: str, path: str) -> str:
        with self._lock:
            for plan in self._plans:
                if plan.times > 0 and plan.method == method and path.startswith(plan.path):
                    plan.times -= 1
                    self.forwarded.append((method, path, plan.fault))
                    return plan.fault
            self.forwarded.append((method, path, ""))
            return ""

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        """One request to the upstream; its status, headers and body."""
        conn = http.client.HTTPConnection(*self._upstream, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP], resp.read()
        finally:
            conn.close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultyProxy


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        line = self.rfile.readline().decode("latin-1").split()
        if len(line) < 2:
            return
        method, path = line[0], line[1]
        headers = _headers(self.rfile)
        body = self.rfile.read(int(headers.get("content-length", "0") or 0))
        proxy = self.server.proxy
        fault = proxy._take(method, path)
        if fault == "slow":
            time.sleep(proxy.slow_seconds)
        headers = {k: v for k, v in headers.items() if k not in _HOP}
        status, out_headers, payload = proxy.forward(method, path, headers, body)
        self.wfile.write(_spoiled(fault, status, out_headers, payload))
        self.wfile.flush()

    def finish(self) -> None:
        with contextlib.suppress(OSError):  # the client went away; nothing to tell it
            super().finish()


def _headers(rfile: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    while True:
        line = rfile.readline().decode("latin-1")
        if line in ("\r\n", "\n", ""):
            return headers
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()


def _spoiled(fault: str, status: int, headers: list, body: bytes) -> bytes:
    if fault == "drop":
        return b""
    if fault == "empty":
        status, body = 200, b""
    elif fault == "garbled":
        status, body = 200, b"<html>Bad Gateway</html>"
    head = f"HTTP/1.1 {status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    if fault == "cut":
        body = body[: len(body) // 2]  # Content-Length promises more than comes
    return head.encode("latin-1") + body
