"""The HTTP client the add-on keeps to the host and to the Graph API.

A thin keep-alive client on urllib3's pool (which ``requests`` itself sits
on), answering like a ``requests.Session`` for the calls the add-on makes
(``request``, ``post``, ``close``; a response with ``status_code``, ``ok``,
``headers``, ``content``, ``text``, ``json()``) and raising ``requests``'
exceptions, so callers and tests may pass a ``requests.Session`` instead
(a deployment behind a proxy does).  Why not ``requests`` itself: a
profile of the worker put a third of its time in ``requests``, most of it
preparing each call (merging settings, cookies and hooks, re-parsing the
URL) for a client that always calls the same two servers.

Semantics kept from the ``requests`` session it replaces: connections kept
alive (up to ``connections`` per server), a timeout of seconds for connect
and read or a (connect, read) pair, no retries (a call that fails is the caller's to retry: a money move must
not be repeated behind its back), redirects not followed, and proxy
variables of the environment ignored (``trust_env=False``).
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

import requests
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

_NO_RETRY = urllib3.Retry(0, read=False, redirect=False)  # what a requests session does by default


# Seconds, like requests: one for connecting and reading, or (connect, read).
Timeout = float | tuple[float, float] | None


def _timeout(timeout: Timeout) -> urllib3.Timeout:
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    return urllib3.Timeout(connect=connect, read=read)


class Response:
    """The parts of ``requests.Response`` the add-on reads."""

    def __init__(self, status: int, headers: Mapping[str, str], content: bytes):
        self.status_code, self.headers, self.content = status, headers, content

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; raises ValueError (like requests) when it is not."""
        return jsonlib.loads(self.content)


class Client(Protocol):
    """What the host and Cloud clients call: :class:`KeepAlive`, or a ``requests.Session``."""

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
    ) -> Any: ...

    def post(
        self, url: str, *, headers: Mapping[str, str] | None = None, json: Any = None, timeout: Timeout = None
    ) -> Any: ...

    def close(self) -> None: ...


class KeepAlive:
    """Keep-alive HTTP calls on one urllib3 pool manager.

    Args:
        connections: connections kept alive per server (callers run calls
            from that many threads at once).
    """

    def __init__(self, connections: int = 10):
        self._pool = urllib3.PoolManager(num_pools=4, maxsize=max(10, connections), retries=_NO_RETRY)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout: Timeout = None,
        body: bytes | None = None,
    ) -> Response:
        """One call (a ``json`` body, or raw ``body`` bytes); raises ``requests.Timeout`` /
        ``requests.ConnectionError`` like a requests session."""
        sent = dict(headers or {})
        if json is not None:
            body = jsonlib.dumps(json, allow_nan=False).encode()
            sent["Content-Type"] = "application/json"
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params, doseq=True)}"
        try:
            resp = self._pool.request(method, url, body=body, headers=sent, redirect=False, timeout=_timeout(timeout))
        except MaxRetryError as exc:  # retries are off: this wraps the one failure
            raise _as_requests_error(exc.reason or exc, exc) from None
        except HTTPError as exc:
            raise _as_requests_error(exc, exc) from None
        return Response(resp.status, resp.headers, resp.data)

    def post(
        self, url: str, *, headers: Mapping[str, str] | None = None, json: Any = None, timeout: Timeout = None
    ) -> Response:
        return self.request("POST", url, headers=headers, json=json, timeout=timeout)

    def close(self) -> None:
        self._pool.clear()


def _as_requests_error(reason: BaseException, exc: BaseException) -> requests.RequestException:
    """The exception a requests session raises for the same failure (its adapter's mapping)."""
    if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
        return requests.ConnectTimeout(exc)
    if isinstance(reason, ReadTimeoutError):
        return requests.ReadTimeout(exc)
    if isinstance(reason, ProtocolError | OSError | HTTPError):
        # ``args[0].reason`` is what callers look at (a NewConnectionError: the call never left).
        return requests.ConnectionError(exc)
    return requests.RequestException(exc)


def keepalive_session(connections: int = 10) -> KeepAlive:
    """A client keeping up to ``connections`` connections alive per server, ignoring proxy variables."""
    return KeepAlive(connections)
