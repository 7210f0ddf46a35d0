"""Serve a WSGI app on a loopback port from a background thread.

Used by the tests and the demo to run the real apps over real HTTP::

    base_url, stop = serve_in_thread(app)
    try:
        requests.get(base_url + "/api/v1/services")
    finally:
        stop()

or ``with WSGIServerThread(app) as base_url: ...``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # Each request in its own thread, so concurrent clients really overlap.
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request access lines (tests and the demo would drown in them)."""


def serve_in_thread(app: Callable[..., Any], host: str = "127.0.0.1", port: int = 0) -> tuple[str, Callable[[], None]]:
    """Start serving ``app``; returns ``(base_url, stop)``.

    Args:
        app: any WSGI application.
        host: interface to bind; loopback by default.
        port: 0 picks a free port.

    Returns:
        The base URL (``http://127.0.0.1:<port>``) and a function that stops the
        server and waits for its thread.
    """
    server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    # A short poll interval makes stop() quick (shutdown waits for the next poll).
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=f"wsgi-{server.server_port}", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return f"http://{host}:{server.server_port}", stop


class WSGIServerThread:
    """Context manager form of :func:`serve_in_thread`; ``__enter__`` returns the base URL."""

    def __init__(self, app: Callable[..., Any], host: str = "127.0.0.1", port: int = 0):
        self._app, self._host, self._port = app, host, port
        self._stop: Callable[[], None] | None = None
        self.base_url = ""

    def __enter__(self) -> str:
        self.base_url, self._stop = serve_in_thread(self._app, self._host, self._port)
        return self.base_url

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._stop()
