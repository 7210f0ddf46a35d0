"""The deployment shape the faults hit, as real processes, each one breakable on purpose.

``Stack`` runs a private redis-server with AOF (fsync every second), the
seeded sandbox host under gunicorn behind a :class:`FaultyProxy`, the fake
Graph API in this process (it plays Meta's errors and late answers), and
``wa-addon serve`` + ``wa-addon worker --processes 2`` on a fresh namespace.
Its methods are the faults: kill a worker process, stop Redis and start it
again on the same port and AOF, stop the host for a while.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
from rq import Worker

from wa_addon.redis_server import EmbeddedRedis, free_port
from wa_addon.testing.fake_graph import FakeGraph
from wa_addon.testing.faulty_proxy import FaultyProxy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from shape import (  # noqa: E402, F401
    APP_SECRET,
    HOST_KEY,
    PHONE_ID,
    TOKEN,
    Procs,
    _wait_http,
    host_argv,
    reseller_phone,
    seed_resellers,
)

SPACING = 40  # fault i's chats come from resellers bench{40 i}..: up to 40 senders each


def seed_host(db: Path, faults: int) -> None:
    """The sandbox seed plus ``SPACING`` retailers per fault, answered in English (replies are matched by text).

    bench0, bench1, ...: phones 8801900000000, ..., PIN 1111, FL allowed.
    """
    seed_resellers(db, SPACING * faults)
    with sqlite3.connect(db) as conn:
        # In paisa: ৳10,000 each, enough for every top-up of a run.
        conn.execute("UPDATE resellers SET language = 'en', balance = 1000000 WHERE username LIKE 'bench%'")


class Stack:
    """Redis, the host, the Graph and the add-on's processes for one fault (start with ``with``).

    Args:
        workdir: where the Redis data, the host database and the logs live (shared by faults).
        redis_server: the running Redis (kept across faults; restarted in place by :meth:`restart_redis`).
        host_via_proxy: send the host calls through the faulty proxy (False: straight to gunicorn).
    """

    def __init__(
        self,
        workdir: Path,
        redis_server: EmbeddedRedis,
        name: str,
        *,
        host_via_proxy: bool = True,
        extra: dict[str, str] | None = None,
    ):
        self.dir, self.redis, self.name = workdir, redis_server, name
        self.procs, self.host_procs = Procs(), Procs()
        self.ns = f"c{uuid.uuid4().hex[:8]}"
        self.log = workdir / f"{name}.log"
        self.db = workdir / "host.sqlite3"
        self.web_port, self.host_port = free_port(), free_port()
        self.webhook = f"http://127.0.0.1:{self.web_port}/wa/webhooks/cloud"
        self.graph = FakeGraph(token=TOKEN, phone_number_id=PHONE_ID)
        self.proxy = FaultyProxy(f"http://127.0.0.1:{self.host_port}")
        self.host_url = self.proxy.url if host_via_proxy else f"http://127.0.0.1:{self.host_port}"
        self.extra = extra or {}
        self.pool: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
        env.update(
            WA_REDIS_URL=self.redis.url,
            WA_NAMESPACE=self.ns,
            WA_HOST_URL=self.host_url,
            WA_HOST_KEY=HOST_KEY,
            WA_CLOUD_TOKEN=TOKEN,
            WA_CLOUD_PHONE_NUMBER_ID=PHONE_ID,
            WA_CLOUD_APP_SECRET=APP_SECRET,
            WA_CLOUD_GRAPH_URL=self.graph.url,
            WA_CLOUD_VERIFY_TOKEN="v",  # noqa: S106 (the subscription check is not exercised)
            WA_ADMIN_NUMBERS="8801711000000",
            WA_STATE_DIR=str(self.dir),
            PYTHONPATH=str(ROOT),
        )
        env.update(self.extra)
        return env

    def __enter__(self) -> Stack:
        self.graph.start()
        self.proxy.__enter__()
        self.start_host(wait=False)  # the three start together; each is waited for below
        env, py = self.env(), sys.executable
        self.procs.start(
            [py, "-m", "wa_addon.cli", "serve", "--workers", "2", "--bind", f"127.0.0.1:{self.web_port}"], env, self.log
        )
        self.start_workers()
        _wait_http(f"http://127.0.0.1:{self.host_port}/")
        _wait_http(self.webhook)
        return self

    def __exit__(self, *exc: object) -> None:
        self.procs.stop()
        self.host_procs.stop()
        self.proxy.__exit__()
        self.graph.stop()

    # -- the processes, and breaking them ---------------------------------------

    def start_workers(self) -> None:
        """``wa-addon worker --processes 2`` (again, after :meth:`kill_workers`)."""
        self.pool = self.procs.start(
            [sys.executable, "-m", "wa_addon.cli", "worker", "--processes", "2"], self.env(), self.log
        )

    def worker_children(self) -> list[int]:
        """The pids of the pool's worker processes (its children)."""
        assert self.pool is not None
        return children(self.pool.pid)

    def wait_workers(self, timeout: float = 30) -> list[int]:
        """The pids of the processes running a session, once both processes run and one session does.

        One, not two: a pool of two started together often runs one session
        (see tests/test_e2e_faults.py, the xfail on EngineWorker.work).
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = self.session_pids()
            if len(self.worker_children()) >= 2 and busy:
                return busy
            time.sleep(0.1)  # RQ announces a worker nowhere but in its registry
        raise RuntimeError(f"no session started; see {self.log}")

    def session_pids(self) -> list[int]:
        """The worker processes that run a session now."""
        conn = redis.Redis.from_url(self.redis.url)
        return sorted(
            w.pid
            for w in Worker.all(connection=conn)
            if w.get_current_job_id()
            and any(q.name.startswith(self.ns) for q in w.queues)
            and w.pid in self.worker_children()
        )

    def kill_worker(self) -> int:
        """SIGKILL a worker process that runs a session (the pool replaces it); returns its pid."""
        pid = self.session_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill_workers(self) -> None:
        """SIGKILL the whole ``wa-addon worker`` (the pool and its processes), as a machine losing power."""
        assert self.pool is not None
        os.killpg(self.pool.pid, signal.SIGKILL)
        self.pool.wait()

    def stop_redis(self, sig: int) -> None:
        """Stop Redis with ``sig`` (SIGTERM: it writes its AOF first; SIGKILL: it does not)."""
        assert self.redis.proc is not None
        self.redis.proc.send_signal(sig)
        self.redis.proc.wait(10)
        self.redis.proc = None

    def start_redis(self) -> None:
        """Start Redis again on the same port and append-only file."""
        self.redis.start()

    def start_host(self, wait: bool = True) -> None:
        env = {**self.env(), "BENCH_HOST_DB": str(self.db), "BENCH_HOST_KEY": HOST_KEY}
        self.host_procs.start(
            host_argv(self.host_port, threads=16),
            env,
            self.log,
        )
        if wait:
            _wait_http(f"http://127.0.0.1:{self.host_port}/")

    def stop_host(self) -> None:
        """Stop the host: calls to it are refused until :meth:`start_host`."""
        self.host_procs.stop()

    # -- counting ------------------------------------------------------------------

    def sent(self) -> list[tuple[str, str]]:
        """(recipient, text) of every reply that went out, as the Graph accepted them."""
        return [(m.to, m.text) for m in self.graph.sent]

    def queued(self) -> int:
        """Items waiting or held in any lane of this namespace (0: nothing more will be sent)."""
        conn = redis.Redis.from_url(self.redis.url)
        keys = [k for k in conn.scan_iter(match=f"{self.ns}:lane:*", count=1000) if k.endswith((b":q", b":proc"))]
        return sum(conn.llen(k) for k in keys)

    def wait_drained(self, timeout: float) -> bool:
        """Wait until no lane holds anything: every retry has been sent.  False: still busy at ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.queued():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)  # the lanes have no "empty" event to await
        return True

    def dead_letters(self) -> int:
        """Items in this namespace's dead letters (a chat there was never answered: a bug)."""
        conn = redis.Redis.from_url(self.redis.url)
        return sum(conn.llen(k) for k in conn.scan_iter(match=f"{self.ns}:dead:*", count=1000))

    def host_rows(self, numbers: list[str]) -> dict[str, int]:
        """How many host requests each topped-up number got."""
        with sqlite3.connect(self.db) as conn:
            marks = ",".join("?" * len(numbers))
            query = f"SELECT number, COUNT(*) FROM requests WHERE number IN ({marks}) GROUP BY number"  # noqa: S608
            rows = conn.execute(query, numbers).fetchall()
        return {str(n): int(c) for n, c in rows}


def children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (from /proc)."""
    out = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return sorted(out)
