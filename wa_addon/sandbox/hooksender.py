"""HookSender: delivers the sandbox's events to the add-on as signed hooks.

Events wait in an in-memory queue and go out one at a time, in order, from a
background thread.  A delivery is retried with exponential backoff (and
jitter) until the add-on answers 2xx, or 409 (it already has the event).
Other 4xx answers, except 408 and 429, mean the add-on will never take the
event: it is given up and logged (event id, type, status; never the data,
which may carry a password and PIN).  Events still queued when the process
exits are lost; :meth:`HookSender.join` waits for the queue to drain.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests

from wa_addon.hooks.signing import HEADER, sign

log = logging.getLogger(__name__)

DELIVERED, RETRY, GIVE_UP = "delivered", "retry", "give_up"


def envelope(type: str, data: dict[str, Any], *, uuidgen: Callable[[], uuid.UUID] = uuid.uuid4) -> dict[str, Any]:
    """The hook envelope: ``{"id": "evt_<hex>", "type", "created_at" (ISO 8601 UTC), "data"}``."""
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {"id": f"evt_{uuidgen().hex}", "type": type, "created_at": created, "data": data}


def outcome(status: int) -> str:
    """What an HTTP status means for a delivery: delivered, retry or give up."""
    if 200 <= status < 300 or status == 409:
        return DELIVERED
    if status in (408, 429) or status >= 500:
        return RETRY
    return GIVE_UP


class HookSender:
    """Callable event sink for :class:`SandboxDB`: ``sender(type, data)`` queues a signed hook.

    Args:
        url: the add-on's hook endpoint, e.g. ``http://127.0.0.1:8000/wa/hooks``.
        secret: the shared hook secret (``WA_HOOK_SECRET``).
        session: a ``requests.Session`` to send with.
        timeout: seconds per attempt.
        base_delay: first retry delay in seconds; doubles per attempt up to ``max_delay``.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 10,
        base_delay: float = 0.5,
        max_delay: float = 60,
    ):
        self.url = url
        self._secret = secret
        self._session = session or requests.Session()
        self._timeout = timeout
        self._base_delay, self._max_delay = base_delay, max_delay
        self._queue: queue.Queue[tuple[str, str, bytes] | None] = queue.Queue()
        self._stopping = threading.Event()
        self._idle = threading.Condition()
        self._unfinished = 0
        self._thread = threading.Thread(target=self._run, name="hook-sender", daemon=True)
        self._thread.start()

    def __call__(self, type: str, data: dict[str, Any]) -> None:
        """Queue one event; returns at once."""
        event = envelope(type, data)
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        with self._idle:
            self._unfinished += 1
        self._queue.put((event["id"], type, body))

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every queued event is delivered or given up; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._unfinished == 0, timeout)

    def close(self, timeout: float = 5) -> None:
        """Stop the sender thread (undelivered events are dropped)."""
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._deliver(*item)
            finally:
                with self._idle:
                    self._unfinished -= 1
                    self._idle.notify_all()

    def _deliver(self, event_id: str, type: str, body: bytes) -> None:
        attempt = 0
        while not self._stopping.is_set():
            result = self._attempt(event_id, type, body)
            if result != RETRY:
                return
            delay = min(self._max_delay, self._base_delay * 2**attempt)
            attempt += 1
            # Jitter spreads retries so a recovering add-on is not hit by a burst.
            self._stopping.wait(delay * random.uniform(0.5, 1.0))

    def _attempt(self, event_id: str, type: str, body: bytes) -> str:
        # Signed at each attempt: a retry hours later must not carry a stale timestamp.
        headers = {"Content-Type": "application/json", HEADER: sign(self._secret, body)}
        try:
            resp = self._session.post(self.url, data=body, headers=headers, timeout=self._timeout)
        except requests.RequestException as exc:
            log.warning("hook %s (%s) not delivered: %s; will retry", event_id, type, type_name(exc))
            return RETRY
        result = outcome(resp.status_code)
        if result == GIVE_UP:
            log.error("hook %s (%s) refused with %s: %s; giving up", event_id, type, resp.status_code, resp.text[:200])
        elif result == RETRY:
            log.warning("hook %s (%s) got %s; will retry", event_id, type, resp.status_code)
        return result


def type_name(exc: BaseException) -> str:
    """The exception's class name: enough to diagnose, and free of URLs and headers."""
    return type(exc).__name__
