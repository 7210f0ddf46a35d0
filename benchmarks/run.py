"""The performance suite: `make bench` (or `python benchmarks/run.py`).

Every figure is measured in this run, beside its baseline, on this machine:

1. delivery: messages pushed to the outbox and sent by 2 worker processes,
   (a) our lanes (one RQ job drains a batch) against (b) the baseline of one
   RQ job per message; both through the same transport, which counts sends.
2. delivery through the Cloud API transport to the fake Graph API over
   loopback HTTP (the figure a deployment sees, the fake server included).
3. webhook intake: a signed Cloud API webhook through the add-on's WSGI app
   (signature, parse, atomic dedupe + queue in Redis) against the baseline of
   the signature check and JSON parse alone.
4. worker processes: lanes drained by 1 against 2 SimpleWorker processes.
5. host events to delivered notifications, end to end: ``balance.added``
   events emitted, queued on the event lane, turned into a Bengali
   notification by the worker, queued on the outbox, sent (counted).

Redis: WA_BENCH_REDIS_URL, else a private redis-server (no persistence).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
from rq import Queue, SimpleWorker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wa_addon import outbox
from wa_addon.messages import Outbound
from wa_addon.redis_server import EmbeddedRedis
from wa_addon.runtime import Runtime, install
from wa_addon.settings import Settings
from wa_addon.transports.base import SENT, SendResult

DONE_KEY = "bench:sent"


class CountingTransport:
    """Sends nothing; counts each send in Redis (both paths pay that round trip)."""

    name = "bench"

    def __init__(self, url: str):
        self.conn = redis.Redis.from_url(url)

    def send(self, message: Outbound) -> SendResult:
        self.conn.incr(DONE_KEY)
        return SendResult(SENT, wa_msg_id=f"wamid.{message.id}")

    def close(self) -> None:
        self.conn.close()


def _runtime(settings: Settings, transport: object | None = None) -> Runtime:
    transports = {"bench": transport or CountingTransport(settings.redis_url)}
    return Runtime(settings, host=None, transports=transports)  # type: ignore[arg-type]


def send_one(raw: str) -> None:
    """The baseline's job: one RQ job per message, same send and status record as the outbox."""
    from wa_addon.runtime import current

    rt = current()
    msg = Outbound.from_json(raw)
    result = rt.transports["bench"].send(msg)
    pipe = rt.conn.pipeline(transaction=False)
    outbox._record(rt, pipe, "bench", msg, result)
    pipe.execute()


def _worker(settings_env: dict[str, str], transport: str, graph_url: str | None) -> None:
    settings = Settings.from_env(settings_env)
    if transport == "cloud":
        from wa_addon.transports.cloud import CloudTransport

        rt = _runtime(settings.with_(cloud_graph_url=graph_url or ""), None)
        cloud = CloudTransport(rt.settings)
        cloud.name = "bench"  # type: ignore[misc]
        rt.transports["bench"] = cloud
    else:
        rt = _runtime(settings)
    install(rt)
    queues = [rt.queues["in"], rt.queues["out"], Queue(f"{settings.namespace}-baseline", connection=rt.conn)]
    from wa_addon.worker import _housekeeper  # noqa: F401  (same process shape as `wa-addon worker`)

    SimpleWorker(queues, connection=rt.conn).work(burst=False, logging_level="ERROR")


def _messages(n: int) -> list[Outbound]:
    run = uuid.uuid4().hex[:8]
    return [Outbound(id=f"{run}{i}", to=f"88017{i % 500:08d}", text=f"Karim Store: balance ৳{i}.00") for i in range(n)]


def _wait_count(conn: redis.Redis, key: str, n: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while int(conn.get(key) or 0) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{key}: {conn.get(key)} of {n}")
        time.sleep(0.005)


def _start_workers(settings: Settings, count: int, transport: str = "count", graph_url: str | None = None):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(settings.to_env(), transport, graph_url), daemon=True)
             for _ in range(count)]
    for proc in procs:
        proc.start()
    time.sleep(1.5)  # let them import and register before the clock starts
    return procs


def _stop(procs) -> None:  # type: ignore[no-untyped-def]
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(10)


def bench_lanes(settings: Settings, n: int, counter: str = DONE_KEY) -> float:
    rt = _runtime(settings)
    msgs = _messages(n)
    rt.conn.delete(counter)
    start = time.perf_counter()
    for i in range(0, n, 500):
        outbox.push(rt, msgs[i : i + 500], "bench")
    _wait_count(rt.conn, counter, n)
    return n / (time.perf_counter() - start)


def bench_events(settings: Settings, n: int) -> float:
    """``balance.added`` events emitted in-process until every notification is sent."""
    from wa_addon.hooks.intake import EventIntake

    rt = _runtime(settings)
    intake = EventIntake(rt)
    run = uuid.uuid4().hex[:8]
    rt.conn.delete(DONE_KEY)
    start = time.perf_counter()
    for i in range(n):
        phone = f"88017{i % 500:08d}"
        intake.emit("balance.added", {"reseller_id": i % 500 + 10, "amount": "100.00", "balance": f"{i}.00",
                                      "payment_id": f"{run}{i}", "by": {"name": "Rahim Telecom"},
                                      "reseller": {"phone": phone, "language": "bn", "name": "Karim Store"}})
    _wait_count(rt.conn, DONE_KEY, n)
    return n / (time.perf_counter() - start)


