"""``GET {prefix}/metrics``: Prometheus text, computed from Redis at scrape time.

Every figure is read from Redis when Prometheus asks, never counted in a
process's memory, so every web and worker process of a deployment answers
the same.  Behind ``WA_METRICS_TOKEN`` (``Authorization: Bearer``) or the
admin page's own sign-in (token, session or the host's ``admin_auth``).

Outbound messages by transport and status come from the status hashes the
outbox keeps for 30 days; counting them is a keyspace scan, so its result is
kept in Redis for :data:`MESSAGE_COUNT_TTL` seconds and shared by every process.
"""

from __future__ import annotations

import hmac
import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import falcon
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from wa_addon import tally
from wa_addon.admin.auth import AdminAuth, Throttled
from wa_addon.queue.lanes import decode, is_outbox
from wa_addon.runtime import Runtime
from wa_addon.store import DOWN
from wa_addon.store import text as as_text

MESSAGE_COUNT_TTL = 30  # seconds a message count stands: a scan per scrape would grow with the traffic
SCAN_BATCH = 1000


class RedisCollector(Collector):
    """The add-on's gauges, read from Redis on each collect."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        yield self._lanes()
        yield self._oldest()
        yield self._dead()
        yield self._send_errors()
        yield self._host_latency()
        yield self._failed()
        yield self._messages()
        yield from self._device()

    def _lanes(self) -> Metric:
        depth = GaugeMetricFamily("wa_lane_depth", "Items waiting or being processed in a lane", labels=["lane"])
        for name, lane in sorted(self.rt.lanes.items()):
            depth.add_metric([name], lane.depth())
        return depth

    def _oldest(self) -> Metric:
        age = GaugeMetricFamily(
            "wa_lane_oldest_age_seconds",
            "Age of a lane's oldest item (0 when empty; absent when its time is unknown)",
            labels=["lane"],
        )
        now = time.time()
        for name, oldest in sorted(oldest_times(self.rt).items()):
            if oldest is not None:
                age.add_metric([name], max(0.0, now - oldest) if oldest else 0.0)
        return age

    def _send_errors(self) -> Metric:
        errors = CounterMetricFamily(
            "wa_send_errors",
            "Sends that failed or were told to retry, by error code (Meta's error.code on the Cloud API)",
            labels=["transport", "code"],
        )
        for field, count in sorted(self.rt.conn.hgetall(self.rt.keys.metrics_send_errors).items()):
            transport, _, code = as_text(field).partition("|")
            errors.add_metric([transport, code], int(count))
        return errors

    def _host_latency(self) -> Metric:
        buckets, total = tally.host_histogram(self.rt.conn, self.rt.keys)
        histogram = HistogramMetricFamily(
            "wa_host_call_seconds", "Calls to the host's REST API (HttpHost), answered or not", unit=""
        )
        histogram.add_metric([], buckets, total)
        return histogram

    def _dead(self) -> Metric:
        dead = GaugeMetricFamily("wa_dead_letters", "Work items no code could process, per lane", labels=["lane"])
        for name in sorted(self.rt.lanes):
            dead.add_metric([name], self.rt.conn.llen(self.rt.keys.dead(name)))
        return dead

    def _failed(self) -> Metric:
        failed = GaugeMetricFamily(
            "wa_failed_messages", "Messages in the failed list (the admin may retry them)", labels=["transport"]
        )
        for name in sorted(self.rt.transports):
            failed.add_metric([name], self.rt.conn.llen(self.rt.keys.failed(name)))
        return failed

    def _messages(self) -> Metric:
        messages = GaugeMetricFamily(
            "wa_messages",
            "Outbound messages of the last 30 days by transport and status",
            labels=["transport", "status"],
        )
        for (transport, status), count in sorted(message_counts(self.rt).items()):
            messages.add_metric([transport, status], count)
        return messages

    def _device(self) -> Iterator[Metric]:
        device = self.rt.transports.get("device")
        if device is None:
            return
        phones = device.tokens.phones()  # type: ignore[attr-defined]
        online = GaugeMetricFamily("wa_phones", "Registered phones of the device transport", labels=["online"])
        online.add_metric(["yes"], sum(p.online for p in phones))
        online.add_metric(["no"], sum(not p.online for p in phones))
        yield online
        queue = GaugeMetricFamily("wa_device_queue", "Messages waiting for a phone, or leased to one", labels=["state"])
        for state, count in device.queue.counts().items():  # type: ignore[attr-defined]
            queue.add_metric([state], count)
        yield queue


def message_counts(rt: Runtime) -> dict[tuple[str, str], int]:
    """(transport, status) -> outbound messages with that status; cached for every process."""
    cached = rt.conn.get(rt.keys.metrics_messages)
    if cached is not None:
        return {tuple(k.split("|", 1)): v for k, v in json.loads(cached).items()}  # type: ignore[misc]
    counts: Counter[tuple[str, str]] = Counter()
    batch: list[bytes] = []
    for key in rt.conn.scan_iter(match=rt.keys.msg("*"), count=SCAN_BATCH):
        batch.append(key)
        if len(batch) == SCAN_BATCH:
            counts.update(_statuses(rt, batch))
            batch = []
    counts.update(_statuses(rt, batch))
    snapshot = {f"{t}|{s}": n for (t, s), n in counts.items()}
    rt.conn.set(rt.keys.metrics_messages, json.dumps(snapshot), ex=MESSAGE_COUNT_TTL)
    return dict(counts)


def oldest_times(rt: Runtime) -> dict[str, float | None]:
    """Lane -> the Unix time of its oldest item (0.0: empty; None: not known).

    A partition is FIFO, so its oldest item is the first held one, else the
    first queued; a lane's oldest is the oldest of its partitions' heads.  The
    time is the item's own: an outbox message's ``queued_at``, a chat's or a
    status's transport timestamp, an event's ``created_at``.
    """
    heads: list[tuple[str, int]] = [
        (name, part) for name, lane in sorted(rt.lanes.items()) for part in range(lane.parts)
    ]
    pipe = rt.conn.pipeline(transaction=False)
    for name, part in heads:
        pipe.lindex(rt.keys.lane(name, part, "proc"), 0)
        pipe.lindex(rt.keys.lane(name, part, "q"), 0)
    found = pipe.execute()
    oldest: dict[str, float | None] = dict.fromkeys(rt.lanes, 0.0)
    for (name, _), held, queued in zip(heads, found[::2], found[1::2], strict=True):
        head = held if held is not None else queued
        if head is None:
            continue
        at = item_time(name, decode(as_text(head))[1])
        known = oldest[name]
        if at is None:
            oldest[name] = known or None  # unknown, unless another partition's head is known
        else:
            oldest[name] = at if not known else min(known, at)
    return oldest


def item_time(lane: str, payload: str) -> float | None:
    """The time a queued item carries (see :func:`oldest_times`); None when it carries none."""
    try:
        entry = json.loads(payload)
        if is_outbox(lane):
            at = float(entry.get("queued_at") or 0)
        elif "k" in entry:
            at = float(entry["v"].get("timestamp") or 0)
        else:
            when = datetime.fromisoformat(entry["created_at"])
            at = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return at or None


def _statuses(rt: Runtime, keys: list[bytes]) -> list[tuple[str, str]]:
    pipe = rt.conn.pipeline(transaction=False)
    for key in keys:
        pipe.hmget(key, "transport", "status")
    return [(as_text(t), as_text(s)) for t, s in pipe.execute() if t is not None and s is not None]


class Metrics:
    """``GET /metrics``: the Prometheus text exposition format.

    Args:
        rt: the runtime (Redis, lanes, transports).
        auth: the admin page's check, which also lets the admin in.
        token: ``WA_METRICS_TOKEN``, for a scraper that should not be admin.
    """

    def __init__(self, rt: Runtime, auth: AdminAuth, token: str = ""):
        self.auth, self.token = auth, token
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(RedisCollector(rt))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self._allowed(req):
            raise falcon.HTTPUnauthorized(
                title="unauthorized", description="Bearer WA_METRICS_TOKEN or the admin token needed"
            )
        try:
            body = generate_latest(self.registry)
        except DOWN:
            raise falcon.HTTPServiceUnavailable(title="redis_unavailable", description="Redis is down") from None
        resp.content_type, resp.data = CONTENT_TYPE_LATEST, body

    def _allowed(self, req: falcon.Request) -> bool:
        scheme, _, given = (req.get_header("Authorization") or "").partition(" ")
        if self.token and scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), self.token.encode()):
            return True
        try:
            return self.auth.allowed(req)  # a wrong token counts as a wrong admin token: guessing is throttled
        except Throttled:
            raise falcon.HTTPTooManyRequests(title="throttled", description="too many wrong tokens") from None
