"""The performance suite: `make bench` (or `python benchmarks/run.py`), on the deployment shape.

Every figure is measured in this run, on this machine, beside its baselines:
`wa-addon serve --workers 2` (gunicorn) + `wa-addon worker --processes N`
+ redis-server with AOF (fsync every second) + the sandbox host under
gunicorn gthread (keep-alive) + an asyncio fake Graph API with a latency.
The load is signed Cloud API webhooks of `BAL` from 500 resellers (10 each);
a reply's round trip is from its webhook's POST to its arrival at the Graph.
One row measures the send path alone: the host's signed `message.send`
hooks (any text to any number), from the hook's POST to the arrival.

Baselines (benchmarks/baselines.py): a Falcon app that calls the host and
the Graph inside the webhook request; one RQ job per message.

``--quick`` runs fewer messages (CI smoke); ``--repeat 3`` prints medians.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shape import APP_SECRET, HOOK_SECRET, Design, Shape, cpu_seconds, reseller_phone, rss_mb

from wa_addon.hooks.signing import HEADER as HOOK_HEADER
from wa_addon.hooks.signing import sign as sign_hook
from wa_addon.httpclient import keepalive_session
from wa_addon.testing import cloud_payloads as cp


class Load:
    """Signed BAL webhooks, ``each`` per reseller, posted by ``threads`` clients at most ``rate``/s."""

    def __init__(self, resellers: int, each: int, threads: int = 32, rate: float | None = None):
        self.resellers, self.each, self.threads, self.rate = resellers, each, threads, rate
        self.posted: dict[str, list[float]] = defaultdict(list)  # sender -> post times, in order
        self.refused = 0

    def bodies(self) -> list[tuple[str, bytes]]:
        out = []
        for _k in range(self.each):
            for r in range(self.resellers):
                sender = reseller_phone(r)
                out.append((sender, cp.dumps(cp.messages_webhook(cp.text(sender, "BAL")))))
        return out

    def url(self, design: Design) -> str:
        return design.webhook

    def headers(self, raw: bytes) -> dict[str, str]:
        return {"X-Hub-Signature-256": cp.sign(APP_SECRET, raw), "Content-Type": "application/json"}

    def run(self, url: str) -> float:
        """Post everything; returns the seconds it took."""
        bodies = self.bodies()
        lock, cursor = threading.Lock(), iter(range(len(bodies)))
        started = time.monotonic()

        def client() -> None:
            # Meta's servers are not on our CPU: the lightest client (requests cost the load ~2x the CPU).
            session = keepalive_session(2)
            while True:
                with lock:
                    i = next(cursor, None)
                    if i is None:
                        return
                    if self.rate:
                        time.sleep(max(0.0, started + i / self.rate - time.monotonic()))
                    sender, raw = bodies[i]
                    self.posted[sender].append(time.time())  # order per sender = post order (under the lock)
                resp = session.request(
                    "POST",
                    url,
                    body=raw,
                    timeout=60,
                    headers=self.headers(raw),
                )
                if resp.status_code != 200:
                    self.refused += 1

        threads = [threading.Thread(target=client) for _ in range(self.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - started

    @property
    def total(self) -> int:
        return self.resellers * self.each


class HookLoad(Load):
    """The host's ``message.send`` events (any text to any number), signed hooks to the add-on:
    the send path without a chat's host call.  Round trips: from the hook's POST to the arrival."""

    def bodies(self) -> list[tuple[str, bytes]]:
        out = []
        for k in range(self.each):
            for r in range(self.resellers):
                to = reseller_phone(r)
                event = {"id": f"evt-{k}-{r}", "type": "message.send", "created_at": "2026-11-30T10:00:00Z"}
                event["data"] = {"phone": to, "text": f"Offer {k}: 1 GB at 19 taka"}
                out.append((to, json.dumps(event).encode()))
        return out

    def url(self, design: Design) -> str:
        return design.webhook.replace("/webhooks/cloud", "/hooks")

    def headers(self, raw: bytes) -> dict[str, str]:
        return {HOOK_HEADER: sign_hook(HOOK_SECRET, raw), "Content-Type": "application/json"}


def arrivals(design: Design, reset: bool = False) -> list[tuple[float, str]]:
    got = requests.get(f"{design.graph}/stats{'?reset=1' if reset else ''}", timeout=30).json()["arrivals"]
    return [(t, to) for t, to in got]


def wait_delivered(design: Design, count: int, timeout: float) -> list[tuple[float, str]]:
    deadline = time.monotonic() + timeout
    while True:
        got = arrivals(design)
        if len(got) >= count or time.monotonic() > deadline:
            return got
        time.sleep(0.25)  # polling another process's counter: there is no event to await


def redis_commands(design: Design) -> int:
    return int(design.shape.conn.info("stats")["total_commands_processed"])


class Monitor:
    """Counts the commands Redis runs while it is on: sent by clients, and run inside Lua scripts.

    MONITOR slows Redis down, so only the rows that count commands use it.
    """

    def __init__(self, design: Design):
        self.conn = design.shape.conn
        self.client = self.lua = 0
        self.by_command: Counter[str] = Counter()  # "client GET", "lua RPUSH", ...: what to cut next
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._listen, daemon=True)

    def _listen(self) -> None:
        with self.conn.monitor() as monitor:
            for entry in monitor.listen():
                command = str(entry.get("command", "")).split(" ", 1)[0].upper()
                if entry.get("client_type") == "lua":
                    self.lua += 1
                    self.by_command[f"lua {command}"] += 1
                elif not command.startswith(("MONITOR", "INFO")):
                    self.client += 1
                    self.by_command[f"client {command}"] += 1
                if self.stop.is_set():
                    return

    def __enter__(self) -> Monitor:
        self.thread.start()
        time.sleep(0.2)  # MONITOR is on before the load starts
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.conn.ping()  # one more line wakes the listener up
        self.thread.join(5)


def measure(design: Design, load: Load, timeout: float = 300, monitor: bool = False) -> dict[str, float]:
    """Post the load, wait for every reply, and read the figures."""
    cmds0 = redis_commands(design)
    cpu0 = cpu_seconds(design.addon_pids())
    shares0, machine0 = cpu_shares(design), machine_busy()
    t0 = time.time()
    counted = Monitor(design) if monitor else None
    if counted:
        counted.__enter__()
    post_s = load.run(load.url(design))
    got = wait_delivered(design, load.total, timeout)
    if counted:
        counted.__exit__()
    cmds = redis_commands(design) - cmds0
    cpu = cpu_seconds(design.addon_pids()) - cpu0
    wall = time.time() - t0
    shares = {k: v - shares0[k] for k, v in cpu_shares(design).items()}
    machine = [b - a for a, b in zip(machine0, machine_busy(), strict=True)]
    times = sorted(t for t, _ in got)
    last = times[-1] if times else t0
    trips = round_trips(load, got)
    chats = max(1, load.total)
    result = {
        "accepted/s": load.total / post_s,
        "delivered/s": len(got) / max(1e-9, last - t0),
        "sustained/s": (len(times) - 1) / max(1e-9, times[-1] - times[0]) if len(times) > 1 else 0.0,
        "delivered": len(got),
        "p50 s": pct(trips, 50),
        "p99 s": pct(trips, 99),
        "redis cmds/chat": cmds / chats,
        "refused": load.refused,
        "max in 1 s": busiest_second(got),
        "cpu ms/chat": 1000 * cpu / chats,
    }
    # What the two cores did meanwhile: each part of this run, and the whole machine (other users too).
    result |= {f"cpu% {k}": 100 * v / wall for k, v in shares.items()}
    result["cpu% machine"] = 100 * machine[0] / max(1, machine[1]) * (os.cpu_count() or 1)
    if counted:
        result |= {"client cmds/chat": counted.client / chats, "in-Lua cmds/chat": counted.lua / chats}
        if VERBOSE:
            print(
                "    per chat: " + ", ".join(f"{k} {v / chats:.2f}" for k, v in counted.by_command.most_common()),
                flush=True,
            )
    return result


def cpu_shares(design: Design) -> dict[str, float]:
    """CPU seconds so far of each part of the run: ours (web + workers), host + Graph, Redis, the load."""
    procs = [p.pid for p in design.procs.procs]
    redis_pid = design.shape.redis.proc.pid if design.shape.redis.proc else None
    return {
        "web": cpu_seconds(procs[2:3]),
        "workers": cpu_seconds(procs[3:]),
        "host+graph": cpu_seconds(procs[:2]),
        "redis": cpu_seconds([redis_pid]) if redis_pid else 0.0,
        "load": sum(os.times()[:2]),
    }  # this process: the 32 posting clients


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def round_trips(load: Load, got: list[tuple[float, str]]) -> list[float]:
    by_to: dict[str, list[float]] = defaultdict(list)
    for t, to in sorted(got):
        by_to[to].append(t)
    return [
        arr - post for to, posts in load.posted.items() for post, arr in zip(posts, by_to.get(to, []), strict=False)
    ]


def busiest_second(got: list[tuple[float, str]]) -> int:
    times = sorted(t for t, _ in got)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


# -- the scenarios ---------------------------------------------------------------


def scenario(
    shape: Shape, name: str, load: Callable[[], Load], monitor: bool = False, **opts: object
) -> dict[str, float]:
    with shape.design(name, **opts) as design:  # type: ignore[arg-type]
        time.sleep(1.0)  # workers register and start their sessions
        return measure(design, load(), monitor=monitor)


VERBOSE = False  # --verbose: the counted rows' commands by name


def run_all(
    shape: Shape, n: int, quick: bool, only: list[str] | None = None
) -> list[tuple[str, str, dict[str, float]]]:
    rows: list[tuple[str, str, dict[str, float]]] = []

    def add(label: str, design: str, load: Callable[[], Load], **opts: object) -> dict[str, float] | None:
        if only and not any(o in f"{label} {design}" for o in only):
            return None
        result = scenario(shape, design, load, **opts)
        rows.append((label, design, result))
        print(f"  {label:<46} {design:<10} " + "  ".join(f"{k}={v:.3g}" for k, v in result.items()), flush=True)
        return result

    per = max(1, n // 500)
    up = {"mps": 1000}  # Meta's upgraded tier: what the engine can do when Meta is not the limit
    slow = {"graph_ms": 250, "jitter_ms": 50}  # Meta from a Bangladeshi VPS
    print("1. Graph on loopback, MPS 1000, 2 worker processes", flush=True)
    for design in ("ours", "inrequest", "perjob"):
        add("loopback, 2 workers", design, lambda: Load(500, per), **up)
    print("2. Graph at 250 ± 50 ms", flush=True)
    add("Graph 250 ms, MPS 1000, 2 workers", "ours", lambda: Load(500, per), **up, **slow)
    add("Graph 250 ms, 2 workers", "inrequest", lambda: Load(100 if quick else 200, 1), **slow)
    add(
        "Graph 250 ms, MPS 1000, 100 chats/s offered",
        "ours",
        lambda: Load(500, max(1, per // 2), rate=100),
        **up,
        **slow,
    )
    add("Graph 250 ms, MPS 1000, 2 workers, host's message.send", "ours", lambda: HookLoad(500, per), **up, **slow)
    add("Graph 250 ms, 1 worker, defaults (MPS 80)", "ours", lambda: Load(500, max(1, per // 2)), workers=1, **slow)
    add("Graph 250 ms, MPS 40", "ours", lambda: Load(500, max(1, per // 5)), mps=40, **slow)
    print("3. host answering in 100 ms, 1 worker process", flush=True)
    add("host 100 ms, 1 worker", "ours", lambda: Load(500, max(1, per // 2)), host_ms=100, workers=1, **up)
    print("4. Redis commands per chat (MONITOR on: slower)", flush=True)
    add("counted, at load", "ours", lambda: Load(500, max(1, per // 2)), monitor=True, **up)
    for design in ("ours", "inrequest", "perjob"):
        add("counted, 10 chats/s", design, lambda: Load(100 if quick else 300, 1, threads=4, rate=10), monitor=True)
    return rows


def soak(shape: Shape, total: int) -> None:
    """RSS of web and worker, and Redis bytes per message, as messages go through."""
    print(f"5. soak: {total} BAL through web and workers", flush=True)
    with shape.design("ours", mps=1000) as design:
        time.sleep(1.0)
        mem0 = shape.conn.info("memory")["used_memory"]
        keys0 = shape.conn.dbsize()
        step = total // 4
        for i in range(4):
            load = Load(500, max(1, step // 500))
            load.run(design.webhook)
            wait_delivered(design, load.total, 300)
            arrivals(design, reset=True)
            web, worker = design.procs.procs[2].pid, design.procs.procs[3].pid
            print(
                f"  after {(i + 1) * load.total:>7} messages: web RSS {rss_mb([web]):.0f} MB, "
                f"worker RSS {rss_mb([worker]):.0f} MB",
                flush=True,
            )
        used = shape.conn.info("memory")["used_memory"] - mem0
        print(
            f"  Redis: {used / total:.0f} bytes and {(shape.conn.dbsize() - keys0) / total:.2f} keys per message "
            "(kept for their TTL: 7 days dedupe marks, 30 days send status)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="fewer messages: a smoke run")
    parser.add_argument("--soak", type=int, default=0, help="also push this many messages and report RSS")
    parser.add_argument("--repeat", type=int, default=1, help="run everything N times and report medians")
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="run only the rows whose 'scenario design' contains TEXT (repeatable)",
    )
    parser.add_argument("--verbose", action="store_true", help="print the counted rows' commands by name")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    n = 1000 if args.quick else args.messages
    # A bench stopped with SIGTERM (timeout, kill) stops its stack too: without this the
    # finally below never ran and gunicorn, the workers, the host and Redis were left running.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with tempfile.TemporaryDirectory(prefix="wa-bench-") as tmp:
        shape = Shape(Path(tmp))
        try:
            runs = [run_all(shape, n, args.quick, args.only) for _ in range(max(1, args.repeat))]
            rows = medians(runs)
            if args.soak:
                soak(shape, args.soak)
        finally:
            shape.close()
    report(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


def medians(runs: list[list[tuple[str, str, dict[str, float]]]]) -> list[tuple[str, str, dict[str, float]]]:
    """Each row's figures as the median of the runs (rows are in the same order in every run)."""
    return [
        (label, design, {k: statistics.median(run[i][2][k] for run in runs) for k in result})
        for i, (label, design, result) in enumerate(runs[0])
    ]


