"""A simulated phone for the device transport (``wa-addon device-sim``).

It speaks the protocol of ``docs/device-protocol.md`` over real HTTP: it
long-polls the outbox, "sends" each message (prints it and/or appends it to a
JSONL file), acks it, and posts inbound chats typed as ``FROM: text`` lines
(on stdin or in a script file).  Tests drive it as a class::

    phone = DeviceSim(base_url, token)
    phone.say("8801822222222", "BAL")
    phone.poll_once(wait=10)          # -> [{"id", "lease", "to", "text", ...}]
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

import requests

HTTP_SLACK = 15.0  # seconds beyond the long poll's wait before the client gives up
BACKOFF = 2.0  # seconds between tries while the server is unreachable


class DeviceSim:
    """One simulated phone.

    Args:
        url: the add-on's base URL, prefix included (``http://127.0.0.1:8080/wa``).
        token: the phone's bearer token (``wa-addon device add NAME``).
        record: a JSONL file each "sent" message is appended to.
        echo: called with a line per event (e.g. ``print``); silent when None.
        ack: ack what it sends; False plays a phone that dies holding its leases.
        session: a requests session (tests may share one).
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        record: str | Path | None = None,
        echo: Callable[[str], Any] | None = None,
        ack: bool = True,
        session: requests.Session | None = None,
    ):
        self.url = url.rstrip("/")
        self.session = session or requests.Session()
        self.headers = {"Authorization": f"Bearer {token}"}
        self.record = Path(record) if record else None
        self.echo, self.ack = echo, ack
        self.sent: list[dict[str, Any]] = []
        self.acks: list[dict[str, Any]] = []
        self._changed = threading.Condition()

    def poll_once(self, wait: float = 0, max_count: int = 10) -> list[dict[str, Any]]:
        """Long-poll once; "send" and ack what was leased.  Returns the leased messages."""
        resp = self.session.get(
            f"{self.url}/device/outbox",
            params={"wait": wait, "max": max_count},
            headers=self.headers,
            timeout=wait + HTTP_SLACK,
        )
        resp.raise_for_status()
        messages = resp.json()["messages"]
        for message in messages:
            self._send(message)
        if self.ack and messages:
            self._ack([{"lease": m["lease"], "status": "sent"} for m in messages])
        return messages

    def say(self, sender: str, text: str, msg_id: str | None = None, **extra: Any) -> dict[str, Any]:
        """Post one chat the phone "saw"; returns the server's answer."""
        item = {"id": msg_id or uuid.uuid4().hex, "from": sender, "text": text, "time": int(time.time()), **extra}
        return self.post("inbound", {"messages": [item]})

    def post(self, endpoint: str, body: Any) -> dict[str, Any]:
        """POST JSON to ``{url}/device/{endpoint}``; raises for an HTTP error."""
        resp = self.session.post(f"{self.url}/device/{endpoint}", json=body, headers=self.headers, timeout=30)
        resp.raise_for_status()
        return resp.json()  # type: ignore[no-any-return]

    def run_forever(self, stop: threading.Event, wait: float = 25) -> None:
        """Poll until ``stop`` is set (or the token is refused); rides out server restarts."""
        while not stop.is_set():
            try:
                self.poll_once(wait)
            except requests.HTTPError as exc:
                if exc.response is not None and exc.response.status_code == 401:
                    self.note("! token refused (revoked?); stopping")
                    return
                self.note(f"! HTTP {exc.response.status_code if exc.response is not None else '?'}; retrying")
                stop.wait(BACKOFF)
            except requests.RequestException as exc:
                self.note(f"! {type(exc).__name__}; retrying")
                stop.wait(BACKOFF)

    def wait_sent(self, count: int, timeout: float) -> bool:
        """Block until this phone has sent ``count`` messages (False on timeout)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.sent) >= count, timeout)

    def _send(self, message: dict[str, Any]) -> None:
        entry = {"at": round(time.time(), 3), **message}
        if self.record:
            with self.record.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.note(f"-> {message['to']}: {message['text']}")
        with self._changed:
            self.sent.append(entry)
            self._changed.notify_all()

    def _ack(self, acks: list[dict[str, Any]]) -> None:
        results = self.post("ack", {"acks": acks})["results"]
        self.acks.extend(results)

    def note(self, line: str) -> None:
        """Report one event line (to ``echo``)."""
        if self.echo is not None:
            self.echo(line)


def parse_line(line: str) -> tuple[str, str] | None:
    """``"8801822222222: BAL"`` -> ("8801822222222", "BAL"); None for blanks and ``#`` comments."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    sender, sep, text = line.partition(":")
    if not sep or not sender.strip() or not text.strip():
        raise ValueError(f"expected 'FROM: text', got {line!r}")
    return sender.strip(), text.strip()


def inject(phone: DeviceSim, lines: Iterable[str]) -> int:
    """Post each ``FROM: text`` line as a chat the phone saw; returns how many."""
    count = 0
    for line in lines:
        try:
            parsed = parse_line(line)
        except ValueError as exc:
            phone.note(f"! {exc}")
            continue
        if parsed:
            answer = phone.say(*parsed)
            phone.note(f"<- {parsed[0]}: {parsed[1]}  ({answer['accepted']} accepted)")
            count += 1
    return count


def simulate(phone: DeviceSim, *, script: TextIO | None, stdin: TextIO | None, once: bool, wait: float) -> None:
    """The ``device-sim`` command: inject the script, then poll (once, or until Ctrl-C)."""
    if script is not None:
        inject(phone, script)
    if once:
        phone.poll_once(wait)
        return
    stop = threading.Event()
    if stdin is not None:
        threading.Thread(target=inject, args=(phone, stdin), daemon=True).start()
    # Polling runs in a thread too: a main thread blocked in a long poll would
    # run the Ctrl-C handler only when the poll returns (up to ``wait`` s) if
    # the kernel handed the signal to another thread.
    threading.Thread(target=phone.run_forever, args=(stop, wait), daemon=True).start()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        stop.set()