def bench_baseline(settings: Settings, n: int) -> float:
    rt = _runtime(settings)
    queue = Queue(f"{settings.namespace}-baseline", connection=rt.conn)
    msgs = _messages(n)
    rt.conn.delete(DONE_KEY)
    start = time.perf_counter()
    for i in range(0, n, 500):
        queue.enqueue_many([Queue.prepare_data(send_one, (m.to_json(),), result_ttl=60) for m in msgs[i : i + 500]])
    _wait_count(rt.conn, DONE_KEY, n)
    return n / (time.perf_counter() - start)


class _VerifyOnly:
    """The baseline webhook resource: the signature check and JSON parse, nothing stored."""

    def on_post(self, req, resp):  # type: ignore[no-untyped-def]
        from wa_addon.transports.cloud import verify_signature

        raw = req.bounded_stream.read()
        if verify_signature("bench-secret", raw, req.get_header("X-Hub-Signature-256")):
            json.loads(raw)
        resp.media = {"ok": True}


def bench_intake(settings: Settings, n: int) -> tuple[float, float]:
    """Signed webhooks/s through the add-on's WSGI app vs a Falcon app that only verifies and parses."""
    import falcon

    from wa_addon.app import Addon
    from wa_addon.testing import cloud_payloads as cp

    # A namespace no worker serves: this figure is the intake alone.
    settings = settings.with_(cloud_app_secret="bench-secret", namespace=settings.namespace + "i")
    addon = Addon(settings, host=None, runtime=_runtime(settings))  # type: ignore[arg-type]
    baseline_app = falcon.App()
    baseline_app.add_route("/webhooks/cloud", _VerifyOnly())
    bodies = [cp.dumps(cp.messages_webhook(cp.text(f"88017{i:08d}", "BAL"))) for i in range(n)]
    signed = [(b, cp.sign("bench-secret", b)) for b in bodies]
    return _post_all(addon.app, signed), _post_all(baseline_app, signed)


def _post_all(app, signed: list[tuple[bytes, str]]) -> float:  # type: ignore[no-untyped-def]
    import io

    start = time.perf_counter()
    for body, sig in signed:
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/webhooks/cloud", "CONTENT_LENGTH": str(len(body)),
                   "CONTENT_TYPE": "application/json", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
                   "HTTP_X_HUB_SIGNATURE_256": sig, "SERVER_NAME": "bench", "SERVER_PORT": "80",
                   "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1"}
        app(environ, lambda status, headers: None)
    return len(signed) / (time.perf_counter() - start)


def median(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    return statistics.median(fn() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(tmp, persist=False) as server:
        settings = Settings(redis_url=server.url, namespace=f"bench{uuid.uuid4().hex[:6]}", transports=())
        report(settings, args.messages, args.runs)


def report(settings: Settings, n: int, runs: int) -> None:
    print(f"wa_addon benchmarks: {n} messages, median of {runs} runs, {multiprocessing.cpu_count()} cores\n")
    procs = _start_workers(settings, 2)
    try:
        lanes = median(lambda: bench_lanes(settings, n), runs)
        base = median(lambda: bench_baseline(settings, max(n // 2, 500)), runs)
    finally:
        _stop(procs)
    print(f"1. delivery, 2 workers      lanes {lanes:8.0f} msg/s | one RQ job per message {base:6.0f} msg/s"
          f" | x{lanes / base:.1f}")
    _cloud(settings, n, runs)
    ours, baseline = bench_intake(settings, min(n, 3000))
    print(f"3. webhook intake, 1 proc   add-on {ours:7.0f} /s | Falcon verify + parse only {baseline:6.0f} /s"
          f" | {ours / baseline:.2f} of the baseline (the rest: one Lua dedupe + queue call)")
    one = _lanes_with(settings, 1, n, runs)
    two = _lanes_with(settings, 2, n, runs)
    print(f"4. worker processes         1: {one:8.0f} msg/s | 2: {two:8.0f} msg/s | x{two / one:.2f}")
    procs = _start_workers(settings, 2)
    try:
        events = median(lambda: bench_events(settings, n), runs)
    finally:
        _stop(procs)
    print(f"5. host events, end to end  {events:8.0f} notifications/s delivered (emit -> event lane -> template"
          " -> outbox -> send), 2 workers")


def _lanes_with(settings: Settings, workers: int, n: int, runs: int) -> float:
    procs = _start_workers(settings, workers)
    try:
        return median(lambda: bench_lanes(settings, n), runs)
    finally:
        _stop(procs)


def _cloud(settings: Settings, n: int, runs: int) -> None:
    from wa_addon.testing.fake_graph import FakeGraph

    with FakeGraph() as graph:
        settings = settings.with_(cloud_token="bench", cloud_phone_number_id="1")
        procs = _start_workers(settings, 2, "cloud", graph.url)
        try:
            rate = median(lambda: _cloud_once(settings, graph, min(n, 2000)), runs)
        finally:
            _stop(procs)
    print(f"2. delivery via Cloud API   lanes {rate:8.0f} msg/s to the fake Graph API over loopback HTTP")


def _cloud_once(settings: Settings, graph, n: int) -> float:  # type: ignore[no-untyped-def]
    rt = _runtime(settings)
    graph.reset()
    msgs = _messages(n)
    start = time.perf_counter()
    for i in range(0, n, 500):
        outbox.push(rt, msgs[i : i + 500], "bench")
    graph.wait_for(n, timeout=300)
    return n / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