def report(rows: list[tuple[str, str, dict[str, float]]]) -> None:
    print(
        "\n| scenario | design | accepted/s | delivered/s | sustained/s | p50 s | p99 s | max in 1 s "
        "| Redis cmds/chat (all) | client | in Lua | CPU ms/chat (web + workers) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, design, r in rows:
        counted = f"{r['client cmds/chat']:.1f} | {r['in-Lua cmds/chat']:.1f}" if "client cmds/chat" in r else "– | –"
        print(
            f"| {label} | {design} | {r['accepted/s']:.0f} | {r['delivered/s']:.1f} | {r['sustained/s']:.1f} | "
            f"{r['p50 s']:.2f} | {r['p99 s']:.2f} | {r['max in 1 s']:.0f} | {r['redis cmds/chat']:.1f} | {counted} | "
            f"{r['cpu ms/chat']:.1f} |"
        )
    print(
        "\nCPU while each row ran, % of one core (the machine has "
        f"{os.cpu_count()}; 'machine' includes other users of it):\n"
    )
    print("| scenario | design | web | workers | host + Graph | Redis | load generator | machine |")
    print("|---|---|---|---|---|---|---|---|")
    for label, design, r in rows:
        print(
            f"| {label} | {design} | {r['cpu% web']:.0f} | {r['cpu% workers']:.0f} | {r['cpu% host+graph']:.0f} | "
            f"{r['cpu% redis']:.0f} | {r['cpu% load']:.0f} | {r['cpu% machine']:.0f} |"
        )
    by = {(label, d): r for label, d, r in rows}
    for label, ours, base in (("loopback, 2 workers", "ours", "inrequest"), ("loopback, 2 workers", "ours", "perjob")):
        if (label, ours) in by and (label, base) in by:
            ratio = by[(label, ours)]["delivered/s"] / by[(label, base)]["delivered/s"]
            print(f"{label}: ours / {base} = {ratio:.2f}x")
    slow = by.get(("Graph 250 ms, MPS 1000, 2 workers", "ours"))
    slow_base = by.get(("Graph 250 ms, 2 workers", "inrequest"))
    if slow and slow_base:
        print(f"Graph 250 ms: ours / inrequest = {slow['delivered/s'] / slow_base['delivered/s']:.1f}x")


if __name__ == "__main__":
    main()
