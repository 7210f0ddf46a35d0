"""The deployment shape, as real processes: Redis with AOF, the host, the Graph API, web, workers.

``Shape`` owns one private redis-server (append-only, fsync every second),
a seeded sandbox host under gunicorn gthread (keep-alive, optional latency),
and the asyncio fake Graph API; ``design()`` starts a web tier and workers
for one design on a fresh namespace.  Every process is stopped on exit.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
import requests

from wa_addon.redis_server import EmbeddedRedis, free_port
from wa_addon.sandbox import SandboxDB, seed
from wa_addon.sandbox.seed import _reseller as add_reseller
from wa_addon.testing import cloud_payloads as cp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST_KEY = "bench-host-key"
APP_SECRET = "bench-app-secret"
TOKEN = "bench-graph-token"
HOOK_SECRET = "bench-hook-secret"
PHONE_ID = cp.PHONE_NUMBER_ID  # the webhooks are addressed to it; others are ignored
FIRST_PHONE = 8801900000000


def reseller_phone(i: int) -> str:
    return str(FIRST_PHONE + i)


def seed_resellers(path: Path, count: int) -> None:
    """The demo's seed plus ``count`` retailers with phones 8801900000000, ...01, ..."""
    db = SandboxDB(str(path), kdf_cost=4)
    seed(db)
    with db.transaction() as tx:
        for i in range(count):
            row = (
                1000 + i,
                f"bench{i}",
                f"Bench Shop {i}",
                reseller_phone(i),
                2,
                2,
                1000,
                "1111",
                "active",
                "bn" if i % 2 else "en",
                ("FL",),
            )
            add_reseller(tx, row)
    db.close()


def _wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)  # a starting server has no readiness event
    raise RuntimeError(f"{url} did not answer")


class Procs:
    """Child processes, stopped together (SIGTERM, then SIGKILL)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()


def host_argv(port: int, threads: int, keep_alive: int | None = None) -> list[str]:
    """The sandbox host (``host_app.py``) under gunicorn gthread: 2 workers of ``threads`` threads."""
    argv = [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "2", "--threads", str(threads)]
    if keep_alive is not None:
        argv += ["--keep-alive", str(keep_alive)]
    return [*argv, "--bind", f"127.0.0.1:{port}", "--chdir", str(HERE), "host_app:app"]


class Shape:
    """The shared pieces: Redis (AOF), the seeded host database, logs."""

    def __init__(self, workdir: Path, resellers: int = 500):
        self.dir = workdir
        self.redis = EmbeddedRedis(workdir / "redis", persist=True).start()
        self.db = workdir / "host.sqlite3"
        seed_resellers(self.db, resellers)
        self.conn = redis.Redis.from_url(self.redis.url)

    def close(self) -> None:
        self.redis.stop()

    def design(
        self,
        name: str,
        *,
        workers: int = 2,
        graph_ms: float = 0,
        jitter_ms: float = 0,
        host_ms: float = 0,
        mps: float = 80,
        web_workers: int = 2,
        extra: dict[str, str] | None = None,
    ) -> Design:
        return Design(
            self,
            name,
            workers=workers,
            graph_ms=graph_ms,
            jitter_ms=jitter_ms,
            host_ms=host_ms,
            mps=mps,
            web_workers=web_workers,
            extra=extra or {},
        )


class Design:
    """One design's processes on a fresh namespace: start with ``with``."""

    def __init__(self, shape: Shape, name: str, **opts: object):
        self.shape, self.name, self.opts = shape, name, opts
        self.procs = Procs()
        self.ns = f"b{uuid.uuid4().hex[:8]}"
        self.log = shape.dir / f"{name}-{self.ns}.log"
        self.web_port, self.host_port, self.graph_port = free_port(), free_port(), free_port()
        self.webhook = f"http://127.0.0.1:{self.web_port}/wa/webhooks/cloud"
        self.graph = f"http://127.0.0.1:{self.graph_port}"

    def env(self) -> dict[str, str]:
        o = self.opts
        env = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
        env.update(
            WA_REDIS_URL=self.shape.redis.url,
            WA_NAMESPACE=self.ns,
            WA_HOST_URL=f"http://127.0.0.1:{self.host_port}",
            WA_HOST_KEY=HOST_KEY,
            WA_CLOUD_TOKEN=TOKEN,
            WA_CLOUD_PHONE_NUMBER_ID=PHONE_ID,
            WA_CLOUD_APP_SECRET=APP_SECRET,
            WA_CLOUD_VERIFY_TOKEN="v",
            WA_HOOK_SECRET=HOOK_SECRET,
            WA_CLOUD_GRAPH_URL=self.graph,
            WA_CLOUD_MPS=str(o["mps"]),
            WA_ADMIN_NUMBERS="8801711000000",
            WA_STATE_DIR=str(self.shape.dir),
            PYTHONPATH=str(ROOT),
        )
        env.update(o["extra"])  # type: ignore[arg-type]
        return env

    def __enter__(self) -> Design:
        o, env, py = self.opts, self.env(), sys.executable
        self.procs.start(
            [py, str(HERE / "graph_server.py"), str(self.graph_port), str(o["graph_ms"]), str(o["jitter_ms"])],
            env,
            self.log,
        )
        host_env = {
            **env,
            "BENCH_HOST_DB": str(self.shape.db),
            "BENCH_HOST_KEY": HOST_KEY,
            "BENCH_HOST_LATENCY_MS": str(o["host_ms"]),
        }
        self.procs.start(
            host_argv(self.host_port, threads=32, keep_alive=30),
            host_env,
            self.log,
        )
        self._web_and_workers(env)
        _wait_http(f"{self.graph}/stats")
        _wait_http(f"http://127.0.0.1:{self.host_port}/")
        _wait_http(self.webhook)
        return self

    def _web_and_workers(self, env: dict[str, str]) -> None:
        py, workers, bind = sys.executable, int(self.opts["workers"]), f"127.0.0.1:{self.web_port}"  # type: ignore[call-overload]
        web_workers = str(self.opts["web_workers"])
        if self.name == "ours":
            serve = [py, "-m", "wa_addon.cli", "serve", "--workers", web_workers, "--bind", bind]
            self.procs.start(serve, env, self.log)
            self.procs.start([py, "-m", "wa_addon.cli", "worker", "--processes", str(workers)], env, self.log)
            return
        app = {"inrequest": "baselines:inrequest_app()", "perjob": "baselines:perjob_app()"}[self.name]
        self.procs.start(
            [
                py,
                "-m",
                "gunicorn",
                "-w",
                web_workers,
                "--bind",
                bind,
                "--chdir",
                str(HERE),
                "--access-logfile",
                "/dev/null",
                app,
            ],
            env,
            self.log,
        )
        if self.name == "perjob":
            for _ in range(workers):
                self.procs.start(
                    [
                        py,
                        "-m",
                        "rq.cli",
                        "worker",
                        "-w",
                        "rq.worker.SimpleWorker",
                        "--path",
                        str(HERE),
                        "--url",
                        self.shape.redis.url,
                        "-q",
                        "baseline-perjob",
                    ],
                    env,
                    self.log,
                )

    def __exit__(self, *exc: object) -> None:
        self.procs.stop()

    def addon_pids(self) -> list[int]:
        """The design's own processes: web and workers (not the host, the Graph API or Redis)."""
        return [p.pid for p in self.procs.procs[2:]]


def _stat(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()  # fields after the command name


def tree(roots: list[int]) -> set[int]:
    """``roots`` and every process below them."""
    parents: dict[int, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            parents[int(pid)] = int(_stat(int(pid))[1])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    found, grew = set(roots), True
    while grew:
        before = len(found)
        found |= {pid for pid, parent in parents.items() if parent in found}
        grew = len(found) > before
    return found


def cpu_seconds(roots: list[int]) -> float:
    """CPU time (user + system) used so far by ``roots`` and every process below them."""
    total = 0.0
    for pid in tree(roots):
        try:
            fields = _stat(pid)
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total


def rss_mb(roots: list[int]) -> float:
    """Total RSS (MB) of ``roots`` and every process below them."""
    total = 0
    for pid in tree(roots):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1024


def cleanup(workdir: Path) -> None:
    shutil.rmtree(workdir, ignore_errors=True)
